"""The notification outbox through the local stack: events -> delivery records -> channels -> receivers on
127.0.0.1 that verify signatures; retries with backoff, parking and replay; SSRF refusals before connecting;
digests; the local inbox."""
from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest

from tests.functional.helpers import example, make_user, post_webhook
from tests.functional.notification_receivers import Receiver, dingtalk_signature_ok, feishu_signature_ok


@pytest.fixture(autouse=True)
def _fresh_bot_credentials(suite):
    """Bot credentials are cached per warm process; each test starts from an empty stack."""
    from chalicelib.store import aws

    aws.forget_secrets()
    yield
    aws.forget_secrets()


@pytest.fixture
def frozen(suite):
    from chalicelib import clock

    c = clock.FrozenClock(datetime.now(UTC).replace(microsecond=0))
    clock.set_clock(c)
    return c


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(**kw) -> Receiver:
        r = Receiver(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def _partner(partner_id: str, callback_url: str | None) -> tuple[str, str]:
    from chalicelib.clock import now
    from chalicelib.store import directory

    return directory.create_partner(partner_id, f"Partner {partner_id}", now=now(), callback_url=callback_url)


def _deliveries(**match) -> list:
    from chalicelib.store.models import DeliveryItem

    return [d for d in DeliveryItem.scan() if all(getattr(d, k) == v for k, v in match.items())]


def _run_schedule(suite, frozen, *, hours: float = 2) -> None:
    frozen.advance(hours=hours)
    suite.runner.run_schedule("deliver_notifications")


def _send_event(suite, event: dict) -> None:
    sqs = suite.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{suite.prefix}-notifications")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event, ensure_ascii=False))
    suite.runner.pump()


def _tender_alert(rep: str, n: int, now: datetime, delivery: str = "immediate") -> dict:
    return {"id": f"{rep}#tnd_{n}", "type": "tender.alert", "occurred_at": now.isoformat(), "subject": f"tnd_{n}",
            "actor": {"kind": "system", "id": "tenders"}, "rep_id": rep, "subscription_ids": ["sub_1"],
            "delivery": delivery, "tender": {"id": f"tnd_{n}", "title": f"云平台采购项目 {n}", "status": "active",
                                             "source": "gd_ccgp", "buyer": "深圳市大数据中心",
                                             "url": f"https://example.org/t/{n}"}}


# --- partner callbacks (Standard Webhooks) ------------------------------------------------------------------

def test_partner_callback_is_signed_and_verified_by_the_receiver(suite, frozen, receivers):
    from chalicelib.domain.notifications import webhook_id
    from connectors.standard_webhooks import verify

    rx = receivers()
    secret, _ = _partner("acme", rx.url + "/dealreg/events")
    # WHEN the partner registers an opportunity and the events flow
    reg_id = post_webhook(suite.api, "acme", secret, example()).json()["id"]
    suite.runner.pump()
    # THEN its callback received registration.submitted once, signed with its own secret
    assert len(rx.requests) == 1
    got = rx.requests[0]
    verify([secret], got.headers, got.body, now=int(frozen.now().timestamp()))
    body = got.json()
    assert body["type"] == "registration.submitted" and body["data"]["id"] == f"{reg_id}:1"
    assert body["data"]["registration"]["id"] == reg_id
    assert got.headers["webhook-id"] == webhook_id(f"{reg_id}:1", "partner:acme")
    # AND the delivery is recorded as sent, once
    [d] = _deliveries(channel="webhook")
    assert d.state == "sent" and d.attempts == 0
    # AND a second run of the schedule sends nothing more
    _run_schedule(suite, frozen)
    assert len(rx.requests) == 1


def test_a_callback_failing_three_times_then_ok_is_delivered_once_with_one_webhook_id(suite, frozen, receivers):
    rx = receivers(statuses=[500, 500, 500])
    secret, _ = _partner("acme", rx.url + "/hook")
    post_webhook(suite.api, "acme", secret, example())
    suite.runner.pump()  # the first attempt: 500
    for _ in range(6):
        _run_schedule(suite, frozen)
    statuses = [500, 500, 500, 200]
    assert len(rx.requests) == len(statuses)
    assert len({r.headers["webhook-id"] for r in rx.requests}) == 1  # receivers can dedupe on it
    [d] = _deliveries(channel="webhook")
    assert d.state == "sent" and d.attempts == 3 and d.last_error == "server_error:500"


def test_backoff_waits_before_the_next_attempt(suite, frozen, receivers):
    rx = receivers(statuses=[503])
    secret, _ = _partner("acme", rx.url + "/hook")
    post_webhook(suite.api, "acme", secret, example())
    suite.runner.pump()
    # GIVEN the first attempt failed: the next is due between 15 and 30 seconds later (base 30 s, equal jitter)
    [d] = _deliveries(channel="webhook")
    due = datetime.strptime(d.lane_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert timedelta(seconds=15) <= due - frozen.now() <= timedelta(seconds=30)
    # WHEN the schedule runs before that THEN nothing is sent
    _run_schedule(suite, frozen, hours=0)
    assert len(rx.requests) == 1
    # WHEN it runs after THEN the retry goes out
    _run_schedule(suite, frozen, hours=1)
    assert len(rx.requests) == 2


def test_a_channel_down_for_good_ends_parked_and_replay_sends_it(suite, frozen, receivers, capsys):
    from infra.cli import main

    rx = receivers(final_status=503)
    secret, _ = _partner("acme", rx.url + "/hook")
    post_webhook(suite.api, "acme", secret, example())
    suite.runner.pump()
    for _ in range(8):
        _run_schedule(suite, frozen)
    [d] = _deliveries(channel="webhook")
    assert d.state == "parked" and d.attempts == 5 and len(rx.requests) == 5  # DEALREG_NOTIFY_MAX_ATTEMPTS
    # the operator sees it
    assert main(["notifications", "list-parked"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(x["id"], x["last_error"]) for x in listed] == [(d.id, "server_error:503")]
    # WHEN the receiver is fixed and the operator replays THEN it is delivered, with the same webhook-id
    rx.final_status = 200
    assert main(["notifications", "replay", "--all"]) == 0
    _run_schedule(suite, frozen, hours=0)
    assert len(rx.requests) == 6 and rx.requests[-1].headers["webhook-id"] == rx.requests[0].headers["webhook-id"]
    assert _deliveries(channel="webhook")[0].state == "sent"
    # AND replaying a sent delivery is refused
    capsys.readouterr()
    assert main(["notifications", "replay", d.id]) == 1
    _run_schedule(suite, frozen)
    assert len(rx.requests) == 6


def test_redelivered_event_creates_no_new_delivery_and_sends_nothing_again(suite, frozen, receivers):
    rx = receivers()
    make_user("wang", "rep", team="south")
    from chalicelib.store import notifications as store

    store.put_bot_credentials("user:wang", "slack", {"url": rx.url + "/services/T0/B0/x"})
    store.save_settings("user:wang", now=frozen.now(), channels=["slack"])
    event = _tender_alert("wang", 1, frozen.now())
    _send_event(suite, event)
    _send_event(suite, event)
    assert len(_deliveries(recipient="user:wang", channel="slack")) == 1
    assert len(rx.requests) == 1


# --- SSRF ----------------------------------------------------------------------------------------------------

@pytest.fixture
def connections(monkeypatch):
    """Record every outgoing connection (moto and the app are on loopback and must keep working)."""
    seen: list[tuple] = []
    real = socket.socket.connect

    def connect(self, address):
        seen.append(address)
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


@pytest.mark.parametrize("callback, address", [
    ("https://partner.example/hooks", "10.0.0.7"),
    ("https://partner.example/hooks", "169.254.169.254"),
    ("https://169.254.169.254/latest/meta-data", None),
    ("https://rebind.example/hooks", "::ffff:127.0.0.1"),
])
def test_callbacks_to_forbidden_addresses_are_refused_before_any_connection(
        suite, frozen, monkeypatch, connections, callback, address):
    from chalicelib.services import notification_channels

    def resolver(host, port, *args, **kwargs):
        if host in ("partner.example", "rebind.example"):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, port))]
        return socket.getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(notification_channels, "RESOLVER", resolver)
    secret, _ = _partner("acme", callback)
    post_webhook(suite.api, "acme", secret, example())
    suite.runner.pump()
    [d] = _deliveries(channel="webhook")
    assert d.state == "parked" and d.last_error == "forbidden_address"
    assert all(str(addr[0]) in ("127.0.0.1", "::1") for addr in connections), connections


