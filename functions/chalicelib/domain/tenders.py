"""Pure rules for stored tenders: ids, linking keys, merging a new sighting, polling schedule, source config.

- A tender's id is derived from its first procedure-level ref (``ocds:<ocid>``, ``eforms-procedure:…``,
  ``ted:…``), else from ``src:<source>:<source_id>``: deterministic, so concurrent pollers agree.
- ``merge`` decides what a new sighting of a known tender changes: a cancellation marks it cancelled
  (and nothing un-cancels it), a newer notice (amendment, award) updates the fields it states, an older
  or identical one only fills gaps; refs and categories accumulate.
- ``next_due`` backs off exponentially after failures so a broken source is polled less, never stuck.
- ``registration_from_tender`` pre-fills a registration from a tender (buyer, title, value, deadline, a
  reference back) with what the rep adds; its ``external_ref`` makes it one per (rep, tender).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.backoff import backoff_seconds

MAX_BACKOFF = timedelta(hours=24)


class Change(StrEnum):
    NEW = "new"
    AMENDED = "amended"
    CANCELLED = "cancelled"
    LINKED = "linked"  # another source's sighting filled gaps
    UNCHANGED = "unchanged"


def source_ref(tender: Any) -> str:
    return f"src:{tender.source}:{tender.source_id}"


def link_keys(tender: Any) -> list[str]:
    """Every key under which this sighting may already be known: its own, then its procedure refs."""
    return list(dict.fromkeys([source_ref(tender), *tender.refs]))


def tender_id_for(tender: Any) -> str:
    """A new tender's id, from its first procedure ref (else its source ref)."""
    basis = tender.refs[0] if tender.refs else source_ref(tender)
    return "tnd_" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:24]


def merge(current: Any | None, incoming: Any) -> tuple[Any, Change]:
    """Combine the stored tender with a new sighting (both ``schemas.tender.Tender``)."""
    from schemas.tender import TenderStatus

    if current is None:
        return incoming, Change.NEW
    refs = list(dict.fromkeys([*current.refs, *incoming.refs]))
    categories = sorted(set(current.categories) | set(incoming.categories))
    if current.status == TenderStatus.CANCELLATION:
        updated = current.model_copy(update={"refs": refs})
        return updated, (Change.UNCHANGED if updated == current else Change.LINKED)
    if incoming.status == TenderStatus.CANCELLATION:
        return current.model_copy(update={"status": TenderStatus.CANCELLATION, "refs": refs}), Change.CANCELLED
    newer = incoming.published is None or current.published is None or incoming.published >= current.published
    if newer:
        # Fields the newer notice states replace ours; fields it leaves out keep what we knew.
        stated = {k: v for k, v in _fields(incoming).items() if k not in ("source", "source_id")}
        updated = current.model_copy(update={**stated, "refs": refs, "categories": categories})
        if _same(updated, current):
            return current, Change.UNCHANGED
        changed_status = incoming.status in (TenderStatus.AMENDMENT, TenderStatus.AWARD) or \
            updated.deadline != current.deadline or updated.value != current.value
        return updated, (Change.AMENDED if changed_status else Change.LINKED)
    gaps = {k: v for k, v in _fields(incoming).items() if getattr(current, k) in (None, "", [])}
    updated = current.model_copy(update={**gaps, "refs": refs, "categories": categories})
    return (current, Change.UNCHANGED) if _same(updated, current) else (updated, Change.LINKED)


def _fields(tender: Any) -> dict[str, Any]:
    """The fields a tender states (model objects kept as objects, unlike model_dump)."""
    return {k: getattr(tender, k) for k in type(tender).model_fields if getattr(tender, k) not in (None, "", [])}


def _same(a: Any, b: Any) -> bool:
    return a.model_dump(mode="json") == b.model_dump(mode="json")


def next_due(now: datetime, every_minutes: int, failures: int, retry_after: float | None = None) -> datetime:
    """When to poll a source next: its period, doubled per consecutive failure (at most ten doublings and at
    most a day, unless the period itself is longer); a ``Retry-After`` is honoured up to a day."""
    base = every_minutes * 60.0
    cap = max(MAX_BACKOFF.total_seconds(), base)
    # n = failures + 1: the first failure already doubles the period (the period itself is wait number 1)
    delay = backoff_seconds(min(failures, 10) + 1, base=base, cap=cap,
                            retry_after=min(retry_after, MAX_BACKOFF.total_seconds()) if retry_after else None)
    return now + timedelta(seconds=delay)


