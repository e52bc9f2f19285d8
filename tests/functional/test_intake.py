"""Signed partner intake end to end: HTTP -> validation -> DynamoDB (moto over HTTP) -> stream -> events."""
from __future__ import annotations

import json
import threading

from tests.functional.helpers import (
    envelope_timestamp,
    example,
    make_partner,
    make_user,
    post_webhook,
    signed_headers,
)


def test_signed_webhook_is_stored_announced_and_readable(suite):
    secret, key = make_partner("acme")
    # WHEN the partner posts a signed opportunity
    answer = post_webhook(suite.api, "acme", secret, example())
    # THEN it is accepted with an id and status
    assert answer.status == 202, answer.body
    body = answer.json()
    assert body["status"] == "submitted" and body["id"].startswith("reg_")
    # AND readable with the partner's key, with the submitted fields and the audit trail
    got = suite.api.get(f"/v1/registrations/{body['id']}", key)
    assert got.status == 200
    reg = got.json()
    assert reg["customer"]["name"] == "深圳市腾讯计算机系统有限公司"
    assert reg["project"]["expected_amount"] == {"amount": 3800000, "currency": "CNY"}
    assert reg["customer_key"] == "uscc:91440300708461136T"
    assert reg["partner_id"] == "acme" and reg["source"] == "partner"
    assert [a["action"] for a in reg["audit"]] == ["submitted"]
    # WHEN the event runner delivers the stream record and the workflow queue
    delivered = suite.runner.pump()
    assert delivered >= 2
    # THEN the workflow moved it to review, with a second audit line by the system
    reg = suite.api.get(f"/v1/registrations/{body['id']}", key).json()
    assert reg["status"] == "pending_review"
    assert [(a["action"], a["to_status"]) for a in reg["audit"]] == [
        ("submitted", "submitted"), ("status_changed", "pending_review")]
    assert reg["audit"][1]["actor"] == {"kind": "system", "id": "workflow"}
    assert reg["version"] == 2


def test_replayed_webhook_id_returns_first_answer_and_creates_nothing(suite):
    secret, key = make_partner("acme")
    raw = json.dumps(example()).encode()
    headers = signed_headers(secret, raw, msg_id="msg_fixed_1")
    first = suite.api.request("POST", "/v1/partners/acme/opportunities", raw, headers=headers)
    again = suite.api.request("POST", "/v1/partners/acme/opportunities", raw, headers=headers)
    assert first.status == again.status == 202
    assert first.json() == again.json()
    page = suite.api.get("/v1/registrations", key).json()
    assert [r["id"] for r in page["items"]] == [first.json()["id"]]


