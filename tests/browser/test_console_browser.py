"""The console in a real browser (headless Chromium): a partner registers on a phone-width screen, a
manager approves from the queue, the partner sees ``approved``, another partner's pre-check answers
``protected`` (and nothing more), a rep claims from the pool. Screenshots: build/screenshots/."""
from __future__ import annotations

from urllib.parse import quote, urlparse

import pytest

from tests.browser.conftest import SHOTS
from tests.functional.helpers import make_user
from tests.functional.test_tender_register import demo  # noqa: F401  (the demo tender feeds fixture)

PHONE = {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True}


class Console:
    def __init__(self, driver, base: str) -> None:
        self.d = driver
        self.base = base

    def go(self, path: str) -> None:
        self.d.get(self.base + path)

    def css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.d.find_elements(By.CSS_SELECTOR, selector)

    def fill(self, name: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        el = self.css(f'[name="{name}"]')
        if el.tag_name == "select":
            Select(el).select_by_value(value)
        elif el.get_attribute("type") == "date":  # typing into a date input depends on the browser's locale
            self.d.execute_script("arguments[0].value = arguments[1]", el, value)
        else:
            el.clear()
            el.send_keys(value)

    def submit(self, selector: str) -> None:
        """Click a submit button and wait for the page it leads to."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        self.d.execute_script("window.__dealregOldPage = true")  # gone once the next document loads
        self.css(selector).click()

        def loaded(d):
            try:
                return d.execute_script("return !window.__dealregOldPage && document.readyState === 'complete'")
            except WebDriverException:
                return False

        WebDriverWait(self.d, 20).until(loaded)

    def login(self, key: str) -> None:
        self.go("/console/login")  # on the host, so its cookies can be dropped
        self.d.delete_all_cookies()
        self.go("/console/lang/en?next=/console/login")
        self.fill("api_key", key)
        self.submit("form.card button[type=submit]")
        assert urlparse(self.d.current_url).path == "/console/registrations", self.d.page_source[:500]

    def phone(self, on: bool) -> None:
        if on:
            self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
        else:
            self.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def no_horizontal_scroll(self) -> bool:
        return self.d.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    def shoot(self, name: str) -> None:
        """The current page in both languages, as build/screenshots/<name>-<lang>.png."""
        u = urlparse(self.d.current_url)
        here = u.path + (f"?{u.query}" if u.query else "")
        for lang in ("zh-CN", "en"):
            self.go(f"/console/lang/{lang}?next={quote(here, safe='')}")
            assert self.css("html").get_attribute("lang") == lang
            self.d.save_screenshot(str(SHOTS / f"{name}-{lang}.png"))


@pytest.fixture
def world(suite):
    from chalicelib.clock import now
    from chalicelib.store import aws, directory

    aws.forget_secrets()
    boss = make_user("boss", "manager", "channel")
    acme_secret, acme = directory.create_partner("acme", "Acme 渠道", now=now(), team_id="channel")
    _, other = directory.create_partner("other", "Other Partner", now=now(), team_id="channel")
    return {"boss": boss, "acme": acme, "acme_secret": acme_secret, "other": other,
            "rita": make_user("rita", "rep", "channel"), "ralph": make_user("ralph", "rep", "channel")}


def test_partner_registers_on_a_phone_manager_approves_partner_sees_approved(suite, world, browser):
    c = Console(browser, suite.api.base)
    c.go("/console/lang/en?next=/console/login")
    c.shoot("login")
    c.login(world["acme"])
    c.shoot("registrations-empty")

    # A partner registers on a 375 px wide screen: no horizontal scrolling, every field labelled
    c.phone(True)
    c.go("/console/register")
    assert c.no_horizontal_scroll()
    for field in c.all("form.form input:not([type=hidden]), form.form select, form.form textarea"):
        assert c.all(f'label[for="{field.get_attribute("id")}"]'), field.get_attribute("name")
    c.d.save_screenshot(str(SHOTS / "register-phone-en.png"))
    values = {"customer.name": "深圳市腾讯计算机系统有限公司", "customer.registry_ids.0.scheme": "uscc",
              "customer.registry_ids.0.value": "91440300708461136T", "customer.region": "广东省深圳市",
              "contacts.0.name": "王磊", "contacts.0.role": "decision_maker", "contacts.0.email": "wang@",
              "project.title": "数据中心网络升级", "project.expected_amount.amount": "3800000.00",
              "project.expected_amount.currency": "CNY", "project.expected_close_date": "2027-03-31"}
    for name, value in values.items():
        c.fill(name, value)
    c.submit("form.form button[type=submit]")
    # the API's loc comes back beside the field
    assert [e.get_attribute("data-loc") for e in c.all(".field .error")] == ["body.data.contacts.0.email"]
    assert c.no_horizontal_scroll()
    c.d.save_screenshot(str(SHOTS / "register-errors-phone-en.png"))
    c.fill("contacts.0.email", "wang.lei@example.com")
    c.submit("form.form button[type=submit]")
    assert c.css("#status").get_attribute("data-status") == "submitted"
    reg_id = urlparse(c.d.current_url).path.rsplit("/", 1)[1]
    c.phone(False)
    c.go("/console/register")
    c.shoot("register")

    suite.runner.pump()  # dedup -> auto-checks -> review
    c.go(f"/console/registrations/{reg_id}")
    assert c.css("#status").get_attribute("data-status") == "pending_review"
    c.shoot("registration-partner")
    c.go("/console/registrations")
    c.shoot("registrations")

    # The manager's queue shows it; the decision page has the evidence and the audit beside the buttons
    c.login(world["boss"])
    c.go("/console/queue")
    assert [e.get_attribute("data-id") for e in c.all("#queue li")] == [reg_id]
    c.shoot("queue")
    c.submit(f'#queue li[data-id="{reg_id}"] a')
    assert c.css("#verdict-outcome").text == "clear" and c.all("#history .timeline li")
    c.shoot("registration-manager")
    c.phone(True)
    assert c.no_horizontal_scroll() and c.css("#btn-approve").is_displayed()
    c.submit("#btn-approve")
    c.phone(False)
    assert c.css("#status").get_attribute("data-status") == "approved"
    suite.runner.pump()
    # the team's board counts it, with the same numbers as the API
    c.go("/console/board")
    shown = {e.get_attribute("data-stage"): int(e.get_attribute("data-count")) for e in c.all("#board .column")}
    api = {col["stage"]: col["count"] for col in suite.api.get("/v1/pipeline/board", world["boss"]).json()["columns"]}
    assert shown == api and shown["qualification"] == 1  # the form's default stage
    # its card moves stage by the button (the API's audited stage move); the columns follow after the stream
    card = f'#board li.deal[data-id="{reg_id}"]'
    assert c.css(card).get_attribute("data-stage") == "qualification"
    assert c.css(f"{card} [data-k=days_in_stage]").text == "0" and c.css(f"{card} [data-k=protection_left]").text.isdigit()
    from selenium.webdriver.support.ui import Select

    Select(c.css(f"#mv-{reg_id}")).select_by_value("proposal")
    c.submit(f"{card} .btn-move")
    assert "m=done" in c.d.current_url
    suite.runner.pump()
    c.go("/console/board")
    assert c.css(card).get_attribute("data-stage") == "proposal"
    shown = {e.get_attribute("data-stage"): int(e.get_attribute("data-count")) for e in c.all("#board .column")}
    api = {col["stage"]: col["count"] for col in suite.api.get("/v1/pipeline/board", world["boss"]).json()["columns"]}
    assert shown == api and shown["proposal"] == 1 and shown["qualification"] == 0
    c.shoot("board")
    # the cockpit's numbers are the API's; charts are inline SVG; usable at phone width
    c.go("/console/cockpit")
    ck = suite.api.get("/v1/pipeline/cockpit", world["boss"]).json()
    assert c.css('[data-kpi="submitted"]').text == str(ck["conversion"]["submitted"]) == "1"
    assert ck["conversion"]["approved"] == 1 and c.css('[data-kpi="approval_rate"]').text == "100.0%"
    week = ck["weeks"][-1]
    row = f'#weeks-table tr[data-week="{week["week"]}"]'
    assert c.css(f"{row} [data-k=new]").get_attribute("textContent") == str(week["new"]) == "1"
    review = next(s for s in ck["stages"] if s["stage"] == "review")
    assert c.css('#stages tr[data-stage="review"] [data-k=stays]').text == str(review["stays"]) == "1"
    assert len(c.all("svg.chart")) >= 5
    c.shoot("cockpit")
    c.phone(True)
    c.go("/console/cockpit")
    assert c.no_horizontal_scroll()
    c.d.save_screenshot(str(SHOTS / "cockpit-phone-en.png"))
    c.phone(False)
    c.go(f"/console/registrations/{reg_id}")
    assert c.css("#sales-stage").text in ("Proposal", "方案报价")

    # The partner sees approved
    c.login(world["acme"])
    c.go(f"/console/registrations/{reg_id}")
    assert c.css("#status").get_attribute("data-status") == "approved"

    # Another partner's pre-check for the same customer: protected, and nothing about who or what
    c.login(world["other"])
    c.go("/console/precheck")
    c.fill("customer.name", "深圳市腾讯计算机系统有限公司")
    c.submit("form.form button[type=submit]")
    answer = c.css("#precheck-answer")
    assert answer.get_attribute("data-answer") == "protected"
    page = c.d.page_source
    assert "acme" not in page and reg_id not in page and "数据中心" not in page
    c.go("/console/precheck")
    c.shoot("precheck")


def test_rep_claims_from_the_pool(suite, world, browser):
    from tests.functional.helpers import EXAMPLE

    api = suite.api
    answer = api.post("/v1/registrations", EXAMPLE["data"], world["rita"])
    assert answer.status == 202, answer.body
    reg_id = answer.json()["id"]
    suite.runner.pump()
    assert api.post(f"/v1/registrations/{reg_id}/approve", {}, world["boss"]).status == 200
    assert api.post(f"/v1/registrations/{reg_id}/release", {"reason": "not mine"}, world["rita"]).status == 200

    c = Console(browser, suite.api.base)
    c.login(world["ralph"])
    c.go("/console/pool")
    assert [e.get_attribute("data-id") for e in c.all("#pool li")] == [reg_id]
    c.shoot("pool")
    c.submit(f'#pool li[data-id="{reg_id}"] button')
    assert "flash ok" in c.d.page_source
    assert not c.all(f'#pool li[data-id="{reg_id}"]')
    owner = api.get(f"/v1/registrations/{reg_id}/ownership", world["ralph"]).json()["owner"]
    assert owner == {"kind": "user", "id": "ralph"}
    c.go(f"/console/registrations/{reg_id}")
    assert c.css("#protection-left").text  # the protection countdown is shown to the new holder
    # the new holder moves its sales stage (an audited move through the API)
    c.fill("stage", "negotiation")
    c.submit("#btn-stage")
    assert "flash ok" in c.d.page_source
    assert api.get(f"/v1/registrations/{reg_id}", world["ralph"]).json()["sales_stage"] == "negotiation"
    c.shoot("registration-rep")


def test_login_and_logout_work_from_the_keyboard(suite, world, browser):
    from selenium.webdriver.common.keys import Keys

    c = Console(browser, suite.api.base)
    c.go("/console/login")
    c.d.delete_all_cookies()
    c.go("/console/login")
    c.d.execute_script("window.__dealregOldPage = true")
    c.css("#api_key").send_keys(world["rita"], Keys.ENTER)  # Enter submits: a plain form, no script
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(c.d, 20).until(lambda d: d.execute_script("return !window.__dealregOldPage"))
    assert urlparse(c.d.current_url).path == "/console/registrations"
    assert c.css("body").text.count("rita") >= 1
    c.submit("form.logout button")
    assert urlparse(c.d.current_url).path == "/console/login"
    c.go("/console/registrations")  # the session is gone
    assert urlparse(c.d.current_url).path == "/console/login"


def test_admin_pages(suite, world, browser):
    from chalicelib.clock import now
    from chalicelib.domain.notifications import Delivery, Message, delivery_id
    from chalicelib.store import notifications

    d = Delivery(id=delivery_id("reg_demo:4", "partner:acme", "webhook"), event_id="reg_demo:4",
                 event_type="registration.approved", recipient="partner:acme", channel="webhook", locale="zh-CN",
                 due_at=now(), message=Message("报备已批准：甲公司", "…"))
    item = notifications.create([d], {"id": "evt"}, now=now())[0]
    assert notifications.park(item, now=now(), reason="http_500")
    c = Console(browser, suite.api.base)
    c.login(make_user("root", "admin"))
    c.go("/console/admin")
    assert c.css('#users tr[data-id="rita"]').get_attribute("data-active") == "true"
    assert c.css('#partners tr[data-id="acme"]')
    c.shoot("admin-directory")
    c.go("/console/admin/rules")
    assert c.css("#rules-pipeline pre").text.strip().startswith("{")
    c.shoot("admin-rules")
    c.go("/console/admin/parked")
    assert c.css(f'#parked li[data-id="{item.id}"]')
    c.shoot("admin-parked")
    c.submit(f'#parked li[data-id="{item.id}"] .btn-replay')
    assert "m=done" in c.d.current_url and not c.all(f'#parked li[data-id="{item.id}"]')
    assert notifications.get(item.id).state == "pending"
    # a delivery skipped because its partner was deactivated: listed with its reason, nothing to replay
    s = Delivery(id=delivery_id("reg_demo:5", "partner:acme", "webhook"), event_id="reg_demo:5",
                 event_type="registration.approved", recipient="partner:acme", channel="webhook", locale="zh-CN",
                 due_at=now(), message=Message("报备已批准：乙公司", "…"))
    skipped = notifications.create([s], {"id": "evt5"}, now=now())[0]
    assert notifications.skip(skipped, now=now(), reason="partner_inactive")
    c.go("/console/admin")
    c.css('a[href$="/console/admin/skipped"]').click()
    card = c.css(f'#skipped li[data-id="{skipped.id}"]')
    assert card.get_attribute("data-reason") == "partner_inactive" and "partner_inactive" in card.text
    assert not c.all("#skipped .btn-replay")
    c.shoot("admin-skipped")
    # a manager is refused the admin pages
    c.login(world["boss"])
    c.go("/console/admin")
    assert "/console/admin" in c.d.current_url and not c.all("#users")


def test_rep_tender_inbox_and_subscriptions(suite, demo, browser):  # noqa: F811
    from tests.functional.test_tender_register import _tender_id

    c = Console(browser, suite.api.base)
    c.login(make_user("wang", "rep", team="east"))
    c.go("/console/tenders")
    cloud = _tender_id("示例市政务云平台扩容")
    assert c.css(f'#tenders li[data-id="{cloud}"]')
    c.shoot("tenders")
    c.go(f"/console/tenders/{cloud}")
    c.shoot("tender")
    c.fill("contact.name", "张伟")
    c.submit("#btn-tender-register")
    assert "/console/registrations/reg_" in c.d.current_url
    c.go("/console/subscriptions")
    c.fill("name", "云平台")
    c.fill("keywords.include", "云平台，数据中台")
    c.submit("#btn-subscribe")
    assert len(c.all("#subscriptions li")) == 1
    c.shoot("subscriptions")


def test_manager_escalates_and_the_partner_reads_its_notifications(suite, world, browser):
    from tests.functional.helpers import example, post_webhook

    body = example(external_ref="ESC-1", customer={"name": "杭州升级测试科技有限公司"})
    answer = post_webhook(suite.api, "acme", world["acme_secret"], body)
    assert answer.status == 202, answer.body
    reg_id = answer.json()["id"]
    suite.runner.pump()

    # The manager escalates from the decision page, at phone width too: a reason is required
    c = Console(browser, suite.api.base)
    c.login(world["boss"])
    c.go(f"/console/registrations/{reg_id}")
    assert c.css("#btn-escalate").is_displayed() and c.css("#reason-escalate").get_attribute("required")
    c.shoot("escalate")
    c.phone(True)
    assert c.no_horizontal_scroll() and c.css("#btn-escalate").is_displayed()
    c.phone(False)
    c.css("#reason-escalate").send_keys("金额较大，请总监审批")
    c.submit("#btn-escalate")
    assert "m=done" in c.d.current_url
    assert c.css("#status").get_attribute("data-status") == "pending_review"
    assert "escalated from level 1 to level 2" in c.d.page_source and not c.all("#btn-escalate")
    c.shoot("escalated")
    # an admin (the second level under the default rules) approves; the partner is told
    assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, make_user("root", "admin")).status == 200
    suite.runner.pump()

    # The partner's notifications page lists it (newest first) and marks it read
    c.login(world["acme"])
    c.go("/console/notifications")
    notes = c.all("#notifications li.note")
    assert notes and notes[0].get_attribute("class").split()[-1] == "unread"
    assert reg_id in notes[0].text
    first = notes[0].get_attribute("data-id")
    c.shoot("notifications")
    c.phone(True)
    assert c.no_horizontal_scroll()
    c.d.save_screenshot(str(SHOTS / "notifications-phone-en.png"))
    c.phone(False)
    c.submit("#read-1")
    assert "m=done" in c.d.current_url
    assert c.css(f'#notifications li[data-id="{first}"]').get_attribute("class").split()[-1] == "read"


def test_admin_creates_and_rotates_and_a_partner_user_logs_in_with_a_password(suite, world, browser):
    """Issue 18: the admin directory forms (create a partner and a partner user, rotate the secret: each new
    secret shown once), then the partner user sets a password with the one-time code and logs in."""
    import re

    from tests.functional.helpers import example, post_webhook

    c = Console(browser, suite.api.base)
    c.login(make_user("root", "admin"))
    secrets_seen = {}
    for lang, pid in (("zh-CN", "zhpartner"), ("en", "enpartner")):
        c.go(f"/console/lang/{lang}?next=/console/admin")
        c.css("#partners details summary").click()
        c.css("#partners-id").send_keys(pid)
        c.css("#partners-name").send_keys(f"伙伴 {pid}")
        c.submit("#create-partner button[type=submit]")
        assert c.css("html").get_attribute("lang") == lang
        secret = c.css("#new-webhook-secret").text
        assert secret.startswith("whsec_") and c.css("#new-api-key").text.startswith("drk_")
        c.d.save_screenshot(str(SHOTS / f"admin-partner-created-{lang}.png"))
        c.go("/console/admin")
        assert secret not in c.d.page_source  # shown once, never on the directory page
        c.submit(f'#partners tr[data-id="{pid}"] .btn-rotate-secret')
        rotated = c.css("#new-webhook-secret").text
        assert rotated.startswith("whsec_") and rotated != secret
        c.d.save_screenshot(str(SHOTS / f"admin-secret-rotated-{lang}.png"))
        secrets_seen[pid] = (secret, rotated)
    for pid, (old, new) in secrets_seen.items():  # both work during the grace period
        assert post_webhook(suite.api, pid, old, example(external_ref=f"BR-OLD-{pid}")).status == 202
        assert post_webhook(suite.api, pid, new, example(external_ref=f"BR-NEW-{pid}")).status == 202
    # a partner user of acme, with a one-time login code
    c.go("/console/lang/en?next=/console/admin")
    c.css("#users details summary").click()
    c.css("#users-id").send_keys("li")
    c.css("#users-name").send_keys("李娜")
    from selenium.webdriver.support.ui import Select

    Select(c.css("#users-role")).select_by_value("partner")
    c.css("#users-partner_id").send_keys("acme")
    c.submit("#create-user button[type=submit]")
    code = c.css("#new-login-code").text
    assert re.fullmatch(r"drc_[A-Za-z0-9_-]+", code)
    c.d.save_screenshot(str(SHOTS / "admin-login-code-en.png"))
    c.submit("form.logout button")
    # the partner user sets the password (the code is typed, never in a URL) and logs in
    c.go("/console/password")
    c.shoot("set-password")
    c.go("/console/lang/en?next=/console/password")
    for name, value in (("user_id", "li"), ("code", code), ("password", "correct horse battery"),
                        ("password2", "correct horse battery")):
        c.fill(name, value)
    c.submit("#set-password button[type=submit]")
    assert "m=password_set" in c.d.current_url and code not in c.d.current_url
    c.shoot("login-partner-user")
    c.css("#pw_user_id").send_keys("li")
    c.css("#pw_password").send_keys("correct horse battery")
    c.submit("#login-password button[type=submit]")
    assert urlparse(c.d.current_url).path == "/console/registrations"
    assert "acme" in c.css("header .who").text and not c.all('a[href$="/console/admin"]')
    c.shoot("partner-user-registrations")
