"""The registration (商机报备) and its parts, as partners and reps send it and as the API returns it."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from schemas.common import Actor, CountryCode, Day, LongText, Money, Ref, RegistryId, ShortText, Strict


class RegistrationStatus(StrEnum):
    """Every status a registration can have. Allowed moves live in ``chalicelib.domain.workflow``."""

    SUBMITTED = "submitted"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    WON = "won"
    LOST = "lost"
    EXPIRED = "expired"
    RECLAIMED = "reclaimed"


class Source(StrEnum):
    PARTNER = "partner"
    REP = "rep"
    TENDER = "tender"


class ContactRole(StrEnum):
    """A contact's place in the customer's decision chain."""

    DECISION_MAKER = "decision_maker"
    ECONOMIC_BUYER = "economic_buyer"
    TECHNICAL_EVALUATOR = "technical_evaluator"
    INFLUENCER = "influencer"
    CHAMPION = "champion"
    USER = "user"
    GATEKEEPER = "gatekeeper"
    OTHER = "other"


class SalesStage(StrEnum):
    LEAD = "lead"
    QUALIFICATION = "qualification"
    NEEDS_ANALYSIS = "needs_analysis"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"  # set when the deal is closed as won (POST .../won)
    CLOSED_LOST = "closed_lost"  # set when the deal is closed as lost (POST .../lost)


Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()\-]{5,24}$")]
Domain = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=253,
        pattern=r"^(https?://)?([a-z0-9\u00a1-\uffff-]+\.)+[a-z\u00a1-\uffff]{2,}(/.*)?$",
    ),
]



def _no_items() -> list:
    """An empty list, as ``default_factory``. A Python function, not ``list``: pydantic reads a factory's signature,
    and a builtin's comes from its text signature through ``tokenize`` (its regex compiled on first use): ~14 M
    instructions, ~3 ms, of a cold API container's first webhook (issue 15 item 1)."""
    return []

class Customer(Strict):
    """The company the opportunity is with."""

    name: ShortText
    registry_ids: list[RegistryId] = Field(default_factory=_no_items, max_length=5)
    website: Domain | None = None
    country: CountryCode | None = None
    region: ShortText | None = Field(default=None, description="Province/state/city, e.g. 广东省深圳市")
    industry: ShortText | None = None
    address: LongText | None = None


class Contact(Strict):
    name: ShortText
    role: ContactRole
    title: ShortText | None = None
    email: Email | None = None
    phone: Phone | None = None


class Project(Strict):
    title: ShortText
    background: LongText | None = None
    products: list[ShortText] = Field(default_factory=_no_items, max_length=50)
    expected_amount: Money
    expected_close_date: Day


class Competitor(Strict):
    name: ShortText
    notes: LongText | None = None


class RegistrationCreate(Strict):
    """What a partner (webhook ``data``) or a rep (``POST /v1/registrations``) submits."""

    customer: Customer
    contacts: list[Contact] = Field(min_length=1, max_length=50)
    project: Project
    competitors: list[Competitor] = Field(default_factory=_no_items, max_length=20)
    sales_stage: SalesStage = SalesStage.QUALIFICATION
    external_ref: Ref | None = (
        Field(default=None, description="The submitter's own id for this opportunity; unique per submitter.")
    )

    @field_validator("contacts")
    @classmethod
    def _contacts_distinct(cls, contacts: list[Contact]) -> list[Contact]:
        seen = set()
        for contact in contacts:
            key = (contact.name, contact.email, contact.phone)
            if key in seen:
                raise ValueError("duplicate contact")
            seen.add(key)
        return contacts


class AuditEntry(Strict):
    """One line of the append-only audit trail."""

    seq: int
    at: datetime
    actor: Actor
    action: str
    from_status: RegistrationStatus | None = None
    to_status: RegistrationStatus | None = None
    reason: str | None = None
    evidence: str | None = Field(default=None, description="Staff only: what an automatic check found about "
                                 "other parties (e.g. who holds the customer); never shown to partners")
    shared: bool | None = Field(default=None, description="True when staff marked the reason for the partner to "
                                "read (share_reason); a partner sees staff reasons only then")
    stage: str | None = Field(default=None, description="On a close (won/lost) line: the sales stage the deal "
                              "was in when it closed (the close then sets closed_won/closed_lost)")
    level: int | None = Field(default=None, ge=1, description="On an ``escalated`` line: the approver level the "
                              "review was referred to")


# Issue 19's score as list answers carry it (``Registration.score``). Here rather than in ``schemas.scoring``: a
# registration's models load without the scoring rules' (issue 15 item 1: 12 more model classes per cold start).
class ScoreSummary(Strict):
    """A registration's scores as lists show them (staff only): no behaviour points (those need its follow-ups)."""

    score: int = Field(ge=0, le=100, description="the score that orders work: model win probability × 100 when a "
                                                 "model is published, else the attribute score")
    basis: Literal["model", "attribute"]
    attribute: int = Field(ge=0, le=100, description="属性评分")
    model_probability: float | None = Field(None, ge=0, le=1, description="智能评分: calibrated win probability; "
                                                                          "null until a model is published")
    model_version: str | None = None


