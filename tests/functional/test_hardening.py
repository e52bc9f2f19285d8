"""Hostile input at the HTTP edge (issue 13 items 18, 19, 20, 23; issue 12 items 3/16, the error body).

Every refusal answers 4xx in the product's error shape ``{code, message, errors}`` and never echoes a
credential; bodies are parsed only after the caller is known to be allowed.
"""
from __future__ import annotations

import base64
import json

import pytest

from tests.functional.helpers import EXAMPLE, example, make_partner, make_user, post_webhook, signed_headers
from tests.functional.ownership_world import granted, make_world

DEEP = ("[" * 5000 + "]" * 5000).encode()


def _shape(answer, status: int, code: str | None = None) -> dict:
    assert answer.status == status, (answer.status, answer.body[:300])
    body = answer.json()
    assert set(body) == {"code", "message", "errors"}, body
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def world(suite):
    return make_world(suite)


# --- item 18: nesting, header lengths, cursors ---------------------------------------------------------------

def test_json_nested_thousands_deep_is_a_400_on_the_signed_webhook(suite):
    secret, _ = make_partner("acme")
    deep_object = ('{"type": "opportunity.registered", "data": ' + "[" * 3000 + "]" * 3000 + "}").encode()
    for body in (DEEP, deep_object):
        answer = suite.api.request("POST", "/v1/partners/acme/opportunities", body,
                                   headers=signed_headers(secret, body))
        _shape(answer, 400, "json_too_deep")


def test_json_nested_thousands_deep_is_a_400_on_rep_routes(suite, world):
    reg_id = world.submit()
    for method, path in (("POST", "/v1/registrations"), ("PATCH", f"/v1/registrations/{reg_id}"),
                         ("POST", "/v1/duplicates/check"), ("POST", "/v1/subscriptions")):
        answer = suite.api.request(method, path, DEEP, headers={"Authorization": f"Bearer {world.keys['wang']}"})
        _shape(answer, 400, "json_too_deep")


def test_approve_parses_no_body_for_a_caller_who_may_not_decide(suite, world):
    reg_id = world.submit()
    # a rep may not decide: refused before the body is read, so a hostile body changes nothing
    answer = suite.api.request("POST", f"/v1/registrations/{reg_id}/approve", DEEP,
                               headers={"Authorization": f"Bearer {world.keys['zhao']}"})
    _shape(answer, 404, "not_found")
    answer = suite.api.request("POST", f"/v1/registrations/{reg_id}/approve", DEEP,
                               headers={"Authorization": f"Bearer {world.keys['admin']}"})
    assert answer.status in (400, 409), answer.body  # an admin reaches the parser (or the state machine first)
    _shape(answer, answer.status)


def test_a_webhook_id_longer_than_the_bound_is_a_400_before_anything_is_keyed(suite):
    secret, _ = make_partner("acme")
    body = json.dumps(EXAMPLE).encode()
    answer = post_webhook(suite.api, "acme", secret, body, msg_id="msg_" + "x" * 3000)
    err = _shape(answer, 400, "header_too_long")
    assert err["errors"] == [{"loc": "header.webhook-id", "type": "string_too_long"}]


def test_duplicate_json_keys_are_refused(suite):
    secret, _ = make_partner("acme")
    text = json.dumps(EXAMPLE)
    body = text.replace('"type": "opportunity.registered"',
                        '"type": "opportunity.registered", "type": "opportunity.registered"', 1).encode()
    assert body != text.encode()
    answer = post_webhook(suite.api, "acme", secret, body)
    _shape(answer, 400, "json_duplicate_key")


def _cursor(key) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def test_tampered_cursors_are_422_never_500(suite, world):
    for _ in range(3):
        world.submit()
    first = suite.api.get("/v1/registrations?limit=1", world.keys["wang"]).json()
    real = json.loads(base64.urlsafe_b64decode(first["next_cursor"]))
    assert set(real) == {"id", "submitter_id", "created_at"}
    missing_range = {k: v for k, v in real.items() if k != "created_at"}
    nested = "[" * 5000 + "]" * 5000
    for cursor in (_cursor(missing_range), _cursor({**real, "extra": {"S": "x"}}), _cursor(json.loads("[" * 300 + "]" * 300)),
                   "%%%"):
        answer = suite.api.get(f"/v1/registrations?limit=1&cursor={cursor}", world.keys["wang"])
        _shape(answer, 422, "validation_failed")
    for cursor in (base64.urlsafe_b64encode(nested.encode()).decode(), "x" * 5000):  # bounded before decoding
        answer = suite.api.get(f"/v1/registrations?limit=1&cursor={cursor}", world.keys["wang"])
        _shape(answer, 400, "query_too_long")
    # the real one still pages on
    answer = suite.api.get(f"/v1/registrations?limit=1&cursor={first['next_cursor']}", world.keys["wang"])
    assert answer.status == 200 and len(answer.json()["items"]) == 1


def test_overlong_path_ids_and_query_values_are_4xx_not_storage_errors(suite, world):
    admin = world.keys["admin"]
    for path in ("/v1/registrations/" + "r" * 3000, "/v1/registrations/" + "r" * 3000 + "/ownership"):
        _shape(suite.api.get(path, admin), 404, "not_found")
    _shape(world.post("/v1/registrations/" + "r" * 3000 + "/claim", "wang"), 404, "not_found")
    for query in ("owner=" + "o" * 3000, "team=" + "t" * 3000, "status=" + "s" * 3000):
        _shape(suite.api.get(f"/v1/registrations?{query}", admin), 400, "query_too_long")


# --- issue 12 items 3/16: the app's own refusals have the product shape and echo nothing -------------------

