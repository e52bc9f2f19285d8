"""Registry cache and customer enrichment items. Every write is conditional or idempotent.

Cache items expire through DynamoDB TTL; since TTL deletion is lazy (and moto never deletes), a read
treats an item whose ``expires_at`` has passed as absent.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.store.models import CustomerEnrichmentItem, RegistryCacheItem

# Enrichment states. "enriched"/"not_found" are answers; the rest record why there is no answer yet.
ANSWERED = ("enriched", "not_found")
PENDING = ("retrying", "parked", "failed")


def cache_get(key: str, now: datetime) -> dict[str, Any] | None:
    """The cached payload for ``key``, or ``None`` when absent or expired."""
    try:
        item = RegistryCacheItem.get(key, consistent_read=False)
    except DoesNotExist:
        return None
    if item.expires_at is None or item.expires_at <= now:
        return None
    return item.payload


def cache_put(key: str, payload: dict[str, Any], now: datetime, ttl: timedelta) -> None:
    """Store a registry answer until ``now + ttl`` (last writer wins: both writers hold fresh data)."""
    RegistryCacheItem(key, payload=payload, fetched_at=now, expires_at=now + ttl).save()


def get_enrichment(customer_key: str) -> CustomerEnrichmentItem | None:
    """The customer's enrichment item, if any."""
    try:
        return CustomerEnrichmentItem.get(customer_key)
    except DoesNotExist:
        return None


def _conditional_save(item: CustomerEnrichmentItem, condition: Any) -> bool:
    try:
        item.save(condition=condition)
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def save_answer(customer_key: str, *, state: str, company: dict[str, Any] | None, match: str | None,
                score: float | None, review_flag: str | None, registration_id: str, now: datetime,
                previous: CustomerEnrichmentItem | None) -> bool:
    """Write a registry answer for the customer, unless a newer one was written meanwhile.

    Args:
        previous: The item as read before the look-up; the write succeeds only if it is still that
            item (same ``checked_at``) or there was none, so two concurrent enrichments cannot
            interleave and an older answer never replaces a newer one.

    Returns:
        False when the condition failed (someone else wrote first): nothing was written.
    """
    item = CustomerEnrichmentItem(
        customer_key, state=state, company=company, match=match, score=score, review_flag=review_flag,
        registration_id=registration_id, attempts=0, last_error=None, checked_at=now,
    )
    if previous is None:
        condition = CustomerEnrichmentItem.customer_key.does_not_exist()
    else:
        condition = CustomerEnrichmentItem.checked_at == previous.checked_at
    return _conditional_save(item, condition)


def save_pending(customer_key: str, *, state: str, registration_id: str, attempts: int, error: str,
                 now: datetime) -> bool:
    """Record a failed attempt (``retrying``, ``parked`` or ``failed``).

    Never replaces an answer already on file: a registry outage must not erase what an earlier
    enrichment found. Returns False when an answer was kept.
    """
    item = CustomerEnrichmentItem(
        customer_key, state=state, registration_id=registration_id, attempts=attempts, last_error=error[:200],
        checked_at=now,
    )
    condition = CustomerEnrichmentItem.customer_key.does_not_exist() | CustomerEnrichmentItem.state.is_in(*PENDING)
    return _conditional_save(item, condition)
