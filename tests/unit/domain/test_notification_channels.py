"""Channel formats against minimal payloads we wrote from the platforms' documented fields
(tests/fixtures/notifications/channel_payloads.json), their documented signing algorithms, the URL policy,
and SSRF refusals that happen before any socket is opened."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import urllib.parse
from datetime import UTC, datetime

import pytest

from chalicelib.domain.notifications import Message
from chalicelib.services import notification_channels as ch
from connectors.errors import UrlRefusedError
from tests.conftest import load_fixture

EXAMPLES = json.loads(load_fixture("notifications/channel_payloads.json"))
MSG = Message("待审批：深圳市腾讯计算机系统有限公司", "商机报备 reg_1 等待您审批。\n金额 3800000.00 CNY", "https://dealreg.example/r/1")


def shape(value):
    """Keys and value types, recursively: what a platform's parser looks at."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_wecom_markdown_has_the_documented_shape():
    example = EXAMPLES["wecom_markdown"]["body"]
    ours = ch.wecom_payload(MSG)
    assert shape(ours) == shape(example)
    # the example's own content passes through untouched (its <font> tags are WeCom markdown)
    content = example["markdown"]["content"]
    assert ch.wecom_payload(Message("t", content))["markdown"]["content"] == f"**t**\n{content}"


def test_wecom_content_stays_under_the_4096_byte_limit():
    long = Message("标题", "很长的内容" * 2000)
    assert len(ch.wecom_payload(long)["markdown"]["content"].encode()) <= 4096


def test_dingtalk_sign_matches_the_documented_python_example():
    ex = EXAMPLES["dingtalk_sign"]
    secret, ts = ex["secret"], ex["timestamp_ms"]
    # the docs' algorithm, step by step
    secret_enc = secret.encode("utf-8")
    string_to_sign_enc = f"{ts}\n{secret}".encode()
    hmac_code = hmac.new(secret_enc, string_to_sign_enc, digestmod=hashlib.sha256).digest()
    expected = urllib.parse.quote_plus(base64.b64encode(hmac_code))
    url = ch.dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=XXXXXX", secret, ts)
    assert url == f"https://oapi.dingtalk.com/robot/send?access_token=XXXXXX&timestamp={ts}&sign={expected}"
    assert ch.dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=X", None, ts).endswith("=X")


def test_dingtalk_messages_have_the_documented_shape():
    ours = ch.dingtalk_payload(MSG)
    assert ours["msgtype"] == "markdown" and set(ours["markdown"]) == {"title", "text"}
    assert set(ours) == set(EXAMPLES["dingtalk_text"]["body"]) - {"text"} | {"markdown"}
    assert ours["markdown"]["text"].startswith(f"### {MSG.title}\n\n")


def test_feishu_sign_matches_the_documented_gen_sign_example():
    ex = EXAMPLES["feishu_signed_text"]["body"]
    timestamp, secret = int(ex["timestamp"]), "demo-secret"
    # the docs' gen_sign: key = "{timestamp}\n{secret}", message empty
    hmac_code = hmac.new(f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256).digest()
    assert ch.feishu_sign(secret, timestamp) == base64.b64encode(hmac_code).decode("utf-8")
    ours = ch.feishu_payload(MSG, "zh-CN", secret, timestamp)
    assert ours["timestamp"] == ex["timestamp"] and ours["sign"] == ch.feishu_sign(secret, timestamp)
    assert set(ex) - {"content"} <= set(ours)  # timestamp, sign, msg_type as in the signed example


def test_feishu_post_has_the_documented_shape():
    example = EXAMPLES["feishu_post"]["body"]
    ours = ch.feishu_payload(MSG, "zh-CN", None, 0)
    assert "sign" not in ours and ours["msg_type"] == example["msg_type"]
    assert set(ours["content"]["post"]["zh_cn"]) == set(example["content"]["post"]["zh_cn"])
    first = ours["content"]["post"]["zh_cn"]["content"][0][0]
    assert set(first) == set(example["content"]["post"]["zh_cn"]["content"][0][0])
    link = ours["content"]["post"]["zh_cn"]["content"][-1][0]
    assert set(link) == set(example["content"]["post"]["zh_cn"]["content"][0][1]) and link["href"] == MSG.link
    assert "en_us" in ch.feishu_payload(MSG, "en", None, 0)["content"]["post"]


