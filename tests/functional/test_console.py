"""The console over HTTP (no browser): login, cookies, CSRF, CSP, roles, and the partner's register form
reaching the same intake route as the webhook. The browser tests (tests/browser) drive the same pages."""
from __future__ import annotations

import re

import pytest

from tests.functional.console_client import ConsoleClient
from tests.functional.helpers import make_partner, make_user


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
    status, _, page = c.get("/console/registrations")
    assert status == 200 and people["acme"] not in page and "acme" in page


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
