"""The operator CLI against the running suite, role-based listing, and idempotency-key expiry."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.functional.helpers import example, make_partner, make_user, post_webhook


def test_cli_creates_a_partner_whose_secret_signs_a_webhook_that_the_cli_sends(suite, capsys, tmp_path):
    from infra.cli import main

    assert main(["partners", "create", "Acme Systems 上海", "--id", "acme-cli", "--tier", "gold"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["id"] == "acme-cli" and created["webhook_secret"].startswith("whsec_")
    body = tmp_path / "opp.json"
    body.write_text(json.dumps(example()))
    assert main(["webhook", "send", str(body), "--partner", "acme-cli", "--secret", created["webhook_secret"],
                 "--url", suite.api.base, "--webhook-id", "msg_cli_1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HTTP 202 webhook-id=msg_cli_1")
    reg_id = json.loads(out.splitlines()[1])["id"]
    assert suite.api.get(f"/v1/registrations/{reg_id}", created["api_key"]).json()["partner_id"] == "acme-cli"
    # a wrong secret is refused and the command says so with a non-zero exit
    other = make_partner("other")[0]
    assert main(["webhook", "send", str(body), "--partner", "acme-cli", "--secret", other,
                 "--url", suite.api.base]) == 1
    assert capsys.readouterr().out.startswith("HTTP 401")


def test_cli_users_need_an_existing_team(suite, capsys):
    from infra.cli import main

    assert main(["users", "create", "Wang Lei", "--role", "rep", "--team", "nowhere"]) == 2
    assert main(["teams", "create", "South China", "--id", "south"]) == 0
    assert main(["users", "create", "Wang Lei", "--role", "manager", "--team", "south", "--id", "wl"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["api_key"].startswith("drk_")


def test_reps_managers_and_admins_see_what_their_role_allows(suite):
    rep1 = make_user("rep-1", "rep", team="south")
    rep2 = make_user("rep-2", "rep", team="north")
    mgr = make_user("mgr-south", "manager", team="south")
    admin = make_user("root", "admin")
    r1 = suite.api.post("/v1/registrations", example()["data"], rep1).json()["id"]
    r2 = suite.api.post("/v1/registrations", example(external_ref="other")["data"], rep2).json()["id"]
    assert [r["id"] for r in suite.api.get("/v1/registrations", rep1).json()["items"]] == [r1]
    assert suite.api.get(f"/v1/registrations/{r2}", rep1).status == 404
    assert [r["id"] for r in suite.api.get("/v1/registrations", mgr).json()["items"]] == [r1]
    assert suite.api.get(f"/v1/registrations/{r2}", mgr).status == 404
    assert suite.api.get("/v1/registrations?team=north", mgr).status == 403
    listed = suite.api.get("/v1/registrations?status=submitted", admin).json()["items"]
    assert {r["id"] for r in listed} == {r1, r2}
    assert suite.api.get("/v1/registrations?status=bogus", admin).status == 422
    # a partner cannot use the rep route
    _, partner_key = make_partner("acme")
    assert suite.api.post("/v1/registrations", example()["data"], partner_key).status == 403


def test_listing_paginates_with_a_cursor(suite):
    secret, key = make_partner("acme")
    ids = [post_webhook(suite.api, "acme", secret, example(external_ref=f"ref-{i}")).json()["id"] for i in range(5)]
    seen, cursor = [], None
    for _ in range(5):
        page = suite.api.get("/v1/registrations?limit=2" + (f"&cursor={cursor}" if cursor else ""), key).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert suite.api.get("/v1/registrations?cursor=%%%", key).status == 422
    # a well-formed cursor from another partner's listing is refused, not run against their partition
    import base64
    import json as _json

    forged = base64.urlsafe_b64encode(_json.dumps({"id": {"S": ids[0]}, "submitter_id": {"S": "globex"},
                                                  "created_at": {"S": "2026-01-01"}}).encode()).decode()
    assert suite.api.get(f"/v1/registrations?cursor={forged}", key).status == 422
    assert suite.api.get("/v1/registrations?cursor=" + base64.urlsafe_b64encode(b"[1]").decode(), key).status == 422
    assert suite.api.get("/v1/registrations?limit=0", key).status == 422


def test_an_expired_webhook_id_is_forgotten(suite):
    from chalicelib import clock

    frozen = clock.FrozenClock(datetime.now(UTC))
    clock.set_clock(frozen)
    secret, key = make_partner("acme")
    body = example(external_ref=None)
    first = post_webhook(suite.api, "acme", secret, body, msg_id="msg_ttl", ts=int(frozen.now().timestamp()))
    frozen.advance(days=7, seconds=1)
    again = post_webhook(suite.api, "acme", secret, body, msg_id="msg_ttl", ts=int(frozen.now().timestamp()))
    assert first.status == again.status == 202
    assert first.json()["id"] != again.json()["id"]
    frozen.advance(seconds=-1)  # within the TTL, the same id is still remembered (checked on read)
    within = post_webhook(suite.api, "acme", secret, body, msg_id="msg_ttl2", ts=int(frozen.now().timestamp()))
    replay = post_webhook(suite.api, "acme", secret, body, msg_id="msg_ttl2", ts=int(frozen.now().timestamp()))
    assert within.json() == replay.json()
    assert timedelta(days=7).total_seconds() == 604800