def test_concurrent_replays_of_one_webhook_create_exactly_one(suite):
    secret, key = make_partner("acme")
    body = example(external_ref=None)
    raw = json.dumps(body).encode()
    headers = signed_headers(secret, raw, msg_id="msg_race")
    answers = []
    lock = threading.Lock()

    def post():
        a = suite.api.request("POST", "/v1/partners/acme/opportunities", raw, headers=headers)
        with lock:
            answers.append((a.status, a.body))

    threads = [threading.Thread(target=post) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {s for s, _ in answers} == {202}
    assert len({b for _, b in answers}) == 1
    assert len(suite.api.get("/v1/registrations", key).json()["items"]) == 1


def test_same_external_ref_with_new_webhook_id_is_409_naming_the_first(suite):
    secret, key = make_partner("acme")
    first = post_webhook(suite.api, "acme", secret, example())
    second = post_webhook(suite.api, "acme", secret, example())
    assert second.status == 409
    assert first.json()["id"] in second.json()["message"]


def test_tampered_body_stale_timestamp_unknown_partner_and_missing_headers_are_401(suite):
    from datetime import UTC, datetime

    from chalicelib import clock

    # The server's clock is frozen: read from the wall clock, a timestamp 301 s ahead was accepted whenever the
    # request crossed a second boundary before the check (the server compares whole seconds, 300 s tolerance).
    frozen = clock.FrozenClock(datetime.now(UTC).replace(microsecond=0))
    clock.set_clock(frozen)
    now = int(frozen.now().timestamp())
    secret, _ = make_partner("acme")
    raw = json.dumps(example()).encode()
    headers = signed_headers(secret, raw, ts=now)
    tampered = raw.replace(b"3800000.00", b"3800001.00")
    assert suite.api.request("POST", "/v1/partners/acme/opportunities", tampered, headers=headers).status == 401
    stale = signed_headers(secret, raw, ts=now - 301)
    assert suite.api.request("POST", "/v1/partners/acme/opportunities", raw, headers=stale).status == 401
    future = signed_headers(secret, raw, ts=now + 301)
    assert suite.api.request("POST", "/v1/partners/acme/opportunities", raw, headers=future).status == 401
    assert suite.api.request("POST", "/v1/partners/nobody/opportunities", raw, headers=headers).status == 401
    assert suite.api.request("POST", "/v1/partners/acme/opportunities", raw).status == 401
    other_secret, _ = make_partner("other")
    wrong = signed_headers(other_secret, raw)
    assert suite.api.request("POST", "/v1/partners/acme/opportunities", raw, headers=wrong).status == 401
    # the edge is inclusive: 300 s ahead is accepted — what +301 read from the wall clock became whenever the
    # server's second had ticked over by its check
    edge = signed_headers(secret, raw, ts=now + 300)
    assert suite.api.request("POST", "/v1/partners/acme/opportunities", raw, headers=edge).status == 202


def test_rotated_secrets_both_verify(suite):
    from chalicelib.store import directory

    old, key = make_partner("acme")
    new = directory.rotate_partner_secret("acme")  # the warm cache is dropped by the rotation itself
    assert post_webhook(suite.api, "acme", old, example(external_ref="a")).status == 202
    assert post_webhook(suite.api, "acme", new, example(external_ref="b")).status == 202


def test_the_example_is_recent_on_whatever_date_the_suite_runs(suite):
    """``example()`` carries an envelope time the app takes on any date: the file's fixed 2026-11-27 is refused
    (422 ``stale_timestamp``) once more than a year old, and ahead of a clock a test set to an earlier date."""
    from datetime import UTC, datetime, timedelta

    from chalicelib import clock

    secret, _ = make_partner("acme")
    for n, at in enumerate([datetime.now(UTC) + timedelta(days=800), datetime(2026, 1, 5, 9, tzinfo=UTC)]):
        clock.set_clock(clock.FrozenClock(at.replace(microsecond=0)))
        answer = post_webhook(suite.api, "acme", secret, example(external_ref=f"far-{n}"), ts=int(at.timestamp()))
        assert answer.status == 202, answer.body


def test_empty_data_is_422_with_field_paths_and_no_input_echo(suite):
    secret, _ = make_partner("acme")
    answer = post_webhook(suite.api, "acme", secret, {"type": "opportunity.registered",
                                                      "timestamp": envelope_timestamp(), "data": {}})
    assert answer.status == 422
    locs = {(e["loc"], e["type"]) for e in answer.json()["errors"]}
    assert ("body.data.customer", "missing") in locs
    assert ("body.data.contacts", "missing") in locs
    assert ("body.data.project", "missing") in locs


def test_bad_values_name_their_paths_and_identifier_reasons(suite):
    secret, _ = make_partner("acme")
    body = example()
    body["data"]["customer"]["registry_ids"] = [{"scheme": "uscc", "value": "91440300708461136X"}]
    body["data"]["project"]["expected_amount"]["currency"] = "yuan"
    body["data"]["contacts"][0]["role"] = "boss<script>"
    answer = post_webhook(suite.api, "acme", secret, body)
    assert answer.status == 422
    errors = answer.json()["errors"]
    by_loc = {e["loc"]: e for e in errors}
    assert by_loc["body.data.customer.registry_ids.0"]["reason"] == "check_digit"
    assert by_loc["body.data.project.expected_amount.currency"]["type"] == "string_pattern_mismatch"
    assert by_loc["body.data.contacts.0.role"]["type"] == "enum"
    assert b"<script>" not in answer.body and b"yuan" not in answer.body


def test_two_megabyte_body_is_413_before_anything_else(suite):
    secret, _ = make_partner("acme")
    big = example()
    big["data"]["project"]["background"] = "x" * (2 * 1024 * 1024)
    answer = post_webhook(suite.api, "acme", secret, big)
    assert answer.status == 413


def test_invalid_json_is_400(suite):
    secret, _ = make_partner("acme")
    answer = post_webhook(suite.api, "acme", secret, b"{not json")
    assert answer.status == 400
    assert answer.json()["errors"] == [{"loc": "body", "type": "json_invalid"}]


def test_partner_isolation_other_partners_registration_is_404(suite):
    s1, k1 = make_partner("acme")
    s2, k2 = make_partner("globex")
    reg_id = post_webhook(suite.api, "acme", s1, example()).json()["id"]
    assert suite.api.get(f"/v1/registrations/{reg_id}", k2).status == 404
    assert suite.api.get("/v1/registrations", k2).json()["items"] == []
    assert suite.api.get(f"/v1/registrations/{reg_id}", k1).status == 200
    assert suite.api.get(f"/v1/registrations/{reg_id}").status == 401
    assert suite.api.get(f"/v1/registrations/{reg_id}", "drk_not_a_key").status == 401


def test_rep_registers_directly_with_idempotency_key(suite):
    key = make_user("rep-1", "rep", team="south")
    body = example()["data"]
    first = suite.api.post("/v1/registrations", body, key, headers={"Idempotency-Key": "k-1"})
    again = suite.api.post("/v1/registrations", body, key, headers={"Idempotency-Key": "k-1"})
    assert first.status == 202 and again.json() == first.json()
    reg = suite.api.get(f"/v1/registrations/{first.json()['id']}", key).json()
    assert reg["source"] == "rep" and reg["submitter"] == {"kind": "user", "id": "rep-1"}
    assert reg["team_id"] == "south"


def test_storage_outage_is_503_with_retry_after(suite, monkeypatch):
    from chalicelib import settings
    from chalicelib.store import aws, models

    secret, _ = make_partner("acme")
    from chalicelib.store import directory

    directory.partner_secrets("acme")  # cached, so only the write meets the outage
    # Point storage at a loopback port bound but not listening: it refuses connections, and it stays ours for the
    # whole request (a port closed first could be taken meanwhile by another xdist worker's server).
    import socket

    dead_socket = socket.socket()
    dead_socket.bind(("127.0.0.1", 0))
    dead = dead_socket.getsockname()[1]
    monkeypatch.setenv("DEALREG_AWS_ENDPOINT_URL", f"http://127.0.0.1:{dead}")
    settings.reset()
    models.bind()
    try:
        answer = post_webhook(suite.api, "acme", secret, example())
        assert answer.status == 503
        assert answer.headers["retry-after"] == "5"
    finally:
        dead_socket.close()
        monkeypatch.undo()
        settings.reset()
        models.bind()
        aws.forget_clients()


def test_a_warm_webhook_runs_no_import_statement_in_the_intake_path(suite, monkeypatch):
    """Issue 15 item 2, session 7: an import statement costs ~8,000 instructions per call even for a loaded module;
    the intake path looks its lazily imported modules up once (handlers/intake.py, store/registrations.py, http)."""
    import builtins

    secret, _ = make_partner("acme")
    assert post_webhook(suite.api, "acme", secret, example(external_ref="warm-1")).status == 202  # first: imports
    seen: list[str] = []
    original = builtins.__import__

    def recording(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002 - __import__'s own names
        seen.append(f"{(globals or {}).get('__name__')}: {name}")
        return original(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", recording)
    answer = post_webhook(suite.api, "acme", secret, example(external_ref="warm-2"))
    monkeypatch.setattr(builtins, "__import__", original)
    assert answer.status == 202, answer.body
    assert seen, "the recorder saw no import at all: it did not observe the request"
    ours = ("chalicelib.handlers.intake:", "chalicelib.store.registrations:", "chalicelib.http:",
            "chalicelib.store.directory:")  # session 8: partner_secrets imported clock on every call
    # datetime.strftime (C) imports "time" through __import__ with its caller's globals: not an import statement
    assert [line for line in seen if line.startswith(ours) and not line.endswith(": time")] == []


def test_the_signature_check_reads_three_headers_in_any_case(suite, monkeypatch):
    """Session 7: the check gets the three Standard Webhooks headers, read once from the case-insensitive request
    headers, not every header of the request lower-cased; a sender writing them in another case still passes."""
    import connectors.standard_webhooks as sw

    secret, _ = make_partner("acme")
    raw = json.dumps(example(external_ref="case-1")).encode()
    headers = {name.title(): value for name, value in signed_headers(secret, raw).items()}  # Webhook-Id, ...
    given: list[dict] = []
    original = sw.verify
    monkeypatch.setattr(sw, "verify", lambda secrets, hdrs, *a, **k: given.append(dict(hdrs)) or original(
        secrets, hdrs, *a, **k))
    answer = suite.api.request("POST", "/v1/partners/acme/opportunities", raw,
                               headers={**headers, "X-Forwarded-For": "127.0.0.1", "User-Agent": "partner-crm/1.0"})
    assert answer.status == 202, answer.body
    assert [sorted(h) for h in given] == [["webhook-id", "webhook-signature", "webhook-timestamp"]]
    assert given[0]["webhook-id"] == headers["Webhook-Id"]
    missing = {k: v for k, v in signed_headers(secret, raw).items() if k != "webhook-timestamp"}
    assert suite.api.request("POST", "/v1/partners/acme/opportunities", raw, headers=missing).status == 401
