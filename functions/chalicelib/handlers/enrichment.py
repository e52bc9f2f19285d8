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
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event.to_dict(), record_handler=handle_record, processor=processor)


def handle_record(record) -> None:
    """One SQS record (a powertools ``SQSRecord``): parse, enrich, and on an outage back off or park."""
    from pydantic import ValidationError

    from chalicelib.handlers._batch import park
    from connectors.errors import PermanentError, RetryableError
    from schemas.events import EVENT_ADAPTER

    try:
        evt = EVENT_ADAPTER.validate_json(record.body)
    except ValidationError as exc:
        park(QUEUE, record, f"unparseable event: {exc.error_count()} errors")
        return
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

    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.get().queue(QUEUE))["QueueUrl"]
    try:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record.receipt_handle,
                                      VisibilityTimeout=backoff_seconds(attempt, retry_after))
    except Exception:  # noqa: BLE001 - the queue's own visibility timeout still applies
        logger.warning("could not set the backoff for %s", record.message_id)
