"""The normalised tender (bid notice) that every feed connector produces, whatever the source format.

RSS/Atom items, OCDS releases, TED notices (old TED_EXPORT and eForms) and scraped HTML pages all map to
one ``Tender``. Fields a source does not publish stay ``None`` / empty; nothing is invented.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.common import Money, Number
from schemas.registration import Contact, Customer, SalesStage

TITLE_MAX = 1000
TEXT_MAX = 20_000

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class TenderStatus(StrEnum):
    """Where the procedure stands, as far as this notice tells.

    In OCDS terms: ``planning`` = planned, ``tender`` = open, ``closed`` = closed (bidding over, or the
    process completed or failed without an award this notice names), ``award`` = awarded (an award or
    contract exists), ``cancellation`` = cancelled. ``amendment`` is a correction (更正) of an earlier
    notice. Only ``planning`` and ``tender`` notices are opportunities that raise alerts.
    """

    PLANNING = "planning"  # prior information / planning notice
    TENDER = "tender"  # open for bids
    AMENDMENT = "amendment"  # a change (correction, 更正) to an earlier notice
    CLOSED = "closed"  # no longer open, not (yet) awarded: bidding closed, unsuccessful, complete
    CANCELLATION = "cancellation"  # the procedure was cancelled or the notice withdrawn
    AWARD = "award"  # contract awarded (中标/成交结果)


ALERTABLE_STATUSES = frozenset({TenderStatus.PLANNING, TenderStatus.TENDER})
"""Statuses of a notice that announces an opportunity; every other status never raises an alert."""


class DeadlineKind(StrEnum):
    """What the ``deadline`` is the end of."""

    TENDER = "tender"  # submission of tenders (投标截止)
    PARTICIPATION = "participation"  # requests to participate (restricted / negotiated procedures)
    OPENING = "opening"  # the bid opening (开标时间), given when no submission deadline is stated


class Buyer(BaseModel):
    """The contracting authority: its name as published, and its id when the source gives one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    id: str | None = None
    scheme: str | None = Field(default=None, description="Id scheme when known, e.g. 'GB-COH', 'tw-ubn'")


class Tender(BaseModel):
    """One tender notice, normalised.

    ``source`` + ``source_id`` identify the notice at its publisher; ``refs`` are procedure-level ids
    (OCDS ``ocid``, TED notice number, eForms procedure id, a URL) that let the same procedure published
    by several sources be linked. ``text`` is HTML that has been through ``connectors.formats.sanitize``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    source_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX)]
    status: TenderStatus = TenderStatus.TENDER
    buyer: Buyer | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        default=None, description="NUTS code or region name as published (e.g. 'UKK43', '南投縣')"
    )
    categories: list[Code] = Field(
        default_factory=list, description="'<scheme>:<code>' in lower-case scheme, e.g. 'cpv:72230000', 'cpc:32'"
    )
    value: Annotated[Number, Field(ge=0, max_digits=24)] | None = Field(
        default=None, description="As published; a JSON number (exact up to 15 significant digits)")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    published: datetime | None = None
    deadline: datetime | None = None
    deadline_kind: DeadlineKind | None = None
    procedure: Annotated[str, StringConstraints(max_length=200)] | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    text: Annotated[str, StringConstraints(max_length=TEXT_MAX)] = ""
    language: Annotated[str, StringConstraints(max_length=16)] | None = None
    refs: list[Annotated[str, StringConstraints(min_length=1, max_length=500)]] = Field(default_factory=list)
    project_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        default=None, description="The buyer's file / project number (项目编号, expediente)")
    agent: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = Field(
        default=None, description="The procurement agency running the procedure for the buyer (采购代理机构)")


# -- subscriptions (标讯订阅) ------------------------------------------------------------------------------

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Criterion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class DeliveryMode(StrEnum):
    """How a rep wants matches: one alert per tender as it arrives, or one digest a day."""

    IMMEDIATE = "immediate"
    DAILY_DIGEST = "daily_digest"


class KeywordRules(BaseModel):
    """Keywords, case-insensitive. Chinese (any CJK) keywords match as substrings, without word
    segmentation; others match whole words or phrases (``"cloud"`` does not match ``"cloudy"``)."""

    model_config = ConfigDict(extra="forbid")

    include: list[Keyword] = Field(default_factory=list, max_length=50)
    exclude: list[Keyword] = Field(default_factory=list, max_length=50)


def _given(name: str, nested: str | None = None) -> dict:
    """JSON Schema: ``name`` (or ``name.nested``) is present and a non-empty list."""
    inner = {"type": "array", "minItems": 1}
    if nested:
        inner = {"type": "object", "required": [nested], "properties": {nested: inner}}
    return {"required": [name], "properties": {name: inner}}


def _needs_currency(name: str) -> dict:
    return {"if": {"required": [name], "properties": {name: {"not": {"type": "null"}}}},
            "then": {"required": ["currency"], "properties": {"currency": {"type": "string"}}}}


class SubscriptionCreate(BaseModel):
    """What a rep subscribes to. Every criterion given must hold; within one criterion any value may.

    At least one of ``keywords.include``, ``buyers``, ``regions`` or ``categories`` is required, so a
    subscription never means "everything"; a value range needs a currency. Both rules are in the JSON Schema
    too (``anyOf``, ``if``/``then``), so the published contract and the server agree.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={
        "anyOf": [_given("keywords", "include"), _given("buyers"), _given("regions"), _given("categories")],
        "allOf": [_needs_currency("value_min"), _needs_currency("value_max")],
    })

    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    keywords: KeywordRules = Field(default_factory=KeywordRules)
    buyers: list[Criterion] = Field(default_factory=list, max_length=50,
                                    description="Buyer names, matched fuzzily on normalised names")
    regions: list[Criterion] = Field(default_factory=list, max_length=50,
                                     description="Country codes, NUTS prefixes or region names ('GB', 'UKK', '广东')")
    categories: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=50,
        description="Code prefixes, with or without scheme: 'cpv:72', '722', 'unspsc:4321'")
    value_min: Annotated[Number, Field(ge=0, max_digits=15)] | None = None
    value_max: Annotated[Number, Field(ge=0, max_digits=15)] | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    delivery: DeliveryMode = DeliveryMode.IMMEDIATE

    @model_validator(mode="after")
    def _meaningful(self) -> SubscriptionCreate:
        if not (self.keywords.include or self.buyers or self.regions or self.categories):
            raise ValueError("give at least one of keywords.include, buyers, regions, categories")
        if (self.value_min is not None or self.value_max is not None) and self.currency is None:
            raise ValueError("a value range needs a currency")
        if self.value_min is not None and self.value_max is not None and self.value_min > self.value_max:
            raise ValueError("value_min is above value_max")
        return self


