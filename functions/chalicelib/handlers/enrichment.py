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
    """One parsed event and its SQS record (``handlers._batch.QueueMessage``): enrich; on an outage back off or park."""
    from chalicelib.handlers._batch import park
    from connectors.errors import PermanentError, RetryableError

    if evt.type not in SUBSCRIBES_TO:
        return
    from chalicelib.services.enrichment import enrich_registration, record_failure

    attempt = int(record.attributes.approximate_receive_count or 1)
    try:
        enrich_registration(evt.subject)
    except RetryableError as exc:
        if record_failure(evt.subject, attempt, exc, final=attempt >= settings.get().enrichment_max_attempts):
            park(QUEUE, record, f"registry unavailable after {attempt} attempts: {exc.reason}")
            return
        _back_off(record, attempt, exc.retry_after)
        raise
    except PermanentError as exc:
        record_failure(evt.subject, attempt, exc, final=True, state="failed")
        park(QUEUE, record, f"registry refused: {exc.reason}")


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