class TenderSource(BaseModel):
    """One configured source: which connector, how often, with what config (selectors included)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")
    connector: str
    every_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    enabled: bool = True
    config: dict[str, Any]

    @field_validator("connector")
    @classmethod
    def _tender_connector(cls, value: str) -> str:
        if not value.startswith("tender_"):
            raise ValueError("not a tender connector")
        return value


def load_sources(text: str) -> tuple[list[TenderSource], list[dict[str, str]]]:
    """Parse the sources document (a JSON list). Returns the valid sources and the problems found.

    A broken entry is reported (``{"index", "type"}``) and skipped; the others still run.
    """
    from pydantic import ValidationError

    try:
        raw = json.loads(text or "[]")
    except ValueError:
        return [], [{"index": "-", "type": "json_invalid"}]
    if not isinstance(raw, list):
        return [], [{"index": "-", "type": "list_type"}]
    sources, problems, names = [], [], set()
    for i, entry in enumerate(raw):
        try:
            src = TenderSource.model_validate(entry)
        except ValidationError as exc:
            problems.append({"index": str(i), "type": exc.errors()[0]["type"]})
            continue
        if src.name in names:
            problems.append({"index": str(i), "type": "duplicate_name"})
            continue
        names.add(src.name)
        sources.append(src)
    return sources, problems


# -- tender -> registration -----------------------------------------------------------------------------

# Buyer id schemes as feeds spell them (org-id.guide prefixes, OCDS ``identifier.scheme``) -> ours.
_REGISTRY_SCHEMES = {
    "gb-coh": "gb-coh", "tw-ubn": "tw-ubn", "uscc": "uscc", "cn-uscc": "uscc", "lei": "lei", "xi-lei": "lei",
    "duns": "duns", "us-dun": "duns",
}


def registration_ref(tender_id: str) -> str:
    """The ``external_ref`` of a registration made from a tender: one per (rep, tender)."""
    return f"tender:{tender_id}"


def buyer_registry_id(buyer: Any) -> Any | None:
    """The buyer's id as a ``RegistryId`` when its scheme is one we check and the value passes; else None.

    An id in a scheme we do not know is kept as ``other`` (``<scheme>:<id>``); one that fails its check is
    dropped rather than failing the registration (the name still identifies the customer).
    """
    from pydantic import ValidationError

    from schemas.common import RegistryId, RegistryScheme

    if buyer is None or not buyer.id:
        return None
    scheme = _REGISTRY_SCHEMES.get((buyer.scheme or "").strip().lower())
    value = buyer.id if scheme else f"{buyer.scheme}:{buyer.id}" if buyer.scheme else buyer.id
    try:
        return RegistryId(scheme=RegistryScheme(scheme or "other"), value=value[:64])
    except ValidationError:
        return None


def registration_from_tender(tender_id: str, tender: Any, extra: Any) -> tuple[Any | None, list[dict[str, str]]]:
    """The ``RegistrationCreate`` a tender pre-fills, completed by the rep's ``TenderRegistrationRequest``.

    Returns:
        (payload, []) or (None, errors) naming each required field that neither the tender nor the
        request provides (``{"loc": "body.contacts", "type": "missing"}``), for a 422.
    """
    from pydantic import ValidationError

    from schemas.common import Money
    from schemas.registration import RegistrationCreate

    missing: list[dict[str, str]] = []
    amount = extra.expected_amount
    if amount is None and tender.value is not None and tender.currency:
        try:
            amount = Money(amount=tender.value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
                           currency=tender.currency)
        except (ValidationError, ArithmeticError):
            amount = None  # too large for an amount: the rep states it
    close = extra.expected_close_date or (tender.deadline.date() if tender.deadline else None)
    if not extra.contacts:
        missing.append({"loc": "body.contacts", "type": "missing"})
    if amount is None:
        missing.append({"loc": "body.expected_amount", "type": "missing"})
    if close is None:
        missing.append({"loc": "body.expected_close_date", "type": "missing"})
    if tender.buyer is None and extra.customer is None:
        # No customer to register: the notice names no buyer and the request gives none.
        missing.append({"loc": "body.customer", "type": "missing"})
    if missing:
        return None, missing
    if tender.buyer is not None:
        registry_id = buyer_registry_id(tender.buyer)
        customer: Any = {"name": tender.buyer.name[:200], "registry_ids": [registry_id] if registry_id else [],
                         "country": tender.country, "region": (tender.region or None) and tender.region[:200]}
    else:
        customer = extra.customer.model_dump(exclude_none=True)
        customer.setdefault("country", tender.country)
        if tender.region:
            customer.setdefault("region", tender.region[:200])
    background = "\n".join(x for x in (
        f"Tender {tender_id} ({tender.source}: {tender.source_id})",
        f"项目编号 / file: {tender.project_code}" if tender.project_code else None,
        f"采购代理机构 / agent: {tender.agent}" if tender.agent else None, tender.procedure, tender.url) if x)
    payload = {
        "customer": customer,
        "contacts": extra.contacts,
        "project": {"title": tender.title[:200], "background": background[:4000], "products": extra.products,
                    "expected_amount": amount, "expected_close_date": close},
        "external_ref": registration_ref(tender_id),
    }
    if extra.sales_stage is not None:
        payload["sales_stage"] = extra.sales_stage
    return RegistrationCreate.model_validate(payload), []
