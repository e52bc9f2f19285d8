"""Admin API and pages (issue 18): the directory read-only, parked deliveries with replay, the rules in force;
admins only, through the API's own routes."""
from __future__ import annotations

import re

import pytest

from tests.functional.helpers import make_partner, make_user


@pytest.fixture
def parked(suite):
    """One delivery parked after its retries ran out."""
    from chalicelib.clock import now
    from chalicelib.domain.notifications import Delivery, Message, delivery_id
    from chalicelib.store import notifications

    d = Delivery(id=delivery_id("reg_x:3", "user:rita", "email"), event_id="reg_x:3", event_type="registration.approved", recipient="user:rita",
                 channel="email", locale="zh-CN", due_at=now(), message=Message("报备已批准：甲公司", "…"))
    item = notifications.create([d], {}, now=now())[0]
    assert notifications.park(item, now=now(), reason="smtp_refused")
    return item.id


def test_admin_api_is_for_admins_and_shows_no_secrets(suite, parked):
    admin, boss = make_user("root", "admin"), make_user("boss", "manager", "channel")
    make_user("rita", "rep", "channel")
    make_partner("acme")
    api = suite.api
    d = api.get("/v1/admin/directory", admin)
    assert d.status == 200, d.body
    body = d.json()
    assert {u["id"] for u in body["users"]} == {"root", "boss", "rita"}
    assert [t["id"] for t in body["teams"]] == ["channel"] and [p["id"] for p in body["partners"]] == ["acme"]
    assert b"drk_" not in d.body and b"whsec_" not in d.body
    for path in ("/v1/admin/directory", "/v1/admin/notifications/parked", "/v1/admin/rules"):
        assert api.get(path, boss).status == 403
        assert api.get(path).status == 401
    assert api.post(f"/v1/admin/notifications/{parked}/replay", {}, boss).status == 403
    rules = {r["name"]: r for r in api.get("/v1/admin/rules", admin).json()["rules"]}
    assert set(rules) == {"ownership", "dedup", "routing", "workflow", "pipeline"}
    assert rules["pipeline"]["configured"] is False and rules["pipeline"]["schema_file"] == "pipeline_rules.v1.json"
    assert [s["key"] for s in rules["pipeline"]["document"]["stages"]][0] == "lead"


def test_replay_puts_a_parked_delivery_back_once(suite, parked):
    from chalicelib.store import notifications

    admin = make_user("root", "admin")
    listed = suite.api.get("/v1/admin/notifications/parked", admin).json()["items"]
    assert [(i["id"], i["last_error"], i["attempts"]) for i in listed] == [(parked, "smtp_refused", 1)]
    assert listed[0]["recipient"] == {"kind": "user", "id": "rita"}  # a party is {kind, id} (issue 12 item 16)
    assert suite.api.post(f"/v1/admin/notifications/{parked}/replay", {}, admin).status == 200
    item = notifications.get(parked)
    assert item.state == "pending" and item.attempts == 0 and item.lane.startswith("due#")
    assert suite.api.post(f"/v1/admin/notifications/{parked}/replay", {}, admin).status == 409  # not parked now
    assert suite.api.post("/v1/admin/notifications/dlv_nope/replay", {}, admin).status == 404
    assert suite.api.get("/v1/admin/notifications/parked", admin).json()["items"] == []


def test_console_admin_pages(suite, parked):
    from tests.functional.console_client import ConsoleClient

    admin = make_user("root", "admin")
    make_user("rita", "rep", "channel")
    c = ConsoleClient(suite.api.base)
    c.login(admin)
    status, _, page = c.get("/console/admin")
    assert status == 200 and 'data-id="rita" data-active="true"' in page and "dealreg users" in page
    status, _, page = c.get("/console/admin/rules")
    assert status == 200 and 'id="rules-pipeline"' in page and "pipeline_rules.v1.json" in page
    status, _, page = c.get("/console/admin/parked")
    assert status == 200 and f'data-id="{parked}"' in page and "smtp_refused" in page
    # replay without the CSRF token is refused; with it, the delivery leaves the parked list
    assert c.post(f"/console/admin/parked/{parked}/replay", {})[0] == 403
    status, headers, _ = c.post(f"/console/admin/parked/{parked}/replay", {"csrf": c.csrf(page)})
    assert status == 303 and "m=done" in headers["location"]
    assert f'data-id="{parked}"' not in c.get("/console/admin/parked")[2]
    rep = ConsoleClient(suite.api.base)
    rep.login(make_user("ralph", "rep", "channel"))
    assert rep.get("/console/admin")[0] == 403 and rep.get("/console/admin/rules")[0] == 403
    assert 'href="/console/admin"' not in rep.get("/console/registrations")[2]
    assert re.search(r'href="/console/admin"', c.get("/console/registrations")[2])
