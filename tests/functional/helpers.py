"""Helpers for functional tests: directory setup and signed webhook posts."""
from __future__ import annotations

import copy
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "opportunity.json").read_text())
# When this test process started (wall clock, whole seconds): the envelope time ``example()`` gives. One value per
# process, so two calls give the same body (a replayed webhook-id must carry the same bytes); read from the clock,
# so the example never grows older than the intake's one-year limit (the file's fixed 2026-11-27 would be
# refused as ``stale_timestamp`` from 2027-11-28).
_STARTED = datetime.fromtimestamp(int(time.time()), UTC)


def envelope_timestamp() -> str:
    """An envelope ``timestamp`` the app under test takes as recent: this process's start, or the app's clock
    (``chalicelib.clock``, the same process) if a test set it before that (a frozen past date) or more than
    300 days after it (a frozen future one), both constant while a test does not move its clock."""
    from chalicelib import clock

    now = clock.now()
    at = _STARTED if _STARTED <= now < _STARTED + timedelta(days=300) else now
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def example(**data_overrides) -> dict:
    """``examples/opportunity.json`` with ``data_overrides`` and a recent envelope timestamp."""
    body = copy.deepcopy(EXAMPLE)
    body["timestamp"] = envelope_timestamp()
    body["data"].update(data_overrides)
    return body


def make_partner(partner_id: str = "acme") -> tuple[str, str]:
    from chalicelib.clock import now
    from chalicelib.store import directory

    return directory.create_partner(partner_id, f"Partner {partner_id}", now=now())


def make_user(user_id: str, role: str, team: str | None = None) -> str:
    from chalicelib.clock import now
    from chalicelib.domain.access import Role
    from chalicelib.store import directory

    if team and directory.get_team(team) is None:
        directory.create_team(team, f"Team {team}", now=now())
    return directory.create_user(user_id, user_id, Role(role), now=now(), team_id=team)


def signed_headers(secret: str, body: bytes, *, msg_id: str | None = None, ts: int | None = None) -> dict:
    from connectors.standard_webhooks import sign

    msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
    ts = int(time.time()) if ts is None else ts
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, body)}


def post_webhook(api, partner: str, secret: str, body: dict | bytes, **kw):
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return api.request("POST", f"/v1/partners/{partner}/opportunities", raw, headers=signed_headers(secret, raw, **kw))


def tap_events(suite, name: str = "tap") -> str:
    """An unfiltered queue on the events topic, to observe every event published; returns its URL."""
    sqs, sns = suite.client("sqs"), suite.client("sns")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"]
                 if t["TopicArn"].endswith(f"{suite.prefix}-events"))
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


def drain(suite, url: str) -> list[dict]:
    """Receive and delete every message waiting on ``url``; return the JSON bodies in order received."""
    sqs = suite.client("sqs")
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
