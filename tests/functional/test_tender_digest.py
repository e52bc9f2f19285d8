"""Daily digest of tender alerts: held by the notification outbox, sent once a day as one message.

The demo feeds (``examples/tenders/``) are served from 127.0.0.1; a rep with a ``daily_digest``
subscription gets no message when the tenders arrive, then one message at the rep's digest hour (09:00
Asia/Shanghai for a zh-CN reader) listing every matched tender, and nothing more on later runs, re-polls
or the next day.
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.functional.helpers import make_user
from tests.functional.notification_receivers import Receiver


@pytest.fixture
def feeds(suite, monkeypatch, tmp_path):
    from chalicelib import settings
    from infra.local import demo_tenders

    monkeypatch.setenv("DEALREG_TENDER_SOURCES", "")
    monkeypatch.setenv("DEALREG_TENDER_ALLOW_LOOPBACK", "1")
    server, base = demo_tenders.serve()
    demo_tenders.configure(base, tmp_path)
    yield base
    server.shutdown()
    server.server_close()
    settings.reset()


def _inbox(suite, key: str) -> list[dict]:
    """What the local channel (every reader's, in local mode) delivered to ``key``'s user."""
    answer = suite.api.get("/v1/dev/inbox", key)
    assert answer.status == 200, answer.body
    return answer.json()["items"]


def _at(*args: int) -> None:
    from chalicelib import clock

    clock.set_clock(clock.FrozenClock(datetime(*args, tzinfo=UTC)))


@pytest.fixture
def slack():
    rx = Receiver(reply=b"ok")
    yield rx
    rx.close()


def test_daily_digest_reaches_the_rep_once_a_day_as_one_message(suite, feeds, slack):
    from chalicelib.clock import now
    from chalicelib.store import notifications, tenders as store

    _at(2026, 11, 26, 2, 0)  # 10:00 in Shanghai: just after today's digest hour
    wang = make_user("wang", "rep")
    # wang reads Slack (zh-CN, so his day is China time); every message sent is one request to the receiver
    notifications.put_bot_credentials("user:wang", "slack", {"url": slack.url + "/services/T/B/X"})
    notifications.save_settings("user:wang", now=now(), channels=["slack"], locale="zh-CN")
    li = make_user("li", "rep")
    created = suite.api.post("/v1/subscriptions", {"keywords": {"include": ["云平台", "cycle lane"]},
                                                   "delivery": "daily_digest"}, wang)
    assert created.status == 201, created.body
    suite.api.post("/v1/subscriptions", {"keywords": {"include": ["医院"]}, "delivery": "immediate"}, li)

    # WHEN the tenders arrive
    suite.runner.run_schedule("poll_tender_feeds")
    suite.runner.pump()
    # THEN the immediate subscriber is told at once; the digest subscriber is not (yet)
    assert [i["title"] for i in _inbox(suite, li)] == ["新标讯：示例市第一人民医院医院信息系统（HIS）升级改造项目竞争性磋商公告"]
    assert slack.requests == []
    assert {a.delivery for a in store.alerts_for("wang")} == {"daily_digest"} and len(store.alerts_for("wang")) == 3

    # WHEN the outbox runs during the day, and the feeds are polled again
    _at(2026, 11, 26, 12, 0)
    suite.runner.run_schedule("poll_tender_feeds")
    suite.runner.run_schedule("deliver_notifications")
    suite.runner.pump()
    # THEN still nothing for the digest subscriber, and no second alert
    assert slack.requests == [] and len(store.alerts_for("wang")) == 3

    # WHEN the next digest hour comes (09:00 Shanghai = 01:00 UTC) and the outbox runs
    _at(2026, 11, 27, 1, 0, 30)
    suite.runner.run_schedule("deliver_notifications")
    suite.runner.pump()
    # THEN exactly one message lists the three matched tenders
    [one] = slack.requests
    blocks = one.json()["blocks"]
    assert blocks[0]["text"]["text"] == "您有 3 条新通知"
    for title in ("示例市政务云平台扩容及运维服务项目公开招标公告", "示例市数据局数据中台及云平台安全服务项目公开招标公告",
                  "Riverside cycle lane extension"):
        assert f"新标讯：{title}" in blocks[1]["text"]["text"]

    # WHEN the outbox runs again, the feeds are re-polled, and a day passes
    suite.runner.run_schedule("deliver_notifications")
    suite.runner.run_schedule("poll_tender_feeds")
    _at(2026, 11, 28, 1, 0, 30)
    suite.runner.run_schedule("poll_tender_feeds")
    suite.runner.run_schedule("deliver_notifications")
    suite.runner.pump()
    # THEN no second digest: the day's alerts were sent once
    assert len(slack.requests) == 1
