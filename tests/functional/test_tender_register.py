"""Tender -> registration, and the ``make run`` demo feeds, end to end.

The demo feed files of ``examples/tenders/`` are served from 127.0.0.1 with the demo source configuration
(``infra/local/demo_tenders.py``, what ``make run`` uses): tenders arrive, the demo subscription fires, and
a rep turns a tender into a registration that goes through the normal create path (claims, dedup,
approval workflow).
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.functional.helpers import make_partner, make_user

CONTACT = {"name": "张伟", "role": "decision_maker", "email": "zhang.wei@example.org"}


@pytest.fixture
def demo(suite, monkeypatch, tmp_path: Path):
    from chalicelib import clock, settings
    from infra.local import demo_tenders

    clock.set_clock(clock.FrozenClock(datetime(2026, 11, 26, 1, 0, tzinfo=UTC)))
    monkeypatch.setenv("DEALREG_TENDER_SOURCES", "")  # restored after the test; configure() overwrites it
    monkeypatch.setenv("DEALREG_TENDER_ALLOW_LOOPBACK", "1")
    running = demo_tenders.start(suite, tmp_path, poll_now=True)
    yield running
    running.stop()
    settings.reset()


def _tender_id(title_start: str) -> str:
    from chalicelib.store.models import TenderItem

    return next(t.tender_id for t in TenderItem.scan() if t.title.startswith(title_start))


def _cycle_lanes() -> str:
    """The OCDS process: five releases of one ocid, stored as one tender (its title is the award's now)."""
    from chalicelib.store.models import TenderItem

    return next(t.tender_id for t in TenderItem.scan() if "ocds:ocds-dlrg01-demo-0001" in t.data["refs"])


def test_demo_feeds_arrive_and_the_demo_subscription_fires(suite, demo):
    from chalicelib.store import tenders as store
    from chalicelib.store.models import TenderItem

    # THEN the RSS (5 notices) and the OCDS process (5 releases of one ocid) are stored as 6 tenders
    titles = sorted(t.title for t in TenderItem.scan())
    assert len(titles) == 6
    assert "示例市政务云平台扩容及运维服务项目公开招标公告" in titles
    # AND the RSS body was sanitised before storage: no script, no handler, no javascript: URL
    cloud = TenderItem.get(_tender_id("示例市政务云平台扩容"))
    assert "<script" not in cloud.data["text"] and "onclick" not in cloud.data["text"]
    assert "javascript:" not in cloud.data["text"] and "招标文件下载" in cloud.data["text"]
    assert cloud.data["categories"] == ["cpv:72000000"] and cloud.data["region"] == "广东省"
    # AND the demo rep was alerted once per matching tender: two 云平台 notices and the cycle-lane process
    alerted = {a.tender_id for a in store.alerts_for(demo.rep_id)}
    assert alerted == {_tender_id("示例市政务云平台扩容"), _tender_id("示例市数据局数据中台及云平台"),
                       _cycle_lanes()}
    # AND the immediate alerts reach the local inbox through the notification outbox
    suite.runner.pump()
    inbox = suite.api.get("/v1/dev/inbox", demo.api_key).json()["items"]
    assert sorted(i["title"] for i in inbox) == sorted(
        f"新标讯：{t}" for t in ("示例市政务云平台扩容及运维服务项目公开招标公告",
                                 "示例市数据局数据中台及云平台安全服务项目公开招标公告",
                                 "Riverside cycle lane extension"))


def test_register_a_tender_prefills_and_is_idempotent_per_rep(suite, demo):
    rep = make_user("wang", "rep", team="east")
    tender_id = _cycle_lanes()
    url = f"/v1/tenders/{tender_id}/register"

    # GIVEN no contact WHEN registering THEN 422 naming what the tender cannot provide
    bad = suite.api.post(url, {}, rep)
    assert bad.status == 422 and bad.json()["errors"] == [{"loc": "body.contacts", "type": "missing"}]

    # WHEN the rep registers it with a contact
    first = suite.api.post(url, {"contacts": [CONTACT], "products": ["交通信号系统"]}, rep)
    assert first.status == 202, first.body
    reg_id = first.json()["id"]
    # THEN the registration is pre-filled from the tender and points back to it
    reg = suite.api.get(f"/v1/registrations/{reg_id}", rep).json()
    assert reg["customer"]["name"] == "Northfield Borough Council" and reg["customer"]["country"] == "GB"
    assert reg["project"]["title"] == "Award: Riverside cycle lane extension to Greenway Paths"
    assert reg["project"]["expected_amount"] == {"amount": 745500, "currency": "GBP"}  # the award's value
    assert reg["project"]["expected_close_date"] == "2026-11-30"  # the amended deadline
    assert reg["project"]["products"] == ["交通信号系统"]
    assert tender_id in reg["project"]["background"]
    assert reg["external_ref"] == f"tender:{tender_id}" and reg["source"] == "tender"
    assert reg["submitter"] == {"kind": "user", "id": "wang"} and reg["team_id"] == "east"

    # WHEN the rep calls again (even with other details) THEN the same registration, nothing new
    again = suite.api.post(url, {"contacts": [{"name": "李娜", "role": "influencer"}]}, rep)
    assert again.status == 200 and again.json()["id"] == reg_id
    mine = suite.api.get("/v1/registrations", rep).json()["items"]
    assert [r["id"] for r in mine] == [reg_id]

    # AND the normal checks run: the approval workflow picks it up like any rep registration
    suite.runner.pump()
    assert suite.api.get(f"/v1/registrations/{reg_id}", rep).json()["status"] == "pending_review"

    # WHEN another rep registers the same tender THEN theirs is a separate registration, flagged by dedup
    other = make_user("li", "rep", team="east")
    theirs = suite.api.post(url, {"contacts": [CONTACT]}, other)
    assert theirs.status == 202 and theirs.json()["id"] != reg_id
    flagged = suite.api.get(f"/v1/registrations/{theirs.json()['id']}", other).json()
    assert flagged["first_claim"] is False


def test_register_refusals(suite, demo):
    rep = make_user("wang", "rep")
    _, partner_key = make_partner("acme")
    rss_tender = _tender_id("示例市教育局智慧校园")
    # The correction notice names its buyer (采购人) and the new deadline, but states no amount
    answer = suite.api.post(f"/v1/tenders/{rss_tender}/register", {"contacts": [CONTACT]}, rep)
    assert answer.status == 422
    assert {e["loc"] for e in answer.json()["errors"]} == {"body.expected_amount"}
    assert suite.api.post("/v1/tenders/tnd_nope/register", {"contacts": [CONTACT]}, rep).status == 404
    assert suite.api.post(f"/v1/tenders/{rss_tender}/register", {"contacts": [CONTACT]}, partner_key).status == 403
    assert suite.api.post(f"/v1/tenders/{rss_tender}/register", {"colour": "red"}, rep).status == 422
    assert suite.api.post(f"/v1/tenders/{rss_tender}/register", {"contacts": [CONTACT]}).status == 401
