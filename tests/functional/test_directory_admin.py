"""Directory admin (issue 12 items 2 and 10, issue 13 item 19): no partner enumeration, refuse overwrites,
team managers, deactivation that takes effect at once, key and secret rotation with a grace period."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from infra.cli import main
from tests.functional.helpers import example, make_partner, make_user, post_webhook, signed_headers


@pytest.fixture(autouse=True)
def _no_registry(suite, monkeypatch):
    from chalicelib import settings
    from chalicelib.store import aws

    monkeypatch.setenv("DEALREG_REGISTRY_PROVIDERS", "")
    settings.reset()
    aws.forget_secrets()
    yield
    settings.reset()
    aws.forget_secrets()


def _cli(capsys, *argv) -> tuple[int, dict | list | None, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    try:
        value = json.loads(out.out) if out.out.strip() else None
    except ValueError:
        value = None
    return code, value, out.err


def test_unknown_partner_bad_signature_and_deactivated_partner_get_the_same_answer(suite, capsys):
    secret, _ = make_partner("acme")
    raw = json.dumps(example()).encode()
    unknown = suite.api.request("POST", "/v1/partners/nobody/opportunities", raw, headers=signed_headers(secret, raw))
    bad = suite.api.request("POST", "/v1/partners/acme/opportunities", raw,
                            headers=signed_headers("whsec_" + "A" * 43, raw))
    assert unknown.status == bad.status == 401
    assert unknown.body == bad.body  # nothing tells a known id from an unknown one
    # WHEN the partner is deactivated, its correctly signed webhooks are refused the same way
    assert post_webhook(suite.api, "acme", secret, example(external_ref="before")).status == 202
    code, _, _ = _cli(capsys, "partners", "deactivate", "acme")
    assert code == 0
    refused = post_webhook(suite.api, "acme", secret, example(external_ref="after"))
    assert refused.status == 401 and refused.body == bad.body


def test_creating_an_existing_team_user_or_partner_is_refused_without_a_traceback(suite, capsys):
    make_user("boss", "manager", team="south")
    code, _, err = _cli(capsys, "teams", "create", "Other South", "--id", "south")
    assert code == 2 and "already_exists" in err and "Traceback" not in err
    from chalicelib.store import directory

    assert directory.get_team("south").manager_ids == ["boss"]  # not wiped
    assert directory.get_team("south").name == "Team south"
    code, _, err = _cli(capsys, "users", "create", "Boss Again", "--role", "rep", "--id", "boss")
    assert code == 2 and "already_exists" in err
    assert directory.get_user("boss").role == "manager"
    make_partner("acme")
    code, _, err = _cli(capsys, "partners", "create", "Acme 2", "--id", "acme")
    assert code == 2 and "already_exists" in err
    # unknown ids answer 2 with a message too
    for argv in (["teams", "update", "nope", "--name", "x"], ["users", "deactivate", "nope"],
                 ["users", "rotate-key", "nope"], ["partners", "rotate-secret", "nope"],
                 ["partners", "deactivate", "nope"], ["teams", "add-manager", "south", "nope"]):
        code, _, err = _cli(capsys, *argv)
        assert code == 2 and "not_found" in err, argv


def test_team_managers_are_added_and_removed_and_teams_updated(suite, capsys):
    make_user("boss", "manager", team="south")
    make_user("li", "manager", team="north")
    assert _cli(capsys, "teams", "add-manager", "south", "li")[1]["manager_ids"] == ["boss", "li"]
    assert _cli(capsys, "teams", "add-manager", "south", "li")[1]["manager_ids"] == ["boss", "li"]  # once
    assert _cli(capsys, "teams", "remove-manager", "south", "boss")[1]["manager_ids"] == ["li"]
    assert _cli(capsys, "teams", "remove-manager", "south", "boss")[0] == 2
    assert _cli(capsys, "teams", "update", "south", "--name", "华南区", "--territory", "广东")[0] == 0
    teams = {t["id"]: t for t in _cli(capsys, "teams", "list")[1]}
    assert teams["south"] == {"id": "south", "name": "华南区", "territory": "广东", "manager_ids": ["li"], "active": True}
    from chalicelib.services.directory import audit

    changes = [(e["action"], e["detail"]) for e in audit() if e["object"] == {"kind": "team", "id": "south"}]
    assert ("team.updated", {"add_manager": "li"}) in changes and ("team.updated", {"remove_manager": "boss"}) in changes
    assert ("team.updated", {"name": "华南区", "territory": "广东"}) in changes  # every change audited
    users = {u["id"]: u for u in _cli(capsys, "users", "list", "--team", "north")[1]}
    assert set(users) == {"li"} and users["li"]["role"] == "manager"


def test_a_deactivated_users_key_stops_at_once_and_a_rotated_key_replaces_the_old(suite, capsys):
    key = make_user("wang", "rep", team="south")
    assert suite.api.get("/v1/registrations", key).status == 200
    code, value, _ = _cli(capsys, "users", "rotate-key", "wang")
    assert code == 0
    new_key = value["api_key"]
    assert suite.api.get("/v1/registrations", key).status == 401
    assert suite.api.get("/v1/registrations", new_key).status == 200
    assert _cli(capsys, "users", "deactivate", "wang")[0] == 0
    assert suite.api.get("/v1/registrations", new_key).status == 401
    assert {u["id"]: u["active"] for u in _cli(capsys, "users", "list")[1]}["wang"] is False


def test_a_rotated_partner_secret_keeps_the_old_one_for_the_grace_period_only(suite, capsys):
    from chalicelib import clock

    old, _ = make_partner("acme")
    code, value, _ = _cli(capsys, "partners", "rotate-secret", "acme", "--grace-hours", "1")
    assert code == 0 and value["previous_valid_until"]
    new = value["webhook_secret"]
    assert post_webhook(suite.api, "acme", old, example(external_ref="a")).status == 202
    assert post_webhook(suite.api, "acme", new, example(external_ref="b")).status == 202
    # WHEN the grace period has passed (the server's clock: an hour and a bit later)
    later = clock.FrozenClock(clock.now() + timedelta(hours=1, minutes=1))
    clock.set_clock(later)
    try:
        raw = json.dumps(example(external_ref="c")).encode()
        ts = int(later.now().timestamp())
        stale_secret = suite.api.request("POST", "/v1/partners/acme/opportunities", raw,
                                         headers=signed_headers(old, raw, ts=ts))
        fresh = suite.api.request("POST", "/v1/partners/acme/opportunities", raw,
                                  headers=signed_headers(new, raw, ts=ts))
    finally:
        clock.set_clock(clock.SystemClock())
    assert stale_secret.status == 401 and fresh.status == 202
    # a second rotation drops the retired secret from the store
    from chalicelib.store import directory

    directory.rotate_partner_secret("acme", now=later.now())
    assert old not in json.dumps(directory.aws.secret_json(
        directory.settings_mod.get().partner_secret_name("acme")))
    listed = {p["id"]: p for p in _cli(capsys, "partners", "list")[1]}
    assert listed["acme"]["active"] is True and "whsec_" not in json.dumps(listed)


# --- issue 12 item 9: a reused idempotency key with another body is refused, never answered as a replay ---

def test_the_same_idempotency_key_with_another_body_is_422_and_the_same_body_replays(suite):
    key = make_user("wang", "rep", team="south")
    first = example(external_ref="IDEM-1")["data"]
    second = example(external_ref="IDEM-2")["data"]
    second["customer"]["name"] = "北京字节跳动科技有限公司"
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "order-42"}
    a = suite.api.request("POST", "/v1/registrations", first, headers=headers)
    replay = suite.api.request("POST", "/v1/registrations", first, headers=headers)
    other = suite.api.request("POST", "/v1/registrations", second, headers=headers)
    assert a.status == replay.status == 202 and a.json() == replay.json()
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused"
    assert other.json()["errors"] == [{"loc": "header.idempotency-key", "type": "idempotency_key_reused"}]
    # the same for a replayed webhook-id whose body differs
    secret, _ = make_partner("acme")
    raw1 = json.dumps(example(external_ref="W-1")).encode()
    raw2 = json.dumps(example(external_ref="W-2")).encode()
    h1 = signed_headers(secret, raw1, msg_id="msg_same")
    h2 = signed_headers(secret, raw2, msg_id="msg_same")
    assert suite.api.request("POST", "/v1/partners/acme/opportunities", raw1, headers=h1).status == 202
    got = suite.api.request("POST", "/v1/partners/acme/opportunities", raw2, headers=h2)
    assert got.status == 422 and got.json()["errors"][0]["loc"] == "header.webhook-id"
    # an update reusing the registration's webhook-id is refused too, and changes nothing
    update = example(external_ref="W-1")
    update["type"] = "opportunity.updated"
    update["data"]["project"]["title"] = "changed"
    raw3 = json.dumps(update).encode()
    got = suite.api.request("POST", "/v1/partners/acme/opportunities", raw3,
                            headers=signed_headers(secret, raw3, msg_id="msg_same"))
    assert got.status == 422


# --- issue 12 item 16: an admin's GET /v1/registrations without a filter lists everything -------------------

def test_an_admin_lists_every_registration_without_a_filter(suite):
    admin = make_user("root", "admin")
    rep = make_user("wang", "rep", team="south")
    secret, _ = make_partner("acme")
    ids = {suite.api.post("/v1/registrations", example(external_ref=f"R-{i}")["data"], rep).json()["id"]
           for i in range(3)}
    ids.add(post_webhook(suite.api, "acme", secret, example(external_ref="P-1")).json()["id"])
    seen, cursor = set(), None
    for _ in range(10):
        page = suite.api.get("/v1/registrations?limit=2" + (f"&cursor={cursor}" if cursor else ""), admin).json()
        seen |= {r["id"] for r in page["items"]}
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == ids


# --- issue 12 item 16: limit_exceeded always names the limit (approval too, not only ownership routes) -------

def test_an_approval_over_the_holding_limit_names_the_limit(suite, monkeypatch):
    from chalicelib import settings

    monkeypatch.setenv("DEALREG_OWNERSHIP_RULES", json.dumps({"role_limits": {"rep": 1}}))
    settings.reset()
    boss = make_user("boss", "manager", team="south")
    wang = make_user("wang", "rep", team="south")
    first = suite.api.post("/v1/registrations", example(external_ref="L-1")["data"], wang).json()["id"]
    data = example(external_ref="L-2")["data"]
    data["customer"] = {"name": "北京字节跳动科技有限公司", "country": "CN"}
    second = suite.api.post("/v1/registrations", data, wang).json()["id"]
    suite.runner.pump()
    assert suite.api.post(f"/v1/registrations/{first}/approve", {"reason": "ok"}, boss).status == 200
    refused = suite.api.post(f"/v1/registrations/{second}/approve", {"reason": "ok"}, boss)
    assert refused.status == 409 and refused.json()["code"] == "limit_exceeded"
    assert refused.json()["errors"] == [{"loc": "limit.role:rep", "type": "limit_exceeded"}]
    assert "role:rep = 1" in refused.json()["message"]