class Subscription(SubscriptionCreate):
    """A stored subscription."""

    id: str
    rep_id: str
    created_at: datetime


class SubscriptionPage(BaseModel):
    """The caller's subscriptions."""

    model_config = ConfigDict(extra="forbid")

    items: list[Subscription]


class TenderRecord(BaseModel):
    """A stored tender: its id, the sources it was seen in and the merged notice."""

    model_config = ConfigDict(extra="forbid")

    id: str
    cancelled: bool
    sources: list[str]
    first_seen: datetime
    tender: Tender


class TenderPage(BaseModel):
    """Recent tenders, newest first."""

    model_config = ConfigDict(extra="forbid")

    items: list[TenderRecord]


class TenderRegistrationRequest(BaseModel):
    """What a rep adds when turning a tender into a registration (``POST /v1/tenders/{id}/register``).

    The customer (the buyer, with its id when the tender gives one), the project title, amount and close
    date (the tender's value and deadline) and a reference back to the tender come from the tender. A
    registration needs at least one customer contact, which no feed publishes, so the rep gives it here;
    ``expected_amount`` and ``expected_close_date`` fill in (or correct) what the tender does not state;
    ``customer`` names the customer when the notice names no buyer (RSS items often do not) and is
    ignored when it does (the notice's buyer is the customer).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer: Customer | None = None
    contacts: list[Contact] = Field(default_factory=list, max_length=50)
    expected_amount: Money | None = None
    expected_close_date: date | None = None
    products: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50)
    sales_stage: SalesStage | None = None


class TenderQuery(BaseModel):
    """``GET /v1/tenders`` query parameters (issue 17: documented in the OpenAPI from this model)."""

    model_config = ConfigDict(extra="ignore")

    days: int = Field(default=7, ge=1, le=31, description="Tenders first seen in the last N days")
    status: str | None = Field(default=None, max_length=40, description="Only this tender status (e.g. tender)")
    source: str | None = Field(default=None, max_length=100, description="Only tenders from this source name")
    q: str | None = Field(default=None, max_length=200, description="A word or phrase (CJK: a substring)")
    limit: int = Field(default=50, ge=1, le=200)

