"""Pure rules for stored tenders: ids, linking keys, merging a new sighting, polling schedule, source config.

- A tender's id is derived from its first procedure-level ref (``ocds:<ocid>``, ``eforms-procedure:…``,
  ``ted:…``), else from ``src:<source>:<source_id>``: deterministic, so concurrent pollers agree.
- ``merge`` decides what a new sighting of a known tender changes: a cancellation marks it cancelled
  (and nothing un-cancels it), a newer notice (amendment, award) updates the fields it states, an older
  or identical one only fills gaps; refs and categories accumulate.
- ``next_due`` backs off exponentially after failures so a broken source is polled less, never stuck.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    """When to poll a source next: its period, doubled per consecutive failure (at most a day)."""
    base = timedelta(minutes=every_minutes)
    delay = min(base * (2 ** min(failures, 10)), max(MAX_BACKOFF, base)) if failures else base
    if retry_after:
        delay = max(delay, timedelta(seconds=min(retry_after, MAX_BACKOFF.total_seconds())))
    return now + delay


class TenderSource(BaseModel):
    """One configured source: which connector, how often, with what config (selectors included)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
