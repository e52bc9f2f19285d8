"""``dealreg notifications …``: channel settings of users and partners, parked deliveries and their replay.

Registered by ``infra/cli.py`` (``add_parsers``). URLs are validated when set: bot URLs must be on their
platform's host, and every URL passes the SSRF guard (https only, public addresses after DNS resolution;
loopback http only against the local stack). Secrets are stored in Secrets Manager and never printed.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def _refuse(message: str) -> int:
    print(f"refused: {message}", file=sys.stderr)
    return 2


def _set_refusal(args: argparse.Namespace, channels: list[str] | None, urls: dict[str, str | None]) -> str | None:
    """Why ``set`` refuses these arguments, or None when they are acceptable."""
    from chalicelib import settings
    from chalicelib.domain.notifications import CHANNELS, DIGEST_MODES, LOCALES
    from chalicelib.services.notification_channels import check_channel_url
    from connectors.errors import ConnectorError

    if channels is not None and (bad := [c for c in channels if c not in CHANNELS]):
        return f"unknown channel(s) {', '.join(bad)}; known: {', '.join(CHANNELS)}"
    if channels and args.kind == "user" and "webhook" in channels:
        return "the webhook channel is a partner system's callback"
    if args.locale is not None and args.locale not in LOCALES:
        return f"locale must be one of {', '.join(LOCALES)}"
    if args.digest is not None and args.digest not in DIGEST_MODES:
        return f"digest must be one of {', '.join(DIGEST_MODES)}"
    if args.sns_topic_arn:
        # The delivery functions may publish only to "<prefix>-notify-*" topics (infra/iam.py NOTIFY_SEND).
        topic = args.sns_topic_arn.rsplit(":", 1)[-1]
        wanted = f"{settings.get().prefix}-notify-"
        if not (args.sns_topic_arn.startswith("arn:") and topic.startswith(wanted)):
            return (f"SNS topic must be an ARN of a topic named {wanted}* (the delivery functions "
                    "may publish only there)")
    if args.callback_url is not None and args.kind != "partner":
        return "only partners have a callback URL"
    local = settings.get().local
    for channel, url in urls.items():
        if url:
            try:
                check_channel_url(channel, url, local=local, resolve=True)
            except ConnectorError as exc:
                return f"{channel} URL ({exc.reason})"
    return None


def _save_bots(ref: str, args: argparse.Namespace, urls: dict[str, str | None]) -> None:
    """Store (or, for an empty URL, remove) each chat bot's URL and signing secret."""
    from chalicelib.store import notifications as store

    secrets = {"dingtalk": args.dingtalk_secret, "feishu": args.feishu_secret}
    for channel in ("wecom", "dingtalk", "feishu", "slack"):
        url = urls[channel]
        if url == "":
            store.put_bot_credentials(ref, channel, None)  # an empty URL removes the bot
        elif url:
            entry = {"url": url}
            if secrets.get(channel):
                entry["secret"] = secrets[channel]
            store.put_bot_credentials(ref, channel, entry)


