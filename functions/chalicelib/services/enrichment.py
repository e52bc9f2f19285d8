"""Customer enrichment (the ``enrichment`` queue's work): look a registration's customer up in the business
registries (``services/registry_lookup.py``), store the answer, flag what needs a human look and announce it
(``customer.review_flagged``). The handler (``handlers/enrichment.py``) parses, retries and parks."""
from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("dealreg.enrichment")


def enrich_registration(registration_id: str) -> str | None:
    """Look up the registration's customer and write its enrichment item.

    Returns:
        The state written (``enriched``, ``not_found``), or ``None`` when there was nothing to do
        (registration gone, no usable id or name, or a concurrent writer won).

    Raises:
        RetryableError: A registry is unavailable; nothing was written.
        PermanentError: A registry refused the request.
    """
    from chalicelib import clock
    from chalicelib.domain.enrichment import pick_id, review_event_id, review_flag
    from chalicelib.services import registry_lookup
    from chalicelib.store import companies, publisher, registrations
    from schemas.common import Actor, PrincipalKind
    from schemas.events import CustomerReviewFlagged

    if not registry_lookup.connectors():
        return None  # no registry enabled (the local stand-in's default): nothing to say about anyone
    reg = registrations.get(registration_id)
    if reg is None:
        return None
    now = clock.now()
    previous = companies.get_enrichment(reg.customer_key)
    chosen = pick_id(reg.customer.registry_ids, registry_lookup.supported_schemes())
    if chosen is not None:
        result = registry_lookup.lookup_id(*chosen, now=now)
        match = "id"
    else:
        result = registry_lookup.search_name(reg.customer.name, now=now, country=reg.customer.country)
        match = "name"
    company = result.company
    flag = review_flag(company)
    state = "enriched" if company is not None else "not_found"
    written = companies.save_answer(
        reg.customer_key, state=state, company=company.model_dump(mode="json") if company else None,
        match=match if company else None, score=result.score, review_flag=flag.value if flag else None,
        registration_id=reg.id, now=now, previous=previous,
    )
    if not written:
        logger.info("enrichment of %s superseded by a concurrent write", reg.customer_key)
        return None
    if (flag.value if flag else None) != reg.review_flag:
        registrations.stamp_review_flag(reg.id, flag.value if flag else None)  # shown on the registration
    already_flagged = previous is not None and previous.review_flag == (flag.value if flag else None) and \
        (previous.company or {}).get("source_id") == (company.source_id if company else None)
    if flag is not None and company is not None and not already_flagged:
        # Published after the write it announces; the id is stable, so a retry after a failed publish
        # sends the same event again and consumers deduplicate.
        from chalicelib.domain.events import snapshot
        from chalicelib.store.scoring import attribute_scorer

        publisher.publish([CustomerReviewFlagged(
            id=review_event_id(reg.customer_key, company), occurred_at=now, subject=reg.customer_key,
            actor=Actor(kind=PrincipalKind.SYSTEM, id="enrichment"), registration_id=reg.id,
            registration=snapshot(reg, attribute_of=attribute_scorer()), company=company, reason=flag.value,
        )])
    return state


def record_failure(registration_id: str, attempt: int, exc: Any, *, final: bool, state: str | None = None) -> bool:
    """Note the failed attempt on the customer's enrichment item; return ``final``."""
    from chalicelib import clock
    from chalicelib.store import companies, registrations

    reg = registrations.get(registration_id)
    if reg is not None:
        companies.save_pending(reg.customer_key, state=state or ("parked" if final else "retrying"),
                               registration_id=reg.id, attempts=attempt, error=exc.reason, now=clock.now())
    logger.warning("enrichment of %s failed (attempt %d): %s", registration_id, attempt, exc.reason)
    return final
