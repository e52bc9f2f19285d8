"""Shared handler plumbing: the partial-batch runner of SQS and DynamoDB-stream functions (poison messages
parked); and the time budget of scheduled jobs (:func:`time_left`).

The runner implements Lambda's ``ReportBatchItemFailures`` contract (AWS Lambda developer guide, "Handling
errors for an SQS event source" and "Configuring partial batch response with DynamoDB and Lambda"; the
template turns it on for every queue and stream mapping). The answer is ``{"batchItemFailures":
[{"itemIdentifier": id}]}``:

- SQS: every record is tried; each failure is reported by its ``messageId`` and SQS redelivers only those.
- DynamoDB stream: Lambda checkpoints at the *lowest* reported sequence number and retries every record from
  there, so the runner stops at the first failure and reports it alone: records after it are not applied
  before it (a registration's changes stay in order) and are not applied twice. (Powertools' BatchProcessor,
  used before, tries every record and reports each failure: the later ones ran, then ran again on the retry.)
- No record succeeded (every SQS record failed; a stream's first record failed): :class:`BatchFailedError`
  is raised, so the invocation counts as an error (the function's Errors alarm) and Lambda retries the whole
  batch — what Powertools did when a whole batch failed.

A message that can never succeed (bad JSON, unknown event, PermanentError) is sent to the queue's DLQ at
once with the reason and acknowledged, so it does not burn retries; anything else that fails is reported
as a batch item failure and SQS redelivers it, moving it to the DLQ after maxReceiveCount. A failed stream
record is retried up to the mapping's retry limit, then goes to its on-failure queue.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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


class BatchFailedError(Exception):
    """No record of the batch succeeded: the invocation fails and Lambda retries the whole batch."""


@dataclass(frozen=True)
class ReceiveAttributes:
    approximate_receive_count: str | None = None


@dataclass(frozen=True)
class QueueMessage:
    """One SQS record of a Lambda event, with what our handlers read."""

    message_id: str
    body: str
    receipt_handle: str
    event_source_arn: str
    attributes: ReceiveAttributes

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> QueueMessage:
        attributes = record.get("attributes") or {}
        return cls(message_id=record["messageId"], body=record.get("body") or "",
                   receipt_handle=record.get("receiptHandle", ""), event_source_arn=record.get("eventSourceARN", ""),
                   attributes=ReceiveAttributes(attributes.get("ApproximateReceiveCount")))

    @property
    def queue_url(self) -> str:
        """The queue's URL, from ``arn:aws:sqs:<region>:<account>:<name>`` (no GetQueueUrl call)."""
        _, _, _, region, account, name = self.event_source_arn.split(":", 5)
        return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


@dataclass(frozen=True)
class StreamRecord:
    """One DynamoDB stream record of a Lambda event: its images in DynamoDB JSON, as the stream sent them."""

    event_id: str
    sequence_number: str
    new_image: dict[str, Any] | None
    old_image: dict[str, Any] | None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> StreamRecord:
        ddb = record.get("dynamodb") or {}
        return cls(event_id=record.get("eventID", ""), sequence_number=ddb["SequenceNumber"],
                   new_image=ddb.get("NewImage"), old_image=ddb.get("OldImage"))


R = TypeVar("R", QueueMessage, StreamRecord)


def run_batch(records: Sequence[R], handle: Callable[[R], None]) -> dict[str, list[dict[str, str]]]:
    """Call ``handle`` on each record; answer Lambda's partial batch response (rules in the module doc)."""
    failed: list[str] = []
    succeeded = 0
    for record in records:
        stream = isinstance(record, StreamRecord)
        ident = record.sequence_number if isinstance(record, StreamRecord) else record.message_id
        try:
            handle(record)
        except Exception:  # noqa: BLE001 - any failure of one record is that record's, reported for a retry
            logger.warning("record %s failed; reported for retry", ident, exc_info=True)
            failed.append(ident)
            if stream:
                break
        else:
            succeeded += 1
    if failed and not succeeded:
        raise BatchFailedError(f"no record of the batch succeeded ({len(failed)} of {len(records)} failed, "
                               f"{len(records) - len(failed)} not tried)")
    return {"batchItemFailures": [{"itemIdentifier": ident} for ident in failed]}


def process_stream(event: Any, handle: Callable[[StreamRecord], None]) -> dict[str, list[dict[str, str]]]:
    """Run ``handle(record)`` on each record of a DynamoDB stream event (chalice's event); answer for Lambda."""
    return run_batch([StreamRecord.from_record(r) for r in event.to_dict()["Records"]], handle)


def process_sqs(event: Any, queue: str, handle: Callable[..., None], *, with_record: bool = False) -> dict:
    """Run ``handle(domain_event)`` for each SQS record of ``event``; return the partial-batch response.

    ``with_record``: call ``handle(domain_event, record)`` instead, for a handler that needs the
    :class:`QueueMessage` itself (its receive count, receipt handle and ``queue_url``: enrichment's back-off).
    """
    from chalicelib import observability
    from schemas.events import parse_event

    def one(record: QueueMessage) -> None:
        observability.count("records")
        try:
            domain_event = parse_event(record.body)
        except ValueError as exc:  # not JSON, no known type, or not that type's shape (pydantic's error)
            errors = getattr(exc, "error_count", None)
            park(queue, record, f"unparseable event: {errors()} errors" if errors else f"unparseable event: {exc}")
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

    return run_batch([QueueMessage.from_record(r) for r in event.to_dict()["Records"]], one)


def park(queue: str, record: QueueMessage, reason: str) -> None:
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
