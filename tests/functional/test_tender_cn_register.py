"""Chinese RSS notices end to end (issue 16): a feed served on 127.0.0.1 is polled by the schedule, the
labelled fields (采购人, 项目编号, 预算金额, 截止时间, 采购代理机构) are stored, only open notices alert (the award
and the correction do not), and a rep turns RSS tenders into registrations — with the notice's buyer as the
customer, or with the customer given in the body when the notice names none.

The feed is written for this test (fictional buyers and numbers).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.contract.harness import LocalServer, Reply
from tests.functional.helpers import make_user

CONTACT = {"name": "王磊", "role": "decision_maker", "email": "wang.lei@example.org"}


def _item(guid: str, title: str, html: str) -> str:
    from xml.sax.saxutils import escape

    return (f"<item><title>{escape(title)}</title><guid isPermaLink=\"false\">{guid}</guid>"
            f"<link>https://ccgp.example.cn/cggg/{guid}.htm</link><pubDate>Mon, 30 Nov 2026 09:00:00 +0800</pubDate>"
            f"<description>{escape(html)}</description></item>")


FEED = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>示例省政府采购网</title>"
        "<link>https://ccgp.example.cn/</link><description>采购公告</description>"
        + _item("GK-001", "示例省人民医院云平台扩容项目公开招标公告",
                "<p>一、项目基本情况</p><p>项目编号：SHCG-2026-GK-0318</p><p>预算金额：480.0000000 万元（人民币）</p>"
                "<p>四、提交投标文件截止时间、开标时间和地点</p><p>2026年12月15日 09点30分（北京时间）</p>"
                "<p>1.采购人信息</p><p>名 称：示例省人民医院</p><p>2.采购代理机构信息</p><p>名 称：示例建设项目管理有限公司</p>")
        + _item("GK-002", "示例县智慧校园云平台运维服务项目竞争性磋商公告",
                "<p>预算金额：88万元；响应文件提交截止时间：2026年12月11日 10:00。</p>")  # no buyer named
        + _item("ZB-003", "示例市数据局云平台安全服务项目中标（成交）结果公告",
                "<p>采购人：示例市数据局；中标金额：235.6万元。</p>")
        + _item("GZ-004", "示例市教育局云平台设备采购项目更正公告",
                "<p>采购人：示例市教育局</p><p>更正内容：投标截止时间由2026年11月30日 09:30变更为2026年12月07日 09:30。</p>")
        + "</channel></rss>").encode("utf-8")


@pytest.fixture
def cn_feed(suite, monkeypatch):
    from chalicelib import clock, settings

    clock.set_clock(clock.FrozenClock(datetime(2026, 11, 30, 2, 0, tzinfo=UTC)))
    server = LocalServer(lambda seen: Reply(200, FEED, {"Content-Type": "application/rss+xml; charset=utf-8"})
                         if seen.path == "/rss" else Reply(404, b"gone"))
    with server:
        sources = [{"name": "cn_rss", "connector": "tender_rss", "every_minutes": 15,
                    "config": {"source": "cn_rss", "feed_url": server.url("/rss"), "country": "CN",
                               "language": "zh", "timezone": "Asia/Shanghai"}}]
        monkeypatch.setenv("DEALREG_TENDER_SOURCES", json.dumps(sources))
        monkeypatch.setenv("DEALREG_TENDER_ALLOW_LOOPBACK", "1")
        settings.reset()
        yield server
    settings.reset()


def _by_source_id() -> dict[str, Any]:
    from chalicelib.store.models import TenderItem

    return {t.data["source_id"]: t for t in TenderItem.scan()}


def test_chinese_rss_tenders_alert_only_when_open_and_register_end_to_end(suite, cn_feed):
    from chalicelib.store import tenders as store

    rep = make_user("zhao", "rep", team="south")
    sub = suite.api.post("/v1/subscriptions", {"keywords": {"include": ["云平台"]}, "delivery": "immediate"}, rep)
    assert sub.status == 201, sub.body

    # WHEN the schedule polls the feed
    suite.runner.run_schedule("poll_tender_feeds")

    # THEN the labelled fields are stored
    tenders = _by_source_id()
    assert set(tenders) == {"GK-001", "GK-002", "ZB-003", "GZ-004"}
    open_one = tenders["GK-001"].data
    assert open_one["buyer"]["name"] == "示例省人民医院" and open_one["agent"] == "示例建设项目管理有限公司"
    assert open_one["project_code"] == "SHCG-2026-GK-0318"
    assert (open_one["value"], open_one["currency"]) == (4800000, "CNY")  # a JSON number (issue 12 item 16)
    assert open_one["deadline"] == "2026-12-15T01:30:00Z" and open_one["deadline_kind"] == "tender"
    assert tenders["ZB-003"].data["status"] == "award" and tenders["GZ-004"].data["status"] == "amendment"
    assert tenders["GZ-004"].data["deadline"] == "2026-12-07T01:30:00Z"  # the corrected deadline
    # AND all four match 云平台, but only the two open notices alert: never the award, never the correction
    alerted = {a.tender_id for a in store.alerts_for("zhao")}
    assert alerted == {tenders["GK-001"].tender_id, tenders["GK-002"].tender_id}
    suite.runner.pump()
    inbox = suite.api.get("/v1/dev/inbox", rep).json()["items"]
    assert sorted(i["title"] for i in inbox) == sorted(
        f"新标讯：{t}" for t in ("示例省人民医院云平台扩容项目公开招标公告", "示例县智慧校园云平台运维服务项目竞争性磋商公告"))
    assert all("采购人：-" not in i["text"] for i in inbox if "示例省人民医院" in i["title"])

    # WHEN the rep registers the open notice THEN the registration is pre-filled from the RSS notice
    first = suite.api.post(f"/v1/tenders/{tenders['GK-001'].tender_id}/register", {"contacts": [CONTACT]}, rep)
    assert first.status == 202, first.body
    reg = suite.api.get(f"/v1/registrations/{first.json()['id']}", rep).json()
    assert reg["customer"]["name"] == "示例省人民医院" and reg["customer"]["country"] == "CN"
    assert reg["project"]["expected_amount"] == {"amount": 4800000, "currency": "CNY"}
    assert reg["project"]["expected_close_date"] == "2026-12-15"
    assert "SHCG-2026-GK-0318" in reg["project"]["background"]

    # WHEN the notice names no buyer THEN 422 asks for the customer, and the body's customer is used
    no_buyer = tenders["GK-002"].tender_id
    missing = suite.api.post(f"/v1/tenders/{no_buyer}/register", {"contacts": [CONTACT]}, rep)
    assert missing.status == 422
    assert missing.json()["errors"] == [{"loc": "body.customer", "type": "missing"}]
    made = suite.api.post(f"/v1/tenders/{no_buyer}/register",
                          {"contacts": [CONTACT], "customer": {"name": "示例县教育局", "region": "示例省示例县"}}, rep)
    assert made.status == 202, made.body
    reg2 = suite.api.get(f"/v1/registrations/{made.json()['id']}", rep).json()
    assert reg2["customer"]["name"] == "示例县教育局" and reg2["customer"]["country"] == "CN"
    assert reg2["project"]["expected_amount"] == {"amount": 880000, "currency": "CNY"}
    assert reg2["project"]["title"] == "示例县智慧校园云平台运维服务项目竞争性磋商公告"
    # AND it goes through the normal checks like any registration
    suite.runner.pump()
    assert suite.api.get(f"/v1/registrations/{reg2['id']}", rep).json()["status"] == "pending_review"
