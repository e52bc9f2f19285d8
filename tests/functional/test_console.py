"""The console over HTTP (no browser): login, cookies, CSRF, CSP, roles, and the partner's register form
reaching the same intake route as the webhook. The browser tests (tests/browser) drive the same pages."""
from __future__ import annotations

import re

import pytest

from tests.functional.console_client import ConsoleClient
from tests.functional.helpers import EXAMPLE, make_partner, make_user


@pytest.fixture
def people(suite):
    from chalicelib.store import aws

    aws.forget_secrets()
    _, acme = make_partner("acme")
    _, other = make_partner("other")
    return {"acme": acme, "other": other, "rep": make_user("rita", "rep", "east"),
            "boss": make_user("boss", "manager", "east")}


def _client(suite, lang="en") -> ConsoleClient:
    return ConsoleClient(suite.api.base, lang)


def _register(c: ConsoleClient, **fields) -> tuple[int, dict, str]:
    _, _, page = c.get("/console/register")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)
    form = {"csrf": c.csrf(page), "nonce": nonce, "customer.name": "深圳市腾讯计算机系统有限公司",
            "customer.registry_ids.0.scheme": "uscc", "customer.registry_ids.0.value": "91440300708461136T",
            "customer.region": "广东省深圳市", "contacts.0.name": "王磊", "contacts.0.role": "decision_maker",
            "contacts.0.email": "wang.lei@example.com", "project.title": "数据中心网络升级",
            "project.expected_amount.amount": "3800000.00", "project.expected_amount.currency": "CNY",
            "project.expected_close_date": "2027-03-31", "project.products": "core-switch, sdn", **fields}
    return c.post("/console/register", {k: v for k, v in form.items() if v is not None})


def test_login_sets_a_hardened_session_cookie_and_pages_carry_a_strict_csp(suite, people):
    c = _client(suite)
    status, headers, page = c.get("/console/")
    assert status == 200 and 'name="api_key"' in page and 'type="password"' in page
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none': no script at all
    assert "default-src 'none'" in headers["content-security-policy"]
    c.login(people["acme"])
    session_cookie = c.cookies["dr_session"]
    assert people["acme"] not in session_cookie  # the API key itself never goes to the browser
    # the raw Set-Cookie attributes
    c2 = _client(suite)
    _, _, page = c2.get("/console/login")
    _, headers, _ = c2.post("/console/login", {"csrf": c2.csrf(page), "api_key": people["acme"]})
    assert {"HttpOnly", "Secure", "SameSite=Strict"} <= {p.strip() for p in headers["set-cookie"].split(";")}
    session_key = session_cookie.split(".")[0]
    for path in ("/console/registrations", "/console/register", "/console/precheck"):
        status, _, page = c.get(path)
        # neither the API key nor the session key is ever in a page (forms carry an HMAC of it)
        assert status == 200 and people["acme"] not in page and session_key not in page and "acme" in page


def test_bad_key_and_missing_csrf_are_refused(suite, people):
    c = _client(suite)
    _, _, page = c.get("/console/login")
    status, _, page = c.post("/console/login", {"csrf": c.csrf(page), "api_key": "drk_nope"})
    assert status == 401 and "Unknown, revoked or inactive key" in page
    status, _, _ = c.post("/console/login", {"api_key": people["acme"]})  # no CSRF token
    assert status == 403 and "dr_session" not in c.cookies
    c.login(people["acme"])
    status, _, page = _register(c, csrf="forged")
    assert status == 403 and "CSRF" in page
    status, _, _ = c.post("/console/register", {"customer.name": "x"})
    assert status == 403
    # a cross-site Origin is refused even with the token
    _, _, page = c.get("/console/register")
    status, _, _ = c.post("/console/logout", {"csrf": c.csrf(page)}, headers={"Origin": "http://evil.example"})
    assert status == 403


