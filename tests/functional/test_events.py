"""The event backbone: audit entries become domain events on SNS, filtered onto handler queues."""
from __future__ import annotations

import json
from decimal import Decimal

from tests.functional.helpers import drain, example, make_partner, post_webhook, tap_events


def test_each_audit_entry_is_one_domain_event_with_a_stable_id(suite):
    from schemas.events import EVENT_ADAPTER

    tap = tap_events(suite, "tap")
    secret, _ = make_partner("acme")
    reg_id = post_webhook(suite.api, "acme", secret, example()).json()["id"]
    suite.runner.pump()
    events = [EVENT_ADAPTER.validate_python(e) for e in drain(suite, tap)]
    assert [(e.type, e.id) for e in events] == [
        ("registration.submitted", f"{reg_id}:1"), ("registration.dedup_checked", f"{reg_id}:dedup:1"),
        ("registration.review_requested", f"{reg_id}:2")]
    submitted = events[0]
    assert submitted.subject == reg_id and submitted.actor.id == "acme"
    assert submitted.registration.customer_name == "深圳市腾讯计算机系统有限公司"
    assert submitted.registration.expected_amount == Decimal("3800000")  # a JSON number on the wire


def test_a_write_that_appends_no_audit_entry_triggers_nothing(suite):
    from datetime import UTC, datetime

    from chalicelib.store.models import RegistrationItem

    tap = tap_events(suite, "tap")
    secret, _ = make_partner("acme")
    reg_id = post_webhook(suite.api, "acme", secret, example()).json()["id"]
    suite.runner.pump()
    drain(suite, tap)
    before = dict(suite.runner.invocations)
    RegistrationItem.get(reg_id).update(actions=[RegistrationItem.due_at.set(datetime(2027, 1, 1, tzinfo=UTC))])
    suite.runner.pump()
    assert drain(suite, tap) == []
    # the stream consumer saw the change, but no downstream handler ran
    assert suite.runner.invocations["publish_domain_events"] == before["publish_domain_events"] + 1
    assert suite.runner.invocations.get("review_submissions") == before.get("review_submissions")


def test_redelivered_event_changes_nothing(suite):
    from chalicelib.store import registrations

    secret, key = make_partner("acme")
    reg_id = post_webhook(suite.api, "acme", secret, example()).json()["id"]
    suite.runner.pump()
    reg = registrations.get(reg_id)
    assert reg.status == "pending_review" and reg.version == 2
    # deliver the submitted event again, as SQS may
    event = {"id": f"{reg_id}:1", "type": "registration.submitted", "occurred_at": reg.created_at.isoformat(),
             "subject": reg_id, "actor": {"kind": "partner", "id": "acme"},
             "registration": {"id": reg_id, "status": "submitted", "source": "partner",
                              "submitter": {"kind": "partner", "id": "acme"}, "customer_key": reg.customer_key,
                              "customer_name": reg.customer.name, "project_title": reg.project.title,
                              "expected_amount": "3800000.00", "currency": "CNY", "version": 1},
             "to_status": "submitted"}
    sqs = suite.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{suite.prefix}-workflow")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
    assert suite.runner.pump() == 1
    again = registrations.get(reg_id)
    assert again.version == 2 and len(again.audit) == 2


def test_unparseable_message_is_parked_in_the_dlq_with_its_reason(suite):
    sqs = suite.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{suite.prefix}-workflow")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody='{"type": "registration.submitted", "nonsense": true}')
    suite.runner.pump()
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    dlq = sqs.get_queue_url(QueueName=f"{suite.prefix}-workflow-dlq")["QueueUrl"]
    parked = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert len(parked) == 1
    assert parked[0]["MessageAttributes"]["parked_reason"]["StringValue"].startswith("unparseable event")


def test_failing_handler_leaves_the_message_for_redelivery(suite, monkeypatch):
    from chalicelib.handlers import workflow

    secret, _ = make_partner("acme")
    post_webhook(suite.api, "acme", secret, example())

    def boom(evt):
        raise RuntimeError("transient")

    monkeypatch.setattr(workflow, "_auto_check", boom)
    suite.runner.pump()
    sqs = suite.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{suite.prefix}-workflow")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_poison_stream_record_is_retried_then_sent_to_the_failure_queue(suite, monkeypatch):
    from chalicelib.handlers import events as events_handler
    from infra.local import runner as runner_mod

    secret, _ = make_partner("acme")
    post_webhook(suite.api, "acme", secret, example())
    calls = []

    def poison(record):
        calls.append(record.sequence_number)
        raise ValueError("cannot publish this record")

    monkeypatch.setattr(events_handler, "_publish_record", poison)
    suite.runner.pump()
    assert len(calls) == runner_mod.STREAM_MAX_RETRIES + 1
    sqs = suite.client("sqs")
    dlq = sqs.get_queue_url(QueueName=f"{suite.prefix}-stream-failures-dlq")["QueueUrl"]
    parked = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert json.loads(parked[0]["Body"])["record"]["dynamodb"]["SequenceNumber"] == calls[0]


def test_records_written_before_skip_streams_are_never_delivered_and_later_ones_are(suite):
    secret, _ = make_partner("acme")
    tap = tap_events(suite, "tap")
    seeded = post_webhook(suite.api, "acme", secret, example(external_ref="SEED-1")).json()["id"]
    suite.runner.skip_streams()  # the seeded registration is history: its stream record is not delivered
    assert suite.runner.pump() == 0
    assert suite.runner.invocations.get("publish_domain_events") is None
    later = post_webhook(suite.api, "acme", secret, example(external_ref="LATER-1")).json()["id"]
    suite.runner.pump()
    subjects = {e["subject"] for e in drain(suite, tap)}
    assert later in subjects and seeded not in subjects