def test_cli_refuses_to_set_a_private_or_foreign_bot_url(suite, monkeypatch, capsys):
    from chalicelib.services import notification_channels
    from infra.cli import main

    make_user("wang", "rep", team="south")
    monkeypatch.setattr(notification_channels, "RESOLVER",
                        lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))])
    assert main(["notifications", "set", "user", "wang", "--callback-url", "https://x.example/h"]) == 2
    assert main(["notifications", "set", "partner", "nobody", "--locale", "en"]) == 2
    _partner("acme", None)
    assert main(["notifications", "set", "partner", "acme", "--callback-url", "https://x.example/h"]) == 2
    assert main(["notifications", "set", "user", "wang", "--wecom-url",
                 "https://evil.example/cgi-bin/webhook/send?key=k"]) == 2
    err = capsys.readouterr().err
    assert "forbidden_address" in err and "host_not_allowed" in err
    from chalicelib.store import directory, notifications as store

    assert directory.get_partner("acme").callback_url is None
    assert store.bot_credentials("user:wang") == {}



def test_cli_accepts_only_sns_topics_the_delivery_functions_may_publish_to(suite, capsys):
    from chalicelib import settings
    from chalicelib.store import notifications as store
    from infra.cli import main

    make_user("wang", "rep", team="south")
    prefix = settings.get().prefix
    foreign = "arn:aws:sns:us-east-1:123456789012:someone-elses-topic"
    assert main(["notifications", "set", "user", "wang", "--sns-topic-arn", foreign]) == 2
    assert f"{prefix}-notify-*" in capsys.readouterr().err
    assert store.get_settings("user:wang") is None
    ours = f"arn:aws:sns:us-east-1:123456789012:{prefix}-notify-wang"
    assert main(["notifications", "set", "user", "wang", "--sns-topic-arn", ours]) == 0
    assert store.get_settings("user:wang").sns_topic_arn == ours


