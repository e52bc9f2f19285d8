"""Notification channels behind one small interface: ``send(outbound, target, now=...)``.

Each channel lays a :class:`~chalicelib.domain.notifications.Message` out in its platform's documented format
(pure ``*_payload`` / ``*_sign`` functions, tested against payloads written from each platform's documented
fields in tests/fixtures/notifications/channel_payloads.json) and sends it:

- ``webhook``  — Standard Webhooks to a partner's ``callback_url``, signed with the partner's ``whsec_`` secret;
- ``email``    — Amazon SES ``SendEmail``;  ``sns`` — an SNS topic the recipient chose;
- ``wecom``    — 企业微信 group bot (``msgtype: markdown``);
- ``dingtalk`` — 钉钉 custom robot, ``timestamp`` + ``sign`` (HMAC-SHA256 of "timestamp\\nsecret") in the query;
- ``feishu``   — 飞书 custom bot, ``timestamp`` + ``sign`` (HMAC-SHA256 keyed by "timestamp\\nsecret") in the body;
- ``slack``    — Slack incoming webhook (``text`` + Block Kit ``blocks``);
- ``local``    — nothing leaves the process: the outbox keeps the message for ``GET /v1/dev/inbox``.

Outcomes use the connector error tree: ``RetryableError`` (timeouts, 429/5xx, a platform's rate-limit code) is
retried with backoff, ``PermanentError`` (refused URL, other 4xx, bad signature, no target configured) parks.
All HTTP goes through ``connectors.http.HttpClient`` with the SSRF guard on (loopback http only in local
mode), short timeouts, a response cap and no redirects. Bot URLs carry credentials in their path or query,
so errors and logs carry reason codes and statuses only — never a URL, a body or a secret.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote_plus, urlsplit

from chalicelib import settings
from chalicelib.domain.notifications import Message, Target  # noqa: F401 - Target: the channels' address type
from connectors.errors import PermanentError, RetryableError, UrlRefusedError

logger = logging.getLogger("dealreg.notify")

# The platforms' own webhook hosts. A bot URL elsewhere is refused when set and at send time (besides the
# SSRF guard), so a leaked "bot URL" field cannot aim our requests at an arbitrary host. Local mode also
# allows loopback, where the tests and `make run` keep their stand-in receivers.
BOT_HOSTS: dict[str, tuple[str, ...]] = {
    "wecom": ("qyapi.weixin.qq.com",),
    "dingtalk": ("oapi.dingtalk.com",),
    "feishu": ("open.feishu.cn", "open.larksuite.com"),
    "slack": ("hooks.slack.com",),
}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
RESPONSE_CAP = 64 * 1024
# Platform limits from their docs: WeCom markdown content <= 4096 bytes, Feishu request body <= 20 KB,
# DingTalk/Slack are more generous; one conservative cap for the text keeps every body well inside.
TEXT_CAP_BYTES = 3500

RESOLVER = socket.getaddrinfo
"""Name resolution for the SSRF guard; tests replace it with a stub (and never reach real DNS)."""


@dataclass(frozen=True)
class Outbound:
    """What to send: the message, and for the partner webhook the event itself with its stable id."""

    message: Message
    locale: str
    event_type: str
    webhook_id: str | None = None
    payload: dict | None = None
    occurred_at: str | None = None


class Channel(Protocol):
    name: str

    def send(self, out: Outbound, target: Target, *, now: datetime) -> None:
        """Deliver once. Raises RetryableError or PermanentError; returns on success."""


# --- URL policy ----------------------------------------------------------------------------------------------

def check_channel_url(channel: str, url: str, *, local: bool, resolve: bool = False) -> None:
    """Refuse a URL that ``channel`` must not send to.

    Bot channels accept only their platform's host (loopback too in local mode); every channel needs https
    (http only to loopback in local mode). With ``resolve`` the SSRF guard also resolves the host and refuses
    private, link-local and metadata addresses (used when a URL is set; at send time the HTTP client does it).

    Raises:
        UrlRefusedError: ``reason`` ``host_not_allowed`` or one of ``connectors.http.check_url``'s reasons.
    """
    from connectors.http import check_url

    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError as exc:
        raise UrlRefusedError("unparseable URL", reason="bad_url") from exc
    allowed = BOT_HOSTS.get(channel)
    if allowed is not None and host not in allowed and not (local and host in LOOPBACK_HOSTS):
        raise UrlRefusedError(f"{channel} URLs must be on {', '.join(allowed)}", reason="host_not_allowed")
    if resolve:
        check_url(url, allow_loopback_http=local, resolver=_resolve)
    elif not url.lower().startswith("https://") and not (local and host in LOOPBACK_HOSTS):
        raise UrlRefusedError("only https is allowed", reason="bad_scheme")


def _resolve(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    return RESOLVER(*args, **kwargs)  # looked up at call time so a test's stub takes effect


_clients: dict[tuple[bool, float], Any] = {}


def http_client() -> Any:
    """The guarded client (kept per settings so a warm Lambda reuses connections)."""
    from connectors.http import HttpClient

    s = settings.get()
    key = (s.local, s.notify_timeout_seconds)
    if key not in _clients:
        t = s.notify_timeout_seconds
        _clients[key] = HttpClient(connect_timeout=min(2.0, t), read_timeout=t, total_timeout=2 * t,
                                   max_bytes=RESPONSE_CAP, max_redirects=0, ssrf_guard=True,
                                   allow_loopback_http=s.local, resolver=_resolve)
    return _clients[key]


def _clip(text: str, limit: int = TEXT_CAP_BYTES) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", errors="ignore") + "…"


def _json(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _answer(body: bytes) -> dict:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        # A 200 whose body we cannot read is more likely a proxy hiccup than a verdict: try again later.
        raise RetryableError("unreadable response", reason="bad_response") from None
    return data if isinstance(data, dict) else {}


# --- platform formats (pure) ---------------------------------------------------------------------------------

def wecom_payload(msg: Message) -> dict:
    """企业微信 group bot markdown message: ``{"msgtype": "markdown", "markdown": {"content": ...}}``."""
    lines = [f"**{msg.title}**", msg.text]
    if msg.link:
        lines.append(f"[{msg.link}]({msg.link})")
    return {"msgtype": "markdown", "markdown": {"content": _clip("\n".join(lines))}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉 加签: base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}")), before URL encoding."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_signed_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    """The robot URL with ``timestamp`` and the URL-encoded ``sign`` appended (unchanged without a secret)."""
    if not secret:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={timestamp_ms}&sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"


def dingtalk_payload(msg: Message) -> dict:
    """钉钉 custom robot markdown message: ``{"msgtype": "markdown", "markdown": {"title", "text"}}``."""
    text = f"### {msg.title}\n\n{msg.text}" + (f"\n\n[{msg.link}]({msg.link})" if msg.link else "")
    return {"msgtype": "markdown", "markdown": {"title": msg.title, "text": _clip(text)}}


def feishu_sign(secret: str, timestamp: int) -> str:
    """飞书 签名校验: base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg=b"")) — the key is the string."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_payload(msg: Message, locale: str, secret: str | None, timestamp: int) -> dict:
    """飞书 custom bot rich-text (``post``) message, with ``timestamp`` and ``sign`` when a secret is set."""
    lines = [[{"tag": "text", "text": _clip(line, 1500)}] for line in msg.text.split("\n") if line]
    if msg.link:
        lines.append([{"tag": "a", "text": msg.link, "href": msg.link}])
    body: dict[str, Any] = {}
    if secret:
        body = {"timestamp": str(timestamp), "sign": feishu_sign(secret, timestamp)}
    lang = "zh_cn" if locale == "zh-CN" else "en_us"
    body.update({"msg_type": "post", "content": {"post": {lang: {"title": msg.title, "content": lines}}}})
    return body


