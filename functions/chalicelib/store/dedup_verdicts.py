"""Dedup verdicts in DynamoDB (``models.DedupVerdictItem``): one item per registration, stored once, replaced only
by a newer judgement. Apart from the blocking index (``store.dedup``) so that the functions that only read a
verdict (the workflow's auto-checks and sweep, the verdict route) do not import the index's domain (issue 15).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.store.models import DedupVerdictItem


def save_verdict(registration_id: str, outcome: str, verdict_json: dict, *, now: datetime) -> bool:
    """Store a verdict once. Returns False when one was already stored (a redelivery)."""
    item = DedupVerdictItem(registration_id, outcome=outcome, verdict=verdict_json, computed_at=now)
    try:
        item.save(condition=DedupVerdictItem.registration_id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def get_verdict(registration_id: str) -> dict | None:
    """The stored verdict JSON, or None."""
    try:
        return DedupVerdictItem.get(registration_id, consistent_read=True).verdict
    except DedupVerdictItem.DoesNotExist:
        return None


def replace_verdict(registration_id: str, outcome: str, verdict_json: dict, *, now: datetime) -> bool:
    """Store a re-judged verdict (an edit, a resubmission) over an older one; never over a newer one, so a
    slow, stale re-judgement cannot undo a fresh one. Returns False when a newer verdict is stored."""
    item = DedupVerdictItem(registration_id, outcome=outcome, verdict=verdict_json, computed_at=now)
    try:
        item.save(condition=DedupVerdictItem.registration_id.does_not_exist() | (DedupVerdictItem.computed_at <= now))
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def read_for_judging(registration_id: str, *, verdict: bool, customer_key: str | None) -> tuple[Any, dict | None,
                                                                                                  dict[str, dict]]:
    """What a judgement reads before it starts, in one BatchGetItem instead of three GetItems (issue 15 item 1):
    the registration and, when ``verdict``, its stored verdict (both strongly consistent), and the enrichment
    item of ``customer_key`` (the customer the event names; its registry facts go into the attribute score of
    the announcement's snapshot, read eventually consistent as ``store.companies.get_enrichment`` does).

    Returns:
        (the Registration or None, the stored verdict JSON or None, {customer key: registry facts} — empty when
        no customer key was given).
    """
    from chalicelib.store.models import CustomerEnrichmentItem, RegistrationItem
    from chalicelib.store.registrations import from_item
    from chalicelib.store.scoring import facts_of

    requests = [(RegistrationItem, registration_id, True)]
    if verdict:
        requests.append((DedupVerdictItem, registration_id, True))
    if customer_key:
        requests.append((CustomerEnrichmentItem, customer_key, False))
    items = dict(zip([cls for cls, _, _ in requests], _get_many(requests), strict=True))
    reg = items[RegistrationItem]
    stored = items.get(DedupVerdictItem)
    facts = {customer_key: facts_of(items[CustomerEnrichmentItem])} if customer_key else {}
    return (from_item(reg) if reg is not None else None), (stored.verdict if stored is not None else None), facts


def _get_many(requests: Sequence[tuple[Any, str, bool]]) -> list[Any]:
    """Items of several tables, each by its string hash key (model, key, consistent), in one BatchGetItem
    (``models.batch_get_rows``: unprocessed keys asked again). Returns each model's item or None, in request
    order."""
    from chalicelib.store.models import batch_get_rows

    wanted: dict[str, dict[str, Any]] = {}
    hash_key = {cls.Meta.table_name: cls._hash_key_attribute().attr_name for cls, _, _ in requests}
    for cls, key, consistent in requests:
        table = wanted.setdefault(cls.Meta.table_name, {"Keys": [], "ConsistentRead": consistent})
        table["Keys"].append({hash_key[cls.Meta.table_name]: {"S": key}})
    found = {(table, row[hash_key[table]]["S"]): row for table, rows in batch_get_rows(wanted).items()
             for row in rows}
    out = []
    for cls, key, _ in requests:
        row = found.get((cls.Meta.table_name, key))
        out.append(cls.from_raw_data(row) if row is not None else None)
    return out