# --- chat bots, email, SNS -----------------------------------------------------------------------------------

def test_bots_receive_their_documented_formats_with_valid_signatures(suite, frozen, receivers):
    from chalicelib.store import notifications as store

    make_user("wang", "rep", team="south")
    wecom, ding, feishu, slack = (receivers(reply=r) for r in (
        b'{"errcode":0,"errmsg":"ok"}', b'{"errcode":0,"errmsg":"ok"}',
        b'{"code":0,"msg":"success","data":{}}', b"ok"))
    store.put_bot_credentials("user:wang", "wecom", {"url": wecom.url + "/cgi-bin/webhook/send?key=k1"})
    store.put_bot_credentials("user:wang", "dingtalk", {"url": ding.url + "/robot/send?access_token=t1",
                                                        "secret": "SECthis-is-secret"})
    store.put_bot_credentials("user:wang", "feishu", {"url": feishu.url + "/open-apis/bot/v2/hook/h1",
                                                      "secret": "feishu-secret"})
    store.put_bot_credentials("user:wang", "slack", {"url": slack.url + "/services/T0/B0/XXXX"})
    store.save_settings("user:wang", now=frozen.now(), channels=["wecom", "dingtalk", "feishu", "slack"])
    _send_event(suite, _tender_alert("wang", 7, frozen.now()))

    [w] = wecom.requests
    assert w.query == {"key": "k1"} and w.json()["msgtype"] == "markdown"
    assert w.json()["markdown"]["content"].startswith("**新标讯：云平台采购项目 7**")
    [d] = ding.requests
    assert d.query["access_token"] == "t1"
    assert dingtalk_signature_ok("SECthis-is-secret", d.query, now_ms=int(frozen.now().timestamp() * 1000))
    assert d.json()["msgtype"] == "markdown" and d.json()["markdown"]["title"] == "新标讯：云平台采购项目 7"
    [f] = feishu.requests
    assert feishu_signature_ok("feishu-secret", f.json(), now=int(frozen.now().timestamp()))
    assert f.json()["msg_type"] == "post"
    assert f.json()["content"]["post"]["zh_cn"]["title"] == "新标讯：云平台采购项目 7"
    [s] = slack.requests
    assert s.json()["text"].startswith("新标讯：云平台采购项目 7")
    assert s.json()["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "新标讯：云平台采购项目 7"}}
    assert {x.state for x in _deliveries(recipient="user:wang") if x.channel != "local"} == {"sent"}


def test_a_bot_error_code_on_http_200_is_a_failure(suite, frozen, receivers):
    from chalicelib.store import notifications as store

    make_user("wang", "rep", team="south")
    busy = receivers(reply=b'{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}')
    refused = receivers(reply=b'{"errcode":93000,"errmsg":"invalid webhook url"}')
    store.put_bot_credentials("user:wang", "dingtalk", {"url": busy.url + "/robot/send?access_token=t"})
    store.put_bot_credentials("user:wang", "wecom", {"url": refused.url + "/cgi-bin/webhook/send?key=k"})
    store.save_settings("user:wang", now=frozen.now(), channels=["dingtalk", "wecom"])
    _send_event(suite, _tender_alert("wang", 1, frozen.now()))
    by_channel = {d.channel: d for d in _deliveries(recipient="user:wang")}
    assert by_channel["dingtalk"].state == "pending" and by_channel["dingtalk"].last_error == "dingtalk_130101"
    assert by_channel["wecom"].state == "parked" and by_channel["wecom"].last_error == "wecom_93000"


def test_email_goes_through_ses_and_sns_to_the_recipients_topic(suite, frozen, monkeypatch):
    from chalicelib import settings
    from chalicelib.clock import now
    from chalicelib.domain.access import Role
    from chalicelib.store import directory, notifications as store

    monkeypatch.setenv("DEALREG_NOTIFY_EMAIL_FROM", "notify@dealreg.example")
    settings.reset()
    ses, sns, sqs = suite.client("ses"), suite.client("sns"), suite.client("sqs")
    ses.verify_email_identity(EmailAddress="notify@dealreg.example")
    # the stage's roles may publish only to "<prefix>-notify-*" topics (README: Adding a channel)
    topic = sns.create_topic(Name=f"{suite.prefix}-notify-wang")["TopicArn"]
    queue = sqs.create_queue(QueueName="wang-alerts-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    directory.create_team("south", "South", now=now())
    directory.create_user("wang", "Wang Lei", Role.REP, now=now(), team_id="south", email="wang@example.com")
    store.save_settings("user:wang", now=now(), channels=["email", "sns"], locale="en", sns_topic_arn=topic)
    try:
        _send_event(suite, _tender_alert("wang", 3, frozen.now()))
        assert {d.channel: d.state for d in _deliveries(recipient="user:wang")} == {
            "email": "sent", "sns": "sent", "local": "sent"}
        assert ses.get_send_quota()["SentLast24Hours"] == 1
        [msg] = sqs.receive_message(QueueUrl=queue)["Messages"]
        assert msg["Body"].startswith("New tender: 云平台采购项目 3\nBuyer: 深圳市大数据中心")
    finally:
        monkeypatch.delenv("DEALREG_NOTIFY_EMAIL_FROM")
        settings.reset()


# --- recipients, digests, the inbox --------------------------------------------------------------------------

def test_review_request_reaches_the_team_managers_not_the_acting_rep(suite, frozen):
    make_user("lin", "manager", team="south")
    key = make_user("wang", "rep", team="south")
    body = example()["data"]
    answer = suite.api.post("/v1/registrations", body, key)
    assert answer.status == 202, answer.body
    suite.runner.pump()
    got = {(d.event_type, d.recipient) for d in _deliveries(channel="local")}
    # wang acted (submitted), so only the manager hears about the review; wang gets nothing about his own act
    assert got == {("registration.review_requested", "user:lin")}


def test_hourly_digest_batches_many_alerts_into_one_message(suite, frozen, receivers):
    from chalicelib.store import notifications as store

    rx = receivers(reply=b"ok")
    make_user("wang", "rep", team="south")
    store.put_bot_credentials("user:wang", "slack", {"url": rx.url + "/services/T/B/X"})
    store.save_settings("user:wang", now=frozen.now(), channels=["slack"], digest="hourly", locale="en")
    for n in range(3):
        _send_event(suite, _tender_alert("wang", n, frozen.now()))
    assert rx.requests == []  # nothing before the hour
    _run_schedule(suite, frozen, hours=1)
    [one] = rx.requests
    assert one.json()["blocks"][0]["text"]["text"] == "You have 3 new notifications"
    assert one.json()["blocks"][1]["text"]["text"].count("New tender:") == 3
    assert {d.state for d in _deliveries(channel="slack")} == {"sent"}
    _run_schedule(suite, frozen, hours=1)
    assert len(rx.requests) == 1


def test_dev_inbox_shows_the_local_channel_in_local_mode_only(suite, frozen, monkeypatch):
    from chalicelib import settings

    admin = make_user("root", "admin")
    make_user("lin", "manager", team="south")
    wang = make_user("wang", "rep", team="south")
    assert suite.api.post("/v1/registrations", example()["data"], wang).status == 202
    suite.runner.pump()
    page = suite.api.get("/v1/dev/inbox", admin).json()
    assert [(i["event_type"], i["recipient"]) for i in page["items"]] == [
        ("registration.review_requested", {"kind": "user", "id": "lin"})]
    assert page["items"][0]["title"].startswith("待审批：深圳市腾讯计算机系统有限公司")
    assert suite.api.get("/v1/dev/inbox", wang).json()["items"] == []
    assert suite.api.get("/v1/dev/inbox").status == 401
    monkeypatch.setenv("DEALREG_LOCAL", "0")
    settings.reset()
    try:
        assert suite.api.get("/v1/dev/inbox", admin).status == 404
    finally:
        monkeypatch.setenv("DEALREG_LOCAL", "1")
        settings.reset()


def test_a_deactivated_partner_receives_nothing_and_the_skips_are_visible(suite, frozen, receivers, capsys):
    from infra.cli import main

    admin = make_user("root", "admin")
    rx = receivers(statuses=[503])
    secret, _ = _partner("acme", rx.url + "/hook")
    post_webhook(suite.api, "acme", secret, example())
    suite.runner.pump()  # the first attempt fails: a retry is pending
    assert len(rx.requests) == 1
    event = rx.requests[0].json()["data"]
    # WHEN the admin deactivates the partner
    assert suite.api.post("/v1/admin/partners/acme/deactivate", {}, admin).status == 200
    # THEN the pending retry is not sent but recorded skipped (final: later schedule runs send nothing)
    for _ in range(3):
        _run_schedule(suite, frozen)
    # AND a new event about its registration reaches no receiver either
    _send_event(suite, {**event, "id": event["id"].replace(":1", ":7")})
    _run_schedule(suite, frozen)
    assert len(rx.requests) == 1
    hooks = _deliveries(channel="webhook")
    assert len(hooks) == 2 and {(d.state, d.last_error) for d in hooks} == {("skipped", "partner_inactive")}
    assert not _deliveries(state="parked") and not _deliveries(state="pending")
    # AND the operator sees the skips with their reason
    capsys.readouterr()
    assert main(["notifications", "list-skipped"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert {(x["id"], x["reason"]) for x in listed if x["channel"] == "webhook"} == {
        (d.id, "partner_inactive") for d in hooks}
    # ... and so does an admin, through the API and on the console's page (both languages; no replay there:
    # a skip is final, the CLI cannot replay it either), while nobody else may look
    answer = suite.api.get("/v1/admin/notifications/skipped", admin)
    assert answer.status == 200, answer.body
    api_listed = {x["id"]: x for x in answer.json()["items"]}
    assert {(i, x["reason"], x["recipient"]["id"]) for i, x in api_listed.items() if x["channel"] == "webhook"} == {
        (d.id, "partner_inactive", "acme") for d in hooks}
    assert all(x["skipped_at"] for x in api_listed.values())
    assert suite.api.get("/v1/admin/notifications/skipped", make_user("boss", "manager", "south")).status == 403
    from tests.functional.console_client import ConsoleClient

    for lang, words in (("zh-CN", "合作伙伴已停用"), ("en", "partner deactivated")):
        c = ConsoleClient(suite.api.base, lang)
        c.login(admin)
        status, _, page = c.get("/console/admin/skipped")
        assert status == 200 and words in page
        for d in hooks:
            assert f'data-id="{d.id}" data-reason="partner_inactive"' in page
        assert "btn-replay" not in page
    # WHEN it is reactivated THEN the next event is delivered again (the skipped ones stay skipped)
    assert suite.api.post("/v1/admin/partners/acme/reactivate", {}, admin).status == 200
    _send_event(suite, {**event, "id": event["id"].replace(":1", ":8")})
    assert len(rx.requests) == 2 and rx.requests[1].json()["data"]["id"].endswith(":8")


def test_a_pending_delivery_to_a_deactivated_user_is_skipped_not_sent(suite, frozen, receivers):
    from chalicelib.store import notifications as store

    admin = make_user("root", "admin")
    make_user("wang", "rep", team="south")
    slack = receivers(statuses=[503], reply=b"ok")
    store.put_bot_credentials("user:wang", "slack", {"url": slack.url + "/services/T0/B0/XXXX"})
    store.save_settings("user:wang", now=frozen.now(), channels=["slack"])
    _send_event(suite, _tender_alert("wang", 3, frozen.now()))  # the first attempt fails: a retry is pending
    assert len(slack.requests) == 1
    [pending] = [d for d in _deliveries(recipient="user:wang", channel="slack")]
    assert pending.state == "pending"
    # WHEN the admin deactivates the rep (left the company) THEN the retry is not sent but recorded skipped
    assert suite.api.post("/v1/admin/users/wang/deactivate", {}, admin).status == 200
    for _ in range(3):
        _run_schedule(suite, frozen)
    assert len(slack.requests) == 1
    [skipped] = _deliveries(recipient="user:wang", channel="slack")
    assert (skipped.state, skipped.last_error) == ("skipped", "user_inactive")