def _slack_escape(text: str) -> str:
    # Slack's formatting guide: only &, < and > must be escaped in message text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(msg: Message) -> dict:
    """Slack incoming webhook: ``text`` (the notification fallback) plus ``blocks`` (header + section)."""
    body = _slack_escape(_clip(msg.text, 2900))  # a section's text is limited to 3000 characters
    if msg.link:
        body += f"\n<{msg.link}>"
    return {"text": _slack_escape(f"{msg.title}\n{msg.text}")[:3000],
            "blocks": [{"type": "header", "text": {"type": "plain_text", "text": msg.title[:150]}},
                       {"type": "section", "text": {"type": "mrkdwn", "text": body}}]}


def standard_webhook_request(out: Outbound, secret: str, timestamp: int) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a Standard Webhooks delivery: ``{"type", "timestamp", "data"}`` signed with the
    partner's secret; ``webhook-id`` is stable per event and recipient."""
    from connectors.standard_webhooks import sign

    if not out.webhook_id:
        raise PermanentError("no webhook id", reason="no_webhook_id")
    body = _json({"type": out.event_type, "timestamp": out.occurred_at, "data": out.payload or {}})
    return body, {"Content-Type": "application/json", "webhook-id": out.webhook_id,
                  "webhook-timestamp": str(timestamp),
                  "webhook-signature": sign(secret, out.webhook_id, timestamp, body)}


# --- channels (I/O) ------------------------------------------------------------------------------------------

def _need_url(channel: str, target: Target) -> str:
    if not target.url:
        raise PermanentError(f"no {channel} URL configured", reason="no_target")
    check_channel_url(channel, target.url, local=settings.get().local)
    return target.url


class WebhookChannel:
    name = "webhook"

    def send(self, out: Outbound, target: Target, *, now: datetime) -> None:
        url = _need_url(self.name, target)
        if not target.secret:
            raise PermanentError("partner has no signing secret", reason="no_secret")
        body, headers = standard_webhook_request(out, target.secret, int(now.timestamp()))
        http_client().post(url, body, headers=headers)  # any 2xx is a delivery


