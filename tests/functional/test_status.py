"""`dealreg status`: a parked message, a failed schedule run and a failing tender source show on one screen."""
from __future__ import annotations

import json

from infra import status as status_mod


def _sqs_url(suite, name: str) -> str:
    return suite.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def test_a_parked_message_shows_as_a_dead_letter_and_needs_attention(suite):
    before = status_mod.collect()
    assert all(not q["dead_letters"] for q in before["queues"])
    assert status_mod.attention(before) == []
    # WHEN a message that can never be processed reaches the workflow queue, the handler parks it
    sqs = suite.client("sqs")
    sqs.send_message(QueueUrl=_sqs_url(suite, f"{suite.prefix}-workflow"), MessageBody="not an event",
                     MessageAttributes={"type": {"DataType": "String", "StringValue": "registration.submitted"}})
    suite.runner.pump()
    # THEN status counts it on that queue's DLQ and says so
    after = status_mod.collect()
    workflow = next(q for q in after["queues"] if q["queue"] == "workflow")
    assert workflow["dead_letters"] == 1 and workflow["waiting"] == 0
    screen = status_mod.render(after)
    assert f"1 message(s) on {suite.prefix}-workflow-dlq" in screen
    json.dumps(after)  # --json prints it as is


def test_schedule_runs_and_failures_and_failing_sources_are_shown(suite, monkeypatch):
    # WHEN a scheduled job runs fine once, then fails
    suite.runner.run_schedule("remind_overdue_reviews")
    runs = {s["schedule"]: s for s in status_mod.collect()["schedules"]}
    assert runs["remind_overdue_reviews"]["outcome"] == "ok" and runs["remind_overdue_reviews"]["runs_24h"] == 1
    assert runs["poll_tender_feeds"]["last_run"] is None

    def boom(event):
        raise RuntimeError("job failed")

    handler = suite.app.handler_map["warn_due_registrations"]
    monkeypatch.setattr(handler, "func", boom, raising=False)
    monkeypatch.setattr(handler, "handler", boom, raising=False)
    suite.runner.run_schedule("warn_due_registrations")
    status = status_mod.collect()
    runs = {s["schedule"]: s for s in status["schedules"]}
    assert runs["warn_due_registrations"]["outcome"] == "failed"
    assert "schedule warn_due_registrations failed its last run" in status_mod.attention(status)
    # AND a tender source that failed three polls in a row is listed with its error
    from chalicelib.store.models import TenderFeedItem

    TenderFeedItem("cn-demo", failures=3, last_error="http_503").save()
    status = status_mod.collect()
    assert status["tender_sources"][0] == {"source": "cn-demo", "failures": 3, "last_error": "http_503",
                                           "last_ok_at": None, "last_run_at": None}
    assert "tender source cn-demo failed 3 poll(s) in a row (http_503)" in status_mod.render(status)