class Registration(RegistrationCreate):
    """A stored registration as the read API returns it."""

    id: str
    status: RegistrationStatus
    source: Source
    submitter: Actor
    partner_id: str | None = None
    owner: Actor | None = Field(default=None, description="The holder ({kind: user|partner, id}); absent while "
                                "nobody holds it")
    team_id: str | None = None
    customer_key: str
    created_at: datetime
    updated_at: datetime
    version: int
    audit: list[AuditEntry]
    won_amount: Money | None = Field(default=None, description="The contracted amount, once closed as won")
    review_flag: str | None = Field(default=None, description="A registry says the customer is dissolved, revoked "
                                    "(注销/吊销), or its LEI lapsed/retired: review before following it")
    first_claim: bool | None = Field(
        default=None,
        description="True when this registration was the first to claim its customer's exact keys (registry "
                    "id, normalised name, website domain); False when another registration had claimed one "
                    "before it (a possible duplicate: see GET /v1/registrations/{id}/verdict); null for "
                    "registrations stored before the check existed.",
    )
    score: ScoreSummary | None = Field(
        default=None, description="Issue 19, in list answers (GET /v1/registrations, GET /v1/pool) for staff: the "
                                  "attribute score and the model's win probability; null elsewhere and for partners")

    @property
    def owner_id(self) -> str | None:
        """The holder's id (for code; JSON has ``owner``)."""
        return self.owner.id if self.owner else None

    @property
    def owner_kind(self) -> str | None:
        return self.owner.kind.value if self.owner else None

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Registration:
        # owner_id/owner_kind are read-only views of ``owner``: an update naming them would be silently lost
        if update and {"owner_id", "owner_kind"} & set(update):
            raise TypeError("set owner (an Actor), not owner_id/owner_kind")
        return super().model_copy(update=update, deep=deep)


class RegistrationAccepted(Strict):
    """The 202 answer to an intake call. Replays of the same webhook id get the same answer."""

    id: str
    status: RegistrationStatus


class RegistrationPage(Strict):
    items: list[Registration]
    next_cursor: str | None = None
    truncated: bool | None = Field(default=None, description="sort=score only: true when the listing held more than "
                                   "the bounded read (500 newest) and only those were ranked")


class ErrorDetail(Strict):
    loc: str = Field(description="Dotted path of the offending field, e.g. body.data.customer.name")
    type: str = Field(description="Machine-readable error type (pydantic's), e.g. missing, string_too_short")
    reason: str | None = Field(default=None, description="Why an identifier failed: length, character, "
                               "format, check_digit, org_code_check")


class ErrorResponse(Strict):
    code: str
    message: str
    errors: list[ErrorDetail] = Field(default_factory=_no_items)


# The paging and scoring parameters every registration list shares (``/v1/registrations``, ``/v1/pool``).
PageCursor = Annotated[str | None, Field(max_length=1024,
                                         description="next_cursor of the previous page, as it was returned")]
PageLimit = Annotated[int, Field(ge=1, le=100)]
ListSort = Annotated[Literal["newest", "score"], Field(description="Staff: score ranks the newest 500, highest "
                                                                   "score first, and answers one page (no cursor)")]
MinScore = Annotated[int | None, Field(ge=0, le=100, description="Staff: only items scoring at least this")]


class RegistrationListQuery(BaseModel):
    """``GET /v1/registrations`` query parameters (the caller's role picks the index: domain/access.py)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    status: RegistrationStatus | None = None
    owner: str | None = Field(default=None, max_length=256, description="Only this owner's (a user id)")
    team: str | None = Field(default=None, max_length=256, description="Only this team's (managers, admins)")
    cursor: PageCursor = None
    limit: PageLimit = 25
    sort: ListSort = "newest"
    min_score: MinScore = None


class PoolQuery(BaseModel):
    """``GET /v1/pool`` query parameters: filters on the pooled registration's customer and project, newest
    first (a rep sees its team's pool; staff may narrow by ``team``)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    region: str | None = Field(default=None, max_length=64,
                               description="A prefix of the customer's region (广东 matches 广东省深圳市) "
                                           "or its country code")
    industry: str | None = Field(default=None, max_length=100, description="Customer industry (any case)")
    min_amount: Decimal | None = Field(default=None, description="Expected amount at least this (inclusive)")
    max_amount: Decimal | None = Field(default=None, description="Expected amount at most this (inclusive)")
    currency: str | None = Field(default=None, max_length=8, description="With an amount range: the range's "
                                 "currency (an amount in another currency never matches)")
    since: datetime | None = Field(default=None, description="In the pool since then (its last change); ISO "
                                   "8601, UTC when it has no zone")
    team: str | None = Field(default=None, max_length=256, description="Only this team's pool (managers, admins)")
    cursor: PageCursor = None
    limit: PageLimit = 25
    sort: ListSort = "newest"
    min_score: MinScore = None