def test_partner_registers_through_the_form_and_errors_land_beside_their_fields(suite, people):
    c = _client(suite)
    c.login(people["acme"])
    # WHEN the form misses the customer name and has a malformed email
    status, _, page = _register(c, **{"customer.name": None, "contacts.0.email": "not-an-email"})
    # THEN the API's loc paths come back beside those fields, and the typed values are kept
    assert status == 422
    assert 'id="e-customer.name" data-loc="body.data.customer.name"' in page
    assert 'id="e-contacts.0.email" data-loc="body.data.contacts.0.email"' in page
    assert 'value="王磊"' in page
    # WHEN it is complete THEN it is stored as the partner's, through the partner intake route
    status, headers, _ = _register(c)
    assert status == 303
    reg_id = re.search(r"/registrations/(reg_[0-9a-f]+)", headers["location"]).group(1)
    from chalicelib.store import registrations

    reg = registrations.get(reg_id)
    assert reg.partner_id == "acme" and reg.source.value == "partner" and reg.status.value == "submitted"
    _, _, page = c.get(f"/console/registrations/{reg_id}")
    assert 'data-status="submitted"' in page
    suite.runner.pump()
    _, _, page = c.get(f"/console/registrations/{reg_id}")
    assert 'id="status" data-status="pending_review"' in page


def test_partner_cannot_see_another_partners_registration_nor_the_queue_or_pool(suite, people):
    acme, other = _client(suite), _client(suite)
    acme.login(people["acme"])
    other.login(people["other"])
    _, headers, _ = _register(acme)
    reg_id = headers["location"].rsplit("/", 1)[1].split("?")[0]
    status, _, page = other.get(f"/console/registrations/{reg_id}")
    assert status == 404 and "腾讯" not in page
    assert other.get("/console/queue")[0] == 403
    assert other.get("/console/pool")[0] == 403
    # a partner's approve is refused by the API's own rules
    _, _, page = other.get("/console/registrations")
    status, headers, _ = other.post(f"/console/registrations/{reg_id}/act", {"csrf": other.csrf(page), "op": "approve"})
    assert status == 303 and "e=" in headers["location"]
    from chalicelib.store import registrations

    assert registrations.get(reg_id).status.value == "submitted"


def test_logout_revokes_the_session_key(suite, people):
    c = _client(suite)
    c.login(people["rep"])
    stolen = dict(c.cookies)
    _, _, page = c.get("/console/registrations")
    status, headers, _ = c.post("/console/logout", {"csrf": c.csrf(page)})
    assert status == 303 and "dr_session" not in c.cookies
    replay = _client(suite)
    replay.cookies = stolen  # the old cookie, replayed: its key is revoked
    status, headers, _ = replay.get("/console/registrations")
    assert status == 303 and "/console/login" in headers["location"]


def test_precheck_answers_only_free_yours_or_protected(suite, people):
    c = _client(suite)
    c.login(people["acme"])
    _, _, page = c.get("/console/precheck")
    form = {"csrf": c.csrf(page), "customer.name": "深圳市腾讯计算机系统有限公司"}
    status, _, page = c.post("/console/precheck", form)
    assert status == 200 and 'data-answer="free"' in page


def test_language_follows_the_browser_and_can_be_switched(suite, people):
    c = _client(suite, lang="zh-CN,zh;q=0.9,en;q=0.5")
    _, _, page = c.get("/console/login")
    assert '<html lang="zh-CN">' in page and "登录" in page
    status, headers, _ = c.get("/console/lang/en?next=/console/login")
    assert status == 303 and headers["location"] == "/console/login"
    _, _, page = c.get("/console/login")
    assert '<html lang="en">' in page and "Log in" in page
    # an open redirect is not possible
    _, headers, _ = c.get("/console/lang/en?next=https://evil.example/")
    assert headers["location"] == "/console"


@pytest.fixture
def channel(suite):
    """Partners acme and other in the channel team that manager boss reviews."""
    from chalicelib.clock import now
    from chalicelib.store import aws, directory

    aws.forget_secrets()
    boss = make_user("boss", "manager", "channel")
    _, acme = directory.create_partner("acme", "Acme", now=now(), team_id="channel")
    _, other = directory.create_partner("other", "Other", now=now(), team_id="channel")
    return {"boss": boss, "acme": acme, "other": other}


def _act(c: ConsoleClient, reg_id: str, op: str, **form) -> str:
    _, _, page = c.get(f"/console/registrations/{reg_id}")
    status, headers, _ = c.post(f"/console/registrations/{reg_id}/act", {"csrf": c.csrf(page), "op": op, **form})
    assert status == 303
    return headers["location"]


def _reg_id(headers: dict) -> str:
    return re.search(r"/registrations/(reg_[0-9a-f]+)", headers["location"]).group(1)


