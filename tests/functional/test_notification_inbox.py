"""The caller's notifications (issue 18): ``GET /v1/notifications`` lists one entry per event the caller was told
of, newest first, paginated, each as the caller may see it (for a partner: the same redacted event its callback
carries); ``POST /v1/notifications/{id}/read`` marks one read, only the caller's own; the console page lists them."""
from __future__ import annotations

import re

import pytest

from tests.functional.console_client import ConsoleClient
from tests.functional.helpers import example, make_user, post_webhook
from tests.functional.notification_receivers import Receiver


@pytest.fixture
def world(suite):
    from chalicelib.clock import now
    from chalicelib.store import aws, directory

    aws.forget_secrets()
    rx = Receiver()
    boss = make_user("boss", "manager", "channel")
    secret, acme = directory.create_partner("acme", "Acme", now=now(), team_id="channel",
                                            callback_url=rx.url + "/events")
    _, other = directory.create_partner("other", "Other", now=now(), team_id="channel")
    yield {"boss": boss, "acme": acme, "acme_secret": secret, "other": other, "rx": rx}
    rx.close()


def _decided(suite, world, n: int) -> list[str]:
    """``n`` registrations of acme, each decided by boss (approved, rejected with a reason, ...)."""
    ids = []
    for i in range(n):
        body = example(external_ref=f"INBOX-{i}", customer={"name": f"北京通知测试{'甲乙丙丁'[i]}科技有限公司"})
        got = post_webhook(suite.api, "acme", world["acme_secret"], body)
        assert got.status == 202, got.body
        ids.append(got.json()["id"])
        suite.runner.pump()
    for i, reg_id in enumerate(ids):
        op, body = ("approve", {}) if i % 2 == 0 else ("reject", {"reason": "duplicate of the other channel"})
        assert suite.api.post(f"/v1/registrations/{reg_id}/{op}", body, world["boss"]).status == 200
        suite.runner.pump()
    return ids


def test_a_partner_pages_through_its_notifications_newest_first_as_its_callbacks_see_them(suite, world):
    from chalicelib.store.models import DeliveryItem

    ids = _decided(suite, world, 3)
    first = suite.api.get("/v1/notifications?limit=2", world["acme"])
    assert first.status == 200, first.body
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = suite.api.get(f"/v1/notifications?limit=2&cursor={page['next_cursor']}", world["acme"]).json()
    items = page["items"] + rest["items"]
    assert "next_cursor" not in rest  # the last page (absent fields are null)
    # one per decision on its registrations (its own submissions are its own actions: not notifications)
    assert sorted(i["event_type"] for i in items) == ["registration.approved", "registration.approved",
                                                      "registration.rejected"]
    assert [i["event"]["subject"] for i in items] == list(reversed(ids))  # newest first
    assert [i["created_at"] for i in items] == sorted((i["created_at"] for i in items), reverse=True)
    assert all(i.get("read_at") is None for i in items)
    # redacted exactly as the partner's callback: the same event body its webhook delivery carries
    for item in items:
        [hook] = [d for d in DeliveryItem.scan() if d.event_id == item["event_id"] and d.channel == "webhook"
                  and d.recipient == "partner:acme"]
        assert item["event"] == hook.payload
    rejected = next(i for i in items if i["event_type"] == "registration.rejected")
    assert "reason" not in rejected["event"]  # a staff reason not shared with the partner stays withheld
    assert "duplicate of the other channel" not in rejected["text"]
    # other parties see none of them
    assert suite.api.get("/v1/notifications", world["other"]).json() == {"items": []}


def test_marking_read_is_the_callers_own_and_happens_once(suite, world):
    _decided(suite, world, 1)
    [item] = suite.api.get("/v1/notifications", world["acme"]).json()["items"]
    for who in ("other", "boss"):  # someone else's id reads as absent, and stays unread
        got = suite.api.post(f"/v1/notifications/{item['id']}/read", {}, world[who])
        assert got.status == 404 and set(got.json()) == {"code", "message", "errors"}
    assert suite.api.post("/v1/notifications/dlv_unknown/read", {}, world["acme"]).status == 404
    read = suite.api.post(f"/v1/notifications/{item['id']}/read", {}, world["acme"])
    assert read.status == 200 and read.json()["read_at"]
    again = suite.api.post(f"/v1/notifications/{item['id']}/read", {}, world["acme"])
    assert again.json()["read_at"] == read.json()["read_at"]
    [listed] = suite.api.get("/v1/notifications", world["acme"]).json()["items"]
    assert listed["read_at"] == read.json()["read_at"]


def test_bad_paging_input_answers_422_with_the_parameter(suite, world):
    _decided(suite, world, 2)
    cursor = suite.api.get("/v1/notifications?limit=1", world["acme"]).json()["next_cursor"]
    for query, loc in (("limit=0", "query.limit"), ("limit=101", "query.limit"), ("limit=x", "query.limit"),
                       ("cursor=garbage", "query.cursor"), (f"cursor={cursor}", "query.cursor")):
        who = "other" if loc == "query.cursor" else "acme"  # acme's own cursor is no cursor of other's
        got = suite.api.get(f"/v1/notifications?{query}", world[who])
        assert got.status == 422, (query, got.body)
        assert got.json()["errors"][0]["loc"] == loc, got.json()
    assert suite.api.get("/v1/notifications").status == 401


def test_console_notifications_page_lists_them_and_marks_one_read(suite, world):
    _decided(suite, world, 2)
    for lang, title in (("en", "Notifications"), ("zh-CN", "通知")):
        c = ConsoleClient(suite.api.base, lang)
        c.login(world["acme"])
        status, _, page = c.get("/console/notifications")
        assert status == 200 and f"<h1>{title}</h1>" in page
        rows = re.findall(r'<li class="card note (unread|read)" data-id="(dlv_[0-9a-f]+)"', page)
        assert len(rows) == 2 and {r[0] for r in rows} == {"unread"}
    status, headers, _ = c.post("/console/notifications/read", {"csrf": c.csrf(page), "id": rows[0][1]})
    assert status == 303 and "m=done" in headers["location"]
    _, _, page = c.get("/console/notifications")
    assert re.findall(r'<li class="card note (unread|read)" data-id="(dlv_[0-9a-f]+)"', page)[0] == ("read", rows[0][1])
    # CSRF-less: refused, nothing marked
    status, _, _ = c.post("/console/notifications/read", {"id": rows[1][1]})
    assert status in (400, 403)
    # another partner's console shows none of acme's
    o = ConsoleClient(suite.api.base)
    o.login(world["other"])
    _, _, page = o.get("/console/notifications")
    assert "dlv_" not in page