def test_slack_payload_has_the_documented_shape_and_escapes_control_characters():
    example = EXAMPLES["slack_blocks"]["body"]
    ours = ch.slack_payload(Message("A & B", "x < y > z"))
    assert set(ours) == set(example) and ours["blocks"][1]["type"] == example["blocks"][0]["type"]
    assert shape(ours["blocks"][1]) == shape(example["blocks"][0])
    assert ours["text"] == "A &amp; B\nx &lt; y &gt; z"
    assert ours["blocks"][1]["text"]["text"] == "x &lt; y &gt; z"


def test_standard_webhook_request_verifies_with_the_partner_secret():
    from connectors.standard_webhooks import generate_secret, verify

    secret = generate_secret()
    out = ch.Outbound(message=MSG, locale="en", event_type="registration.approved", webhook_id="msg_abc",
                      payload={"id": "reg_1:3", "type": "registration.approved"}, occurred_at="2025-03-03T02:30:00Z")
    body, headers = ch.standard_webhook_request(out, secret, 1_740_969_000)
    verify([secret], headers, body, now=1_740_969_000)
    assert json.loads(body) == {"type": "registration.approved", "timestamp": "2025-03-03T02:30:00Z",
                                "data": {"id": "reg_1:3", "type": "registration.approved"}}
    assert headers["webhook-id"] == "msg_abc"


@pytest.mark.parametrize("channel, url, local, reason", [
    ("wecom", "https://evil.example/cgi-bin/webhook/send?key=k", False, "host_not_allowed"),
    ("slack", "https://hooks.slack.com.evil.example/services/x", False, "host_not_allowed"),
    ("dingtalk", "http://127.0.0.1:9/robot/send", False, "host_not_allowed"),
    ("webhook", "http://partner.example/hook", False, "bad_scheme"),
    ("webhook", "http://partner.example/hook", True, "bad_scheme"),
])
def test_channel_url_policy_refuses(channel, url, local, reason):
    with pytest.raises(UrlRefusedError) as err:
        ch.check_channel_url(channel, url, local=local)
    assert err.value.reason == reason


@pytest.mark.parametrize("channel, url, local", [
    ("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", False),
    ("feishu", "https://open.larksuite.com/open-apis/bot/v2/hook/h", False),
    ("dingtalk", "http://127.0.0.1:9/robot/send?access_token=t", True),
    ("webhook", "https://partner.example/hook", False),
])
def test_channel_url_policy_accepts(channel, url, local):
    ch.check_channel_url(channel, url, local=local)


@pytest.fixture
def no_sockets(monkeypatch):
    opened: list[tuple] = []

    def refuse(*args, **kwargs):
        opened.append(args)
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return opened


@pytest.fixture
def not_local(monkeypatch):
    from chalicelib import settings

    monkeypatch.setenv("DEALREG_LOCAL", "0")
    settings.reset()
    yield
    monkeypatch.undo()
    settings.reset()


@pytest.mark.parametrize("address", ["10.0.0.7", "192.168.1.10", "169.254.169.254", "127.0.0.1", "fd00:ec2::254",
                                     "::ffff:10.0.0.1", "100.64.0.1"])
def test_webhook_to_a_forbidden_address_is_refused_before_any_socket(monkeypatch, no_sockets, not_local, address):
    def resolver(host, port, *args, **kwargs):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(ch, "RESOLVER", resolver)
    out = ch.Outbound(message=MSG, locale="en", event_type="registration.approved", webhook_id="msg_1", payload={})
    with pytest.raises(UrlRefusedError) as err:
        ch.WebhookChannel().send(out, ch.Target(url="https://callback.partner.example/h", secret="whsec_" + "A" * 44),
                                 now=datetime(2025, 3, 3, tzinfo=UTC))
    assert err.value.reason == "forbidden_address"
    assert no_sockets == []


def test_a_bot_url_on_a_foreign_host_is_refused_at_send_time_without_resolving(monkeypatch, no_sockets, not_local):
    def resolver(*args, **kwargs):
        raise AssertionError("resolved")

    monkeypatch.setattr(ch, "RESOLVER", resolver)
    out = ch.Outbound(message=MSG, locale="zh-CN", event_type="tender.alert")
    with pytest.raises(UrlRefusedError) as err:
        ch.WeComChannel().send(out, ch.Target(url="https://10.0.0.7/cgi-bin/webhook/send?key=k"),
                               now=datetime(2025, 3, 3, tzinfo=UTC))
    assert err.value.reason == "host_not_allowed" and no_sockets == []


def test_the_local_channel_refuses_outside_local_mode(not_local):
    from connectors.errors import PermanentError

    with pytest.raises(PermanentError):
        ch.LocalChannel().send(ch.Outbound(message=MSG, locale="en", event_type="x"), ch.Target(),
                               now=datetime(2025, 3, 3, tzinfo=UTC))