def test_queue_lists_oldest_wait_first_with_the_conflict_mark(suite, channel):
    acme, other, boss = _client(suite), _client(suite), _client(suite)
    acme.login(channel["acme"])
    other.login(channel["other"])
    boss.login(channel["boss"])
    first = _reg_id(_register(acme)[1])
    suite.runner.pump()
    second = _reg_id(_register(other, **{"project.title": "同一客户的另一个项目"})[1])
    suite.runner.pump()
    status, _, page = boss.get("/console/queue")
    assert status == 200
    ids = re.findall(r'<li class="card reg" data-id="(reg_[0-9a-f]+)"', page)
    assert ids == [first, second]
    marked = re.findall(r'data-id="(reg_[0-9a-f]+)">\s*<a [^>]*><b>[^<]*</b></a>\s*<span class="mark conflict"', page)
    assert marked == [second]
    # the decision page shows the evidence the manager may see
    _, _, page = boss.get(f"/console/registrations/{second}")
    assert 'id="verdict-outcome"' in page and first in page
    # one level under the default routing rules: approving decides, nothing says it escalates
    assert 'id="approve-escalates"' not in page and "escalates to the next level" not in page


def test_decision_page_says_approval_escalates_only_when_a_second_level_waits(suite, channel, monkeypatch):
    import json

    from chalicelib import settings

    monkeypatch.setenv("DEALREG_ROUTING_RULES", json.dumps({
        "default": {"team_manager": True, "roles": ["admin"], "users": []},
        "default_second_level": {"min_amount": {"CNY": "1000000"},
                                 "approvers": {"team_manager": False, "roles": ["admin"], "users": []}}}))
    settings.reset()
    try:
        acme, boss = _client(suite), _client(suite)
        acme.login(channel["acme"])
        boss.login(channel["boss"])
        reg_id = _reg_id(_register(acme)[1])
        suite.runner.pump()
        _, _, page = boss.get(f"/console/registrations/{reg_id}")
        assert 'id="approve-escalates"' in page
    finally:
        monkeypatch.delenv("DEALREG_ROUTING_RULES")
        settings.reset()


def test_manager_escalates_from_the_decision_page_with_a_reason(suite, channel):
    acme, boss = _client(suite), _client(suite, "zh-CN")
    acme.login(channel["acme"])
    boss.login(channel["boss"])
    admin = _client(suite)
    admin.login(make_user("root", "admin"))
    reg_id = _reg_id(_register(acme)[1])
    suite.runner.pump()
    _, _, page = boss.get(f"/console/registrations/{reg_id}")
    assert 'id="btn-escalate"' in page and "升级审批" in page and 'id="reason-escalate" name="reason" type="text" required' in page
    _, _, partner_page = acme.get(f"/console/registrations/{reg_id}")
    assert 'id="btn-escalate"' not in partner_page  # the partner has no decision buttons
    assert "e=refused" in _act(boss, reg_id, "escalate")  # no reason: the API's 422, nothing written
    assert "m=done" in _act(boss, reg_id, "escalate", reason="请区域总监定夺")
    _, _, page = admin.get(f"/console/registrations/{reg_id}")
    assert "escalated from level 1 to level 2: 请区域总监定夺" in page
    _, _, partner_page = acme.get(f"/console/registrations/{reg_id}")
    assert "请区域总监定夺" not in partner_page  # staff's words are withheld from the partner (domain.visibility)
    assert 'id="btn-escalate"' not in page and 'id="btn-approve"' in page  # level 2 is the top
    assert "e=forbidden" in _act(boss, reg_id, "approve")  # the escalator decides no later level
    assert "m=done" in _act(admin, reg_id, "approve")


