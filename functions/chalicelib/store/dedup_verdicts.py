"""Dedup verdicts in DynamoDB (``models.DedupVerdictItem``): one item per registration, stored once, replaced only
by a newer judgement. Apart from the blocking index (``store.dedup``) so that the functions that only read a
verdict (the workflow's auto-checks and sweep, the verdict route) do not import the index's domain (issue 15).
"""
from __future__ import annotations

from datetime import datetime

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
