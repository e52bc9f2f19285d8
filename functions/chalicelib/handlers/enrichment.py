"""Enrichment: attach what the business registries say to a registration's customer.

Trigger: the ``enrichment`` SQS queue (filter: registration.submitted). Input: ``RegistrationSubmitted``.
Side effects: reads the registration, looks the customer up by its strongest registry id (or by name,
accepting only a clear match) through the registry cache, and writes the customer's enrichment item
(canonical name, ids, status, industry) with a conditional put. A dissolved/revoked company or a
lapsed/retired LEI sets ``review_flag`` on the item and publishes ``customer.review_flagged`` once.
Failures: a registry outage (``RetryableError``) records ``retrying``, hides the message for a doubling
backoff (``ChangeMessageVisibility``) and reports a batch item failure; at ``enrichment_max_attempts``
the item says ``parked`` and the message goes to the DLQ. A ``PermanentError`` (refused key, provider
error code) records ``failed`` and parks at once. Intake never waits for any of this.
"""
from __future__ import annotations

import logging

from chalice import Blueprint

from chalicelib import settings

bp = Blueprint(__name__)
logger = logging.getLogger("dealreg.enrichment")
QUEUE = "enrichment"
SUBSCRIBES_TO = settings.QUEUES[QUEUE]


@bp.on_sqs_message(queue=settings.get().queue(QUEUE), batch_size=10)
def enrich_customers(event):
    from chalicelib.handlers._batch import process_sqs

    return process_sqs(event, QUEUE, handle_event, with_record=True)


def handle_event(evt, record) -> None:
    """One parsed event and its SQS record (a powertools ``SQSRecord``): enrich; on an outage back off or park."""
    from chalicelib.handlers._batch import park
    from connectors.errors import PermanentError, RetryableError

    if evt.type not in SUBSCRIBES_TO:
        return
    attempt = int(record.attributes.approximate_receive_count or 1)
    try:
        enrich_registration(evt.subject)
    except RetryableError as exc:
        if _record_failure(evt.subject, attempt, exc, final=attempt >= settings.get().enrichment_max_attempts):
            park(QUEUE, record, f"registry unavailable after {attempt} attempts: {exc.reason}")
            return
        _back_off(record, attempt, exc.retry_after)
        raise
    except PermanentError as exc:
        _record_failure(evt.subject, attempt, exc, final=True, state="failed")
        park(QUEUE, record, f"registry refused: {exc.reason}")


def enrich_registration(registration_id: str) -> str | None:
    """Look up the registration's customer and write its enrichment item.

    Returns:
        The state written (``enriched``, ``not_found``), or ``None`` when there was nothing to do
        (registration gone, no usable id or name, or a concurrent writer won).

    Raises:
        RetryableError: A registry is unavailable; nothing was written.
        PermanentError: A registry refused the request.
    """
    from chalicelib import clock, registry_lookup
    from chalicelib.domain.enrichment import pick_id, review_event_id, review_flag
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

        publisher.publish([CustomerReviewFlagged(
            id=review_event_id(reg.customer_key, company), occurred_at=now, subject=reg.customer_key,
            actor=Actor(kind=PrincipalKind.SYSTEM, id="enrichment"), registration_id=reg.id,
            registration=snapshot(reg), company=company, reason=flag.value,
        )])
    return state


def _record_failure(registration_id: str, attempt: int, exc, *, final: bool, state: str | None = None) -> bool:
    """Note the failed attempt on the customer's enrichment item; return ``final``."""
    from chalicelib import clock
    from chalicelib.store import companies, registrations

    reg = registrations.get(registration_id)
    if reg is not None:
        companies.save_pending(reg.customer_key, state=state or ("parked" if final else "retrying"),
                               registration_id=reg.id, attempts=attempt, error=exc.reason, now=clock.now())
    logger.warning("enrichment of %s failed (attempt %d): %s", registration_id, attempt, exc.reason)
    return final


def _back_off(record, attempt: int, retry_after: float | None) -> None:
    """Hide the message for the backoff delay, so SQS redelivers it later rather than at once."""
    from chalicelib.domain.enrichment import backoff_seconds
    from chalicelib.store import aws

    try:
        # the record's own queue URL (from its eventSourceARN): no GetQueueUrl call per message
        aws.client("sqs").change_message_visibility(QueueUrl=record.queue_url, ReceiptHandle=record.receipt_handle,
                                                    VisibilityTimeout=backoff_seconds(attempt, retry_after))
    except Exception:  # noqa: BLE001 - the queue's own visibility timeout still applies
        logger.warning("could not set the backoff for %s", record.message_id)
