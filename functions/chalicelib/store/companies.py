"""Registry cache, customer enrichment items and imported customers. Every write is conditional or idempotent.

Cache items expire through DynamoDB TTL; since TTL deletion is lazy (and moto never deletes), a read
treats an item whose ``expires_at`` has passed as absent.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.store.models import CustomerEnrichmentItem, CustomerItem, RegistryCacheItem

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


def import_customer(customer_key: str, customer: Any, *, owner_id: str | None, now: datetime) -> None:
    """Create or refresh a customer from an import (``dealreg customers import``). Idempotent.

    The name and ``created_at`` already on file are kept (first writer wins, as at intake); the
    registry ids, website, country, region, industry and owner given are set; the registration count is
    never touched.

    Args:
        customer_key: ``chalicelib.domain.registration.customer_key(customer)``.
        customer: a validated ``schemas.registration.Customer``.
        owner_id: the account owner, if the file names one.
        now: the import time.
    """
    item = CustomerItem(customer_key)
    optional = {"website": customer.website, "country": customer.country, "region": customer.region,
                "industry": customer.industry, "owner_id": owner_id}
    item.update(actions=[
        CustomerItem.name.set(CustomerItem.name | customer.name),
        CustomerItem.created_at.set(CustomerItem.created_at | now),
        CustomerItem.updated_at.set(now),
        CustomerItem.registration_count.set(CustomerItem.registration_count | 0),
        *([CustomerItem.registry_ids.set([r.model_dump(mode="json") for r in customer.registry_ids])]
          if customer.registry_ids else []),
        *(getattr(CustomerItem, field).set(value) for field, value in optional.items() if value),
    ])


def iter_customers(page_size: int = 500) -> Any:
    """Every customer, page by page (a paginated Scan: for ``dealreg customers export`` only, never on a
    request path)."""
    return CustomerItem.scan(page_size=page_size)