def cmd_set(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    storage(args)
    from chalicelib.store import directory, notifications as store
    from chalicelib.store.models import PartnerItem

    ref = f"{args.kind}:{args.id}"
    exists = directory.get_user(args.id) if args.kind == "user" else directory.get_partner(args.id)
    if exists is None:
        return _refuse(f"no {args.kind} {args.id!r}")
    channels = [c.strip() for c in args.channels.split(",") if c.strip()] if args.channels is not None else None
    urls = {"webhook": args.callback_url, "wecom": args.wecom_url, "dingtalk": args.dingtalk_url,
            "feishu": args.feishu_url, "slack": args.slack_url}
    refusal = _set_refusal(args, channels, urls)
    if refusal is not None:
        return _refuse(refusal)
    if args.callback_url is not None:
        PartnerItem(f"partner#{args.id}").update(actions=[PartnerItem.callback_url.set(args.callback_url or None)])
    _save_bots(ref, args, urls)
    store.save_settings(ref, now=now(), channels=channels, locale=args.locale, digest=args.digest,
                        timezone=args.timezone, email=args.email, sns_topic_arn=args.sns_topic_arn)
    return cmd_show(args, lambda _a: None, now)


def cmd_show(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    storage(args)
    from chalicelib.store import notifications as store

    ref = f"{args.kind}:{args.id}"
    prefs = store.prefs_for(ref)
    if prefs is None:
        return _refuse(f"no active {args.kind} {args.id!r}")
    bots = store.bot_credentials(ref)
    print(json.dumps({"recipient": ref, "channels": list(prefs.channels), "locale": prefs.locale,
                      "digest": prefs.digest, "timezone": prefs.timezone,
                      # which bots are set and whether they sign — never the URLs (they carry tokens)
                      "bots": {name: {"signed": bool(entry.get("secret"))} for name, entry in sorted(bots.items())}},
                     ensure_ascii=False))
    return 0


def cmd_list_parked(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    storage(args)
    from chalicelib.store import notifications as store

    rows = store.parked(limit=args.limit)
    for d in rows:
        print(json.dumps({"id": d.id, "event_id": d.event_id, "event_type": d.event_type, "recipient": d.recipient,
                          "channel": d.channel, "attempts": int(d.attempts), "last_error": d.last_error,
                          "parked_at": d.parked_at.isoformat() if d.parked_at else None}, ensure_ascii=False))
    print(f"{len(rows)} parked", file=sys.stderr)
    return 0


def cmd_list_skipped(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    storage(args)
    from chalicelib.store import notifications as store

    rows = store.skipped(limit=args.limit)
    for d in rows:
        print(json.dumps({"id": d.id, "event_id": d.event_id, "event_type": d.event_type, "recipient": d.recipient,
                          "channel": d.channel, "reason": d.last_error, "skipped_at": d.lane_at},
                         ensure_ascii=False))
    print(f"{len(rows)} skipped", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    if bool(args.ids) == bool(args.all):
        return _refuse("name delivery ids, or use --all")
    storage(args)
    from chalicelib.services import notification_outbox

    done, missed = notification_outbox.replay(None if args.all else args.ids, now=now())
    for i in done:
        print(f"replaying {i}")
    for i in missed:
        print(f"not parked (or unknown): {i}", file=sys.stderr)
    print(json.dumps({"replayed": len(done), "not_parked": len(missed)}))
    return 1 if missed else 0


def add_parsers(sub: Any, storage: Callable[[argparse.Namespace], None], now: Any,
                storage_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``notifications set|show|list-parked|list-skipped|replay`` to the ``dealreg`` parser."""
    notif = sub.add_parser("notifications", help="notification channels, parked deliveries, replay").add_subparsers(
        dest="action", required=True)

    def bind(p: argparse.ArgumentParser, func: Callable[..., int]) -> None:
        storage_flags(p)
        p.set_defaults(func=lambda args: func(args, storage, now))

    st = notif.add_parser("set", help="set a user's or partner's channels, locale, digest and bot URLs")
    st.add_argument("kind", choices=["user", "partner"])
    st.add_argument("id")
    st.add_argument("--channels", help="comma-separated: webhook,email,sns,wecom,dingtalk,feishu,slack,local")
    st.add_argument("--locale", help="zh-CN or en")
    st.add_argument("--digest", help="off, hourly or daily")
    st.add_argument("--timezone", help="IANA name for the daily digest, e.g. Asia/Shanghai")
    st.add_argument("--email")
    st.add_argument("--sns-topic-arn")
    st.add_argument("--callback-url", help="partners: Standard Webhooks callback ('' removes it)")
    st.add_argument("--wecom-url", help="企业微信 group bot webhook URL ('' removes it)")
    st.add_argument("--dingtalk-url", help="钉钉 custom robot URL with access_token ('' removes it)")
    st.add_argument("--dingtalk-secret", help="钉钉 加签 secret (SEC…)")
    st.add_argument("--feishu-url", help="飞书 custom bot hook URL ('' removes it)")
    st.add_argument("--feishu-secret", help="飞书 签名校验 secret")
    st.add_argument("--slack-url", help="Slack incoming webhook URL ('' removes it)")
    bind(st, cmd_set)
    sh = notif.add_parser("show", help="a recipient's effective settings (bot URLs are never printed)")
    sh.add_argument("kind", choices=["user", "partner"])
    sh.add_argument("id")
    bind(sh, cmd_show)
    lp = notif.add_parser("list-parked", help="deliveries that exhausted their retries (JSON lines)")
    lp.add_argument("--limit", type=int, default=100)
    bind(lp, cmd_list_parked)
    ls = notif.add_parser("list-skipped", help="deliveries not sent because the recipient was deactivated")
    ls.add_argument("--limit", type=int, default=100)
    bind(ls, cmd_list_skipped)
    rp = notif.add_parser("replay", help="send parked deliveries again (fresh retries, same webhook-id)")
    rp.add_argument("ids", nargs="*")
    rp.add_argument("--all", action="store_true")
    bind(rp, cmd_replay)