def test_partner_edits_withdraws_and_resubmits_after_a_reasoned_reject(suite, channel):
    acme, boss = _client(suite), _client(suite)
    acme.login(channel["acme"])
    boss.login(channel["boss"])
    reg_id = _reg_id(_register(acme)[1])
    suite.runner.pump()
    # a reject needs a reason: without one the API refuses and nothing changes
    assert "e=refused" in _act(boss, reg_id, "reject")
    assert "m=done" in _act(boss, reg_id, "reject", reason="金额需要核实", share_reason="yes")
    _, _, page = acme.get(f"/console/registrations/{reg_id}")  # shared with the partner: it sees why
    assert 'id="status" data-status="rejected"' in page and "金额需要核实" in page
    # the partner edits it (PATCH through the form) and resubmits
    _, _, page = acme.get(f"/console/registrations/{reg_id}/edit")
    assert re.search(r'value="3800000(\.00)?"', page)  # the amount as the API answers it (a JSON number)
    form = {m[0]: m[1] for m in re.findall(r'<input id="f-([^"]+)" name="[^"]+" type="[^"]+"(?: inputmode="decimal")? value="([^"]*)"', page)}
    selects = dict(re.findall(r'<select id="f-([^"]+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]+)" selected', page, re.S))
    form.update(selects)
    form["project.expected_amount.amount"] = "3500000.00"
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    status, headers, _ = acme.post(f"/console/registrations/{reg_id}/edit",
                                   {"csrf": acme.csrf(page), "version": version, **form})
    assert status == 303, headers
    from chalicelib.store import registrations

    assert str(registrations.get(reg_id).project.expected_amount.amount) == "3500000.00"
    assert "m=done" in _act(acme, reg_id, "resubmit")
    suite.runner.pump()
    assert registrations.get(reg_id).status.value == "pending_review"
    assert "m=done" in _act(acme, reg_id, "withdraw", reason="客户暂停项目")
    _, _, page = acme.get(f"/console/registrations/{reg_id}")
    assert 'id="status" data-status="withdrawn"' in page


def test_rep_sees_holding_room_logs_a_follow_up_and_the_due_time_moves(suite, channel):
    from chalicelib.store import ownership

    rita = make_user("rita", "rep", "channel")
    answer = suite.api.post("/v1/registrations", EXAMPLE["data"], rita)
    reg_id = answer.json()["id"]
    suite.runner.pump()
    assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, channel["boss"]).status == 200
    c = _client(suite)
    c.login(rita)
    _, _, page = c.get("/console/registrations?view=owned")
    assert 'id="holding" data-held="1" data-limit="50"' in page and reg_id in page
    _, _, page = c.get(f"/console/registrations/{reg_id}")
    assert 'id="protection-left"' in page
    before = ownership.holding(reg_id).timers.last_activity_at
    assert "m=done" in _act(c, reg_id, "followup", type="visit", note="拜访客户 CIO")
    assert ownership.holding(reg_id).timers.last_activity_at != before
    assert [f.note for f in ownership.follow_ups(reg_id)] == ["拜访客户 CIO"]


def test_pool_lists_unheld_reclaimed_registrations_with_filters_and_refuses_partners(suite, channel):
    rita, ralph = make_user("rita", "rep", "channel"), make_user("ralph", "rep", "channel")
    ids = {}
    for name, region in (("深圳市腾讯计算机系统有限公司", "广东省深圳市"), ("Acme Trading Ltd", "London")):
        data = {**EXAMPLE["data"], "customer": {"name": name, "region": region}, "external_ref": None}
        data.pop("external_ref")
        reg_id = suite.api.post("/v1/registrations", data, rita).json()["id"]
        suite.runner.pump()
        assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, channel["boss"]).status == 200
        assert suite.api.post(f"/v1/registrations/{reg_id}/release", {}, rita).status == 200
        ids[region] = reg_id
    c = _client(suite)
    c.login(ralph)
    _, _, page = c.get("/console/pool")
    assert set(re.findall(r'<li class="card reg" data-id="(reg_[0-9a-f]+)"', page)) == set(ids.values())
    _, _, page = c.get("/console/pool?region=%E5%B9%BF%E4%B8%9C")  # 广东
    assert re.findall(r'<li class="card reg" data-id="(reg_[0-9a-f]+)"', page) == [ids["广东省深圳市"]]
    _, _, page = c.get("/console/pool?q=acme")
    assert re.findall(r'<li class="card reg" data-id="(reg_[0-9a-f]+)"', page) == [ids["London"]]
    assert "王磊" not in page  # no contacts in the pool listing
    # The page is the API's pool listing: a rep of another team sees only their own team's pool (empty here).
    outsider = _client(suite)
    outsider.login(make_user("olga", "rep", "elsewhere"))
    _, _, page = outsider.get("/console/pool")
    assert re.findall(r'<li class="card reg" data-id="(reg_[0-9a-f]+)"', page) == []
    partner = _client(suite)
    partner.login(channel["acme"])
    assert partner.get("/console/pool")[0] == 403