def test_unknown_route_405_and_415_have_the_error_shape_and_echo_no_credential(suite, world):
    key = world.keys["wang"]
    answers = [
        suite.api.request("GET", "/v1/nothing/here", headers={"Authorization": f"Bearer {key}"}),
        suite.api.request("GET", "/nothing", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=secretive"}),
        suite.api.request("DELETE", "/v1/registrations", headers={"Authorization": f"Bearer {key}"}),
        suite.api.request("POST", "/v1/registrations", b"<x/>",
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"}),
    ]
    for answer, status in zip(answers, (404, 404, 405, 415), strict=True):
        _shape(answer, status)
        assert key.encode() not in answer.body and b"secretive" not in answer.body
        assert not any(key in v or "secretive" in v for v in answer.headers.values())


# --- item 23: keys in a query string ------------------------------------------------------------------------

def test_an_api_key_in_the_query_string_is_refused_and_not_logged(suite, world, capfd):
    key = world.keys["wang"]
    for query in (f"api_key={key}", f"key={key}", f"token={key}", f"whatever={key}"):
        answer = suite.api.get(f"/v1/registrations?{query}")
        _shape(answer, 401, "credentials_in_query")
        # even with a valid header, a key in the URL is refused (it is now in someone's history and logs)
        answer = suite.api.get(f"/v1/registrations?{query}", key)
        _shape(answer, 401, "credentials_in_query")
    out, err = capfd.readouterr()
    assert "/v1/registrations?" in out + err  # the access log line is there …
    assert key not in out + err  # … without the key


def test_access_log_lines_drop_query_values():
    from infra.local.http_server import redacted_request_line

    assert redacted_request_line("GET /v1/x?api_key=drk_abc&limit=5 HTTP/1.1") == \
        "GET /v1/x?api_key=…&limit=… HTTP/1.1"
    assert redacted_request_line("GET /v1/x HTTP/1.1") == "GET /v1/x HTTP/1.1"


# --- item 19 (first half) and item 20: the pool belongs to its team; losers of a claim race get 409 ---------

def test_only_the_teams_reps_and_managers_claim_its_pooled_registration(suite, world):
    world.keys["nboss"] = make_user("nboss", "manager", "north")
    [reg_id] = granted(world, suite, None)
    for outsider in ("nboss", "zhao"):  # a manager and a rep of another team
        answer = world.post(f"/v1/registrations/{reg_id}/claim", outsider)
        _shape(answer, 403, "forbidden")
        _shape(suite.api.get(f"/v1/registrations/{reg_id}", world.keys[outsider]), 404, "not_found")
    world.keys["partner"] = make_partner("outsider")[1]
    for other_role in ("partner", "admin"):  # partners and admins do not claim (admins assign)
        _shape(world.post(f"/v1/registrations/{reg_id}/claim", other_role), 403, "forbidden")
    assert world.ownership(reg_id)["in_pool"] is True
    answer = world.post(f"/v1/registrations/{reg_id}/claim", "boss")  # the team's own manager may
    assert answer.status == 200, answer.body
    assert world.ownership(reg_id)["owner"] == {"kind": "user", "id": "boss"}


def test_claiming_what_a_teammate_just_claimed_is_409(suite, world):
    [reg_id] = granted(world, suite, None)
    assert world.post(f"/v1/registrations/{reg_id}/claim", "wang").status == 200
    _shape(world.post(f"/v1/registrations/{reg_id}/claim", "li"), 409)
    _shape(world.post(f"/v1/registrations/{reg_id}/claim", "zhao"), 404)  # another team learns nothing


def test_partners_create_checks_the_callback_url_like_notifications_set(suite, capsys):
    from chalicelib.store import directory
    from infra.cli import main

    for i, url in enumerate(("http://169.254.169.254/latest/meta-data", "https://10.1.2.3/hook", "ftp://127.0.0.1/x",
                             "http://[::ffff:169.254.169.254]/", "not a url")):
        assert main(["partners", "create", "Bad Callback", "--id", f"bad{i}", "--callback-url", url]) == 2, url
        assert "refused: webhook URL" in capsys.readouterr().err
        assert directory.get_partner(f"bad{i}") is None  # nothing was created
    assert main(["partners", "create", "Local Receiver", "--id", "good", "--callback-url",
                 "http://127.0.0.1:9/hook"]) == 0  # loopback http against the local stack, as notifications set
    assert directory.get_partner("good").callback_url == "http://127.0.0.1:9/hook"


def test_a_registration_whose_transaction_the_sdk_retried_after_committing_answers_202(suite, monkeypatch):
    """Under load the stand-in answered a committed TransactWriteItems after botocore's read timeout; the SDK's
    retry then failed every condition and intake answered 500 for a stored registration (bench/local_load)."""
    from pynamodb.connection.base import Connection

    secret, _ = make_partner("acme")
    original = Connection.transact_write_items

    def committed_then_retried(self, *args, **kwargs):
        original(self, *args, **kwargs)  # the attempt whose answer was lost
        return original(self, *args, **kwargs)  # the SDK's retry

    monkeypatch.setattr(Connection, "transact_write_items", committed_then_retried)
    body = example()  # one body: the replay carries the same bytes
    answer = post_webhook(suite.api, "acme", secret, body, msg_id="msg_retried")
    monkeypatch.setattr(Connection, "transact_write_items", original)
    assert answer.status == 202, answer.body
    reg_id = answer.json()["id"]
    replay = post_webhook(suite.api, "acme", secret, body, msg_id="msg_retried")
    assert (replay.status, replay.json()["id"]) == (202, reg_id)  # one registration, the replay finds it
