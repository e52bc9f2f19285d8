"""The partial-batch runner (``handlers._batch``): Lambda's ReportBatchItemFailures contract for SQS and
DynamoDB streams, and poison messages parked rather than retried."""
from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.handlers import _batch
from chalicelib.handlers._batch import (
    BatchFailedError,
    PermanentMessageError,
    QueueMessage,
    StreamRecord,
    process_sqs,
    process_stream,
)

ARN = "arn:aws:sqs:cn-north-1:123456789012:dealreg-dev-workflow"


def _sqs(*bodies: str) -> Any:
    records = [{"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body, "eventSourceARN": ARN,
                "attributes": {"ApproximateReceiveCount": str(i + 1)}, "eventSource": "aws:sqs"}
               for i, body in enumerate(bodies)]
    return SimpleNamespace(to_dict=lambda: {"Records": records})


def _stream(*seqs: str) -> Any:
    records = [{"eventID": f"e{s}", "eventName": "MODIFY", "dynamodb": {
        "SequenceNumber": s, "NewImage": {"pk": {"S": f"new{s}"}}, "OldImage": {"pk": {"S": f"old{s}"}}}}
        for s in seqs]
    return SimpleNamespace(to_dict=lambda: {"Records": records})


def _event(n: int, kind: str = "registration.submitted") -> str:
    return json.dumps({"type": kind, "id": f"reg_{n}:1", "subject": f"reg_{n}",
                       "occurred_at": "2026-01-01T00:00:00Z", "actor": {"kind": "system", "id": "t"},
                       "registration": {"id": f"reg_{n}", "status": "submitted", "source": "partner",
                                        "submitter": {"kind": "partner", "id": "acme"}, "customer_key": "k",
                                        "customer_name": "腾讯", "project_title": "x", "expected_amount": "1",
                                        "currency": "CNY", "version": 1}})


@pytest.fixture
def parked(monkeypatch) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    monkeypatch.setattr(_batch, "park", lambda queue, record, reason: out.append((queue, record.message_id, reason)))
    return out


def test_sqs_reports_each_failed_message_by_its_id_and_tries_every_record(caplog):
    seen = []

    def handle(evt):
        seen.append(evt.subject)
        if evt.subject in ("reg_1", "reg_3"):
            raise RuntimeError(f"down for {evt.subject}")

    with caplog.at_level(logging.WARNING, logger="dealreg.batch"):
        answer = process_sqs(_sqs(*(_event(n) for n in range(4))), "workflow", handle)
    assert seen == ["reg_0", "reg_1", "reg_2", "reg_3"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}
    # each failure is logged with its exception
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [r.exc_info[1].args[0] for r in failures if r.exc_info] == ["down for reg_1", "down for reg_3"]


def test_a_batch_without_failures_reports_none():
    assert process_sqs(_sqs(_event(1), _event(2)), "workflow", lambda evt: None) == {"batchItemFailures": []}
    assert process_stream(_stream("1"), lambda record: None) == {"batchItemFailures": []}


def test_every_sqs_record_failed_fails_the_invocation():
    def handle(evt):
        raise RuntimeError("outage")

    with pytest.raises(BatchFailedError):
        process_sqs(_sqs(_event(1), _event(2)), "workflow", handle)


def test_stream_stops_at_the_first_failure_and_reports_only_it():
    # Lambda checkpoints at the lowest reported sequence number and retries everything after it: a later
    # record must not be applied before the failed one (nor twice)
    seen = []

    def handle(record: StreamRecord) -> None:
        seen.append(record.sequence_number)
        if record.sequence_number == "200":
            raise RuntimeError("SNS down")

    answer = process_stream(_stream("100", "200", "300", "400"), handle)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "200"}]}
    assert seen == ["100", "200"]


def test_stream_whose_first_record_fails_fails_the_invocation():
    seen = []

    def handle(record: StreamRecord) -> None:
        seen.append(record.sequence_number)
        raise RuntimeError("SNS down")

    with pytest.raises(BatchFailedError):
        process_stream(_stream("100", "200"), handle)
    assert seen == ["100"]


def test_stream_record_carries_its_raw_images_and_ids():
    got: list[StreamRecord] = []
    process_stream(_stream("7"), got.append)
    assert got == [StreamRecord(event_id="e7", sequence_number="7", new_image={"pk": {"S": "new7"}},
                                old_image={"pk": {"S": "old7"}})]


def test_queue_message_carries_what_the_handlers_read():
    got: list[tuple[Any, QueueMessage]] = []
    process_sqs(_sqs(_event(1)), "enrichment", lambda evt, record: got.append((evt, record)), with_record=True)
    evt, record = got[0]
    assert evt.type == "registration.submitted" and evt.subject == "reg_1"
    assert (record.message_id, record.receipt_handle, record.body) == ("m0", "r0", _event(1))
    assert record.attributes.approximate_receive_count == "1"
    assert record.queue_url == "https://sqs.cn-north-1.amazonaws.com/123456789012/dealreg-dev-workflow"


def test_poison_messages_are_parked_and_not_reported(parked):
    def handle(evt):
        if evt.subject == "reg_2":
            raise PermanentMessageError("cannot ever work")

    bad_shape = json.dumps({"type": "registration.submitted", "nonsense": True})
    bodies = ["not json", bad_shape, json.dumps({"type": "no.such.event"}), _event(2), _event(3)]
    answer = process_sqs(_sqs(*bodies), "workflow", handle)
    assert answer == {"batchItemFailures": []}
    assert [(q, m) for q, m, _ in parked] == [("workflow", "m0"), ("workflow", "m1"), ("workflow", "m2"),
                                             ("workflow", "m3")]
    reasons = [r for _, _, r in parked]
    assert all(r.startswith("unparseable event") for r in reasons[:3]) and reasons[3] == "cannot ever work"
    assert "errors" in reasons[1] and "no.such.event" in reasons[2]