class WeComChannel:
    name = "wecom"

    def send(self, out: Outbound, target: Target, *, now: datetime) -> None:
        url = _need_url(self.name, target)
        answer = _answer(http_client().post(url, _json(wecom_payload(out.message)),
                                            headers={"Content-Type": "application/json"}).body)
        code = answer.get("errcode", 0)
        if code in (45009, -1):  # API frequency limit (20/min per bot), system busy
            raise RetryableError("wecom busy", reason=f"wecom_{code}")
        if code != 0:
            raise PermanentError("wecom refused", reason=f"wecom_{code}")


class DingTalkChannel:
    name = "dingtalk"

    def send(self, out: Outbound, target: Target, *, now: datetime) -> None:
        url = dingtalk_signed_url(_need_url(self.name, target), target.secret, int(now.timestamp() * 1000))
        answer = _answer(http_client().post(url, _json(dingtalk_payload(out.message)),
                                            headers={"Content-Type": "application/json; charset=utf-8"}).body)
        code = answer.get("errcode", 0)
        if code in (130101, -1):  # "send too fast, exceed 20 times per minute", system busy
            raise RetryableError("dingtalk busy", reason=f"dingtalk_{code}")
        if code != 0:
            raise PermanentError("dingtalk refused", reason=f"dingtalk_{code}")


class FeishuChannel:
    name = "feishu"

    def send(self, out: Outbound, target: Target, *, now: datetime) -> None:
        url = _need_url(self.name, target)
        body = feishu_payload(out.message, out.locale, target.secret, int(now.timestamp()))
        answer = _answer(http_client().post(url, _json(body), headers={"Content-Type": "application/json"}).body)
        code = answer.get("code", answer.get("StatusCode", 0))
        if code == 11232:  # rate limited (100/min, 5/s per bot)
            raise RetryableError("feishu busy", reason="feishu_11232")
        if code != 0:
            raise PermanentError("feishu refused", reason=f"feishu_{code}")


class SlackChannel:
    name = "slack"

    def send(self, out: Outbound, target: Target, *, now: datetime) -> None:
        # Slack answers 200 "ok"; its errors (invalid_payload, no_service, ...) come with 4xx, and 429 with
        # Retry-After — the HTTP client classifies those.
        http_client().post(_need_url(self.name, target), _json(slack_payload(out.message)),
                           headers={"Content-Type": "application/json"})


def _aws_error(exc: Exception, service: str) -> Exception:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure",
                    "InternalError", "KMSThrottlingException"}:
            return RetryableError(f"{service} busy", reason=f"{service}_{code}")
        return PermanentError(f"{service} refused", reason=f"{service}_{code or 'error'}")
    if isinstance(exc, BotoCoreError):
        return RetryableError(f"{service} unreachable", reason=f"{service}_unreachable")
    return exc


class EmailChannel:
    name = "email"

    def send(self, out: Outbound, target: Target, *, now: datetime) -> None:
        from chalicelib.store import aws

        sender = settings.get().notify_email_from
        if not sender:
            raise PermanentError("DEALREG_NOTIFY_EMAIL_FROM is not set", reason="email_not_configured")
        if not target.address:
            raise PermanentError("recipient has no email address", reason="no_target")
        text = out.message.text + (f"\n\n{out.message.link}" if out.message.link else "")
        try:
            aws.client("ses").send_email(
                Source=sender, Destination={"ToAddresses": [target.address]},
                Message={"Subject": {"Data": out.message.title, "Charset": "UTF-8"},
                         "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}})
        except Exception as exc:  # noqa: BLE001 - classified; unknown errors re-raised as they are
            raise _aws_error(exc, "ses") from exc


class SnsChannel:
    name = "sns"

    def send(self, out: Outbound, target: Target, *, now: datetime) -> None:
        from chalicelib.store import aws

        if not target.address:
            raise PermanentError("recipient has no SNS topic", reason="no_target")
        args: dict[str, Any] = {"TopicArn": target.address, "Message": f"{out.message.title}\n{out.message.text}"}
        # SNS subjects must be ASCII, one line, under 100 characters: Chinese titles go in the body only.
        if out.message.title.isascii() and len(out.message.title) < 100:
            args["Subject"] = out.message.title
        try:
            aws.client("sns").publish(**args)
        except Exception as exc:  # noqa: BLE001 - classified; unknown errors re-raised as they are
            raise _aws_error(exc, "sns") from exc


class LocalChannel:
    """Development inbox: the outbox stores the message on the delivery (``GET /v1/dev/inbox``) and logs it."""

    name = "local"

    def send(self, out: Outbound, target: Target, *, now: datetime) -> None:
        if not settings.get().local:
            raise PermanentError("the local inbox exists in local mode only", reason="not_local")
        logger.info("inbox: %s | %s", out.message.title, out.message.text.replace("\n", " / "))


CHANNEL_IMPLS: dict[str, Channel] = {c.name: c for c in (
    WebhookChannel(), EmailChannel(), SnsChannel(), WeComChannel(), DingTalkChannel(), FeishuChannel(),
    SlackChannel(), LocalChannel())}
"""Channel name -> implementation. A new channel: a class with ``name`` and ``send``, one entry here, the name
in ``domain.notifications.CHANNELS`` and, for a bot, its hosts in ``BOT_HOSTS``."""
