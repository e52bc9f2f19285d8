"""Shared handler plumbing: SQS records one at a time, partial batch failures, poison messages parked; and
the time budget of scheduled jobs (:func:`time_left`).

A message that can never succeed (bad JSON, unknown event, PermanentError) is sent to the queue's DLQ at
once with the reason and acknowledged, so it does not burn retries; anything else that fails is reported
as a batch item failure and SQS redelivers it, moving it to the DLQ after maxReceiveCount.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalicelib import settings

logger = logging.getLogger("dealreg.batch")


SAFETY_MILLIS = 10_000  # a job stops starting new work this long before the Lambda timeout; the next run resumes


def time_left(event: Any) -> Callable[[], bool] | None:
    """For a scheduled job: a check that is True while more than ``SAFETY_MILLIS`` of the invocation remain,
    or None outside Lambda (no context: the local runner, the CLI), where a job runs to the end."""
    context = getattr(event, "context", None)
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return lambda: context.get_remaining_time_in_millis() > SAFETY_MILLIS


class PermanentMessageError(Exception):
    """This message can never be processed; park it."""


def process_sqs(event: Any, queue: str, handle: Callable[..., None], *, with_record: bool = False) -> dict:
    """Run ``handle(domain_event)`` for each SQS record of ``event``; return the partial-batch response.

    ``with_record``: call ``handle(domain_event, record)`` instead, for a handler that needs the powertools
    ``SQSRecord`` itself (its receive count, receipt handle and ``queue_url``: enrichment's back-off).
    """
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from pydantic import ValidationError

    from chalicelib import observability
    from schemas.events import EVENT_ADAPTER

    def one(record: Any) -> None:
        observability.count("records")
        try:
            domain_event = EVENT_ADAPTER.validate_json(record.body)
        except ValidationError as exc:
            park(queue, record, f"unparseable event: {exc.error_count()} errors")
            return
        # the subject is the registration (or customer, tender) the event is about
        observability.append_keys(message_id=record.message_id, event_type=getattr(domain_event, "type", None),
                                  subject=getattr(domain_event, "subject", None))
        try:
            if with_record:
                handle(domain_event, record)
            else:
                handle(domain_event)
        except PermanentMessageError as exc:
            park(queue, record, str(exc))

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event.to_dict(), record_handler=one, processor=processor)


def park(queue: str, record: Any, reason: str) -> None:
    from chalicelib import observability
    from chalicelib.store import aws

    observability.count("parked")
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.get().dead_letter_queue(queue))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=record.body, MessageAttributes={
        "parked_reason": {"DataType": "String", "StringValue": reason[:256]},
        "source_message_id": {"DataType": "String", "StringValue": record.message_id},
    })
    logger.warning("parked message %s from %s: %s", record.message_id, queue, reason)
