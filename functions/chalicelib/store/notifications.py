"""The notification outbox's storage: delivery records, recipients' channel settings and bot credentials.

Every write is conditional. A delivery is created only if its id is new (a redelivered event creates
nothing); a sender *claims* it with a short lease before sending (two senders never send it at once); the
"sent" marker is written only while the delivery is still pending at the attempt that was claimed, so a
success is recorded once and never followed by another send. Due, parked and inbox deliveries are found
through the sparse ``ByLaneIndex`` (never a scan).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib import settings as settings_mod
from chalicelib.domain.notifications import (
    DEFAULT_TIMEZONES,
    ChannelPrefs,
    Delivery,
    Message,
    webhook_id,
)
from chalicelib.store.models import DeliveryItem, NotifySettingsItem

DUE_SHARDS = 4
LEASE_SECONDS = 120  # longer than a send can take (timeouts are a few seconds), short enough to recover fast
PARKED = "parked"
INBOX = "inbox"
SKIPPED = "skipped"


def lane_time(at: datetime) -> str:
    """Fixed-width UTC text, so the index's range key sorts by time."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def due_lane(delivery_id: str) -> str:
    """One of ``DUE_SHARDS`` partitions of the due index, fixed per delivery."""
    return f"due#{int(delivery_id[-4:], 16) % DUE_SHARDS}"


def _conditional_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


# --- deliveries ----------------------------------------------------------------------------------------------

def create(planned: Sequence[Delivery], evt: dict, *, now: datetime,
           via_team: Mapping[str, str | None] | None = None) -> list[DeliveryItem]:
    """Store each planned delivery unless its id exists; return the ones created now. ``via_team``: recipient ->
    the team whose managers they are told as (checked again when it is sent)."""
    created = []
    for d in planned:
        item = DeliveryItem(
            d.id, event_id=d.event_id, event_type=d.event_type, recipient=d.recipient, channel=d.channel,
            locale=d.locale, digest=d.digest, state="pending", attempts=0, title=d.message.title,
            text=d.message.text, link=d.message.link,
            payload=dict(d.payload if d.payload is not None else evt) if d.channel == "webhook" or d.inbox else None,
            webhook_id=webhook_id(d.event_id, d.recipient) if d.channel == "webhook" else None,
            lane=due_lane(d.id), lane_at=lane_time(d.due_at), created_at=now,
            inbox_of=d.recipient if d.inbox else None, inbox_at=f"{lane_time(now)}#{d.id}" if d.inbox else None,
            via_team=(via_team or {}).get(d.recipient))
        try:
            item.save(condition=DeliveryItem.id.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                continue  # planned before: the event was delivered to us again
            raise
        created.append(item)
    return created


def record_skipped(planned: Sequence[Delivery], *, reason: str, now: datetime) -> list[DeliveryItem]:
    """Store planned deliveries as ``skipped`` with ``reason`` at once (never sent, never in an inbox; final), under
    the ids they would have had, unless they exist; listed with the other skipped deliveries."""
    created = []
    for d in planned:
        item = DeliveryItem(
            d.id, event_id=d.event_id, event_type=d.event_type, recipient=d.recipient, channel=d.channel,
            locale=d.locale, digest=d.digest, state=SKIPPED, attempts=0, title=d.message.title, text=d.message.text,
            link=d.message.link, last_error=reason[:200], lane=SKIPPED, lane_at=lane_time(now), created_at=now)
        try:
            item.save(condition=DeliveryItem.id.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                continue
            raise
        created.append(item)
    return created


def get(delivery_id: str) -> DeliveryItem | None:
    try:
        return DeliveryItem.get(delivery_id)
    except DeliveryItem.DoesNotExist:
        return None


def due(now: datetime, *, limit: int = 100) -> list[DeliveryItem]:
    """Pending deliveries whose time has come, oldest first within each shard, at most ``limit`` in all."""
    out: list[DeliveryItem] = []
    for shard in range(DUE_SHARDS):
        if len(out) >= limit:
            break
        out.extend(DeliveryItem.by_lane.query(f"due#{shard}", DeliveryItem.lane_at <= lane_time(now),
                                              limit=limit - len(out)))
    return [i for i in out if i.state == "pending"]


def _update(item: DeliveryItem, actions: list, condition: Any) -> bool:
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def _pending_at(item: DeliveryItem) -> Any:
    return (DeliveryItem.state == "pending") & (DeliveryItem.attempts == int(item.attempts))


def claim(item: DeliveryItem, *, now: datetime) -> bool:
    """Take a short lease on a pending delivery; False if it moved on or another sender holds it."""
    lease_free = DeliveryItem.lease_until.does_not_exist() | (DeliveryItem.lease_until < now)
    return _update(item, [DeliveryItem.lease_until.set(now + timedelta(seconds=LEASE_SECONDS))],
                   _pending_at(item) & lease_free)


def mark_sent(item: DeliveryItem, *, now: datetime) -> bool:
    """Record the success once. A local-channel delivery moves to the inbox lane; others leave the index."""
    actions = [DeliveryItem.state.set("sent"), DeliveryItem.sent_at.set(now), DeliveryItem.lease_until.remove()]
    if item.channel == "local":
        actions += [DeliveryItem.lane.set(INBOX), DeliveryItem.lane_at.set(lane_time(now))]
    else:
        actions += [DeliveryItem.lane.remove(), DeliveryItem.lane_at.remove()]
    return _update(item, actions, _pending_at(item))


def reschedule(item: DeliveryItem, *, now: datetime, delay: float, reason: str) -> bool:
    """Count the failed attempt and make the delivery due again after ``delay`` seconds."""
    return _update(item, [
        DeliveryItem.attempts.set(int(item.attempts) + 1), DeliveryItem.last_error.set(reason[:200]),
        DeliveryItem.lane.set(due_lane(item.id)), DeliveryItem.lane_at.set(lane_time(now + timedelta(seconds=delay))),
        DeliveryItem.lease_until.remove()], _pending_at(item))


def park(item: DeliveryItem, *, now: datetime, reason: str, count_attempt: bool = True) -> bool:
    """Give up until an operator replays it: the dead-letter state, listed by ``dealreg notifications``."""
    return _update(item, [
        DeliveryItem.state.set(PARKED), DeliveryItem.attempts.set(int(item.attempts) + int(count_attempt)),
        DeliveryItem.last_error.set(reason[:200]), DeliveryItem.parked_at.set(now),
        DeliveryItem.lane.set(PARKED), DeliveryItem.lane_at.set(lane_time(now)),
        DeliveryItem.lease_until.remove()], _pending_at(item))


def skip(item: DeliveryItem, *, now: datetime, reason: str) -> bool:
    """Record a delivery that must not be sent (its recipient, or the team they are told as a manager of, is
    deactivated): final, never retried, and listed by ``dealreg notifications list-skipped`` with ``reason`` in
    ``last_error``. Its entry in the recipient's in-app notifications, shown (and maybe read) since it was planned,
    stays: the skip stops a send, it does not rewrite what was announced."""
    return _update(item, [
        DeliveryItem.state.set(SKIPPED), DeliveryItem.last_error.set(reason[:200]),
        DeliveryItem.lane.set(SKIPPED), DeliveryItem.lane_at.set(lane_time(now)),
        DeliveryItem.lease_until.remove()], _pending_at(item))


def skipped(*, limit: int = 100) -> list[DeliveryItem]:
    """Skipped deliveries, newest first."""
    return list(DeliveryItem.by_lane.query(SKIPPED, scan_index_forward=False, limit=limit))


def inactive_reason(ref: str) -> str | None:
    """Why nothing may be sent to ``ref`` now (``partner_inactive``, ``partner_unknown``, ``user_inactive``), or
    None.

    Read at delivery time from the table (``directory.get_partner`` / ``get_user``, not the per-process partner
    cache), so a deactivation stops the very next delivery attempt in every process, and a reactivation resumes
    the next. A user the directory does not know is not refused here (fan-out already plans only known people).
    """
    from chalicelib.store import directory

    kind, ident = split_ref(ref)
    if kind == "user":
        user = directory.get_user(ident)
        return "user_inactive" if user is not None and user.active != "yes" else None
    if kind != "partner":
        return None
    partner = directory.get_partner(ident)
    if partner is None:
        return "partner_unknown"
    return None if partner.active == "yes" else "partner_inactive"


def parked(*, limit: int = 100) -> list[DeliveryItem]:
    """Parked deliveries, oldest first."""
    return list(DeliveryItem.by_lane.query(PARKED, limit=limit))


def replay(item: DeliveryItem, *, now: datetime) -> bool:
    """Put a parked delivery back in the due lane with a fresh attempt count; False if it is not parked."""
    return _update(item, [
        DeliveryItem.state.set("pending"), DeliveryItem.attempts.set(0), DeliveryItem.parked_at.remove(),
        DeliveryItem.lane.set(due_lane(item.id)), DeliveryItem.lane_at.set(lane_time(now))],
        DeliveryItem.state == PARKED)


def inbox(*, limit: int = 50) -> list[DeliveryItem]:
    """What the local channel delivered, newest first."""
    return list(DeliveryItem.by_lane.query(INBOX, scan_index_forward=False, limit=limit))


# --- the caller's notifications (GET /v1/notifications) ----------------------------------------------------

def notifications(recipient: str, *, limit: int, cursor: dict | None) -> tuple[list[DeliveryItem], dict | None]:
    """One page of ``recipient``'s notifications, newest first (``ByInboxIndex``: one Query, ``limit`` items),
    and the key to continue from (None on the last page)."""
    result = DeliveryItem.by_inbox.query(recipient, scan_index_forward=False, limit=limit,
                                         last_evaluated_key=cursor)
    items = list(result)
    return items, result.last_evaluated_key


def mark_read(delivery_id: str, recipient: str, *, now: datetime) -> DeliveryItem | None:
    """Mark ``recipient``'s notification read (the first time only; a repeat changes nothing). None when no
    notification of ``recipient`` has that id (someone else's reads as absent)."""
    item = get(delivery_id)
    if item is None or item.inbox_of != recipient:
        return None
    if item.read_at is None:
        try:
            item.update(actions=[DeliveryItem.read_at.set(now)],
                        condition=(DeliveryItem.inbox_of == recipient) & DeliveryItem.read_at.does_not_exist())
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise
            item.refresh(consistent_read=True)  # read meanwhile by another request: keep that time
    return item


def message_of(item: DeliveryItem) -> Message:
    return Message(title=item.title, text=item.text, link=item.link)


# --- recipients: settings, defaults and targets --------------------------------------------------------------

def split_ref(ref: str) -> tuple[str, str]:
    kind, _, ident = ref.partition(":")
    return kind, ident


def get_settings(ref: str) -> NotifySettingsItem | None:
    try:
        return NotifySettingsItem.get(f"notify#{ref}")
    except NotifySettingsItem.DoesNotExist:
        return None


def save_settings(ref: str, *, now: datetime, **fields: Any) -> NotifySettingsItem:
    """Create or change a recipient's settings; ``None`` values leave a field as it is."""
    item = get_settings(ref) or NotifySettingsItem(f"notify#{ref}", created_at=now)
    for name, value in fields.items():
        if value is not None:
            setattr(item, name, value)
    item.updated_at = now
    item.save()
    return item


def team_managers(team_id: str) -> list[str]:
    from chalicelib.store import directory

    team = directory.get_team(team_id)
    return [f"user:{m}" for m in (team.manager_ids or [])] if team is not None else []


def review_approvers(ref: str) -> list[str]:
    """``review:<registration id>:<level>`` -> the active users to tell (store.routing.recipients)."""
    from chalicelib.store import registrations, routing

    reg_id, _, level = ref[len("review:"):].rpartition(":")
    reg = registrations.get(reg_id) if reg_id and level.isdigit() else None
    return [f"user:{u}" for u in routing.recipients(reg, int(level))] if reg is not None else []


def expand(refs: Iterable[str]) -> list[str]:
    """``team:<id>`` -> that team's managers; ``review:<reg>:<level>`` -> that level's approvers; user and
    partner refs as they are; order kept, no repeats."""
    out: list[str] = []
    for ref in refs:
        expanded = (team_managers(ref[5:]) if ref.startswith("team:")
                    else review_approvers(ref) if ref.startswith("review:") else [ref])
        for r in expanded:
            if r not in out:
                out.append(r)
    return out


def prefs_for(ref: str) -> ChannelPrefs | None:
    """A recipient's channels and locale with the defaults filled in; None for an unknown one or an inactive
    user. An inactive partner keeps its channels: its deliveries are planned and then recorded ``skipped`` by
    the outbox at delivery time (:func:`inactive_reason`), so an operator sees what it did not receive.

    Defaults: a user is emailed when the directory has an address; a partner gets its Standard Webhooks
    callback when one is set. In local mode everyone also gets the ``local`` inbox channel.
    """
    from chalicelib.store import directory

    s = settings_mod.get()
    kind, ident = split_ref(ref)
    conf = get_settings(ref)
    if kind == "user":
        user = directory.get_user(ident)
        if user is None or user.active != "yes":
            return None
        default = ["email"] if (user.email or (conf and conf.email)) else []
    elif kind == "partner":
        partner = directory.get_partner(ident)
        if partner is None:
            return None
        default = ["webhook"] if partner.callback_url else []
    else:
        return None
    channels = list(conf.channels) if conf is not None and conf.channels is not None else default
    if kind == "user":
        channels = [c for c in channels if c != "webhook"]  # the callback is a partner system's
    if s.local and "local" not in channels:
        channels.append("local")
    locale = (conf.locale if conf is not None and conf.locale else None) or s.notify_default_locale
    return ChannelPrefs(recipient=ref, channels=tuple(channels), locale=locale,
                        digest=(conf.digest if conf is not None and conf.digest else "off"),
                        timezone=(conf.timezone if conf is not None and conf.timezone else
                                  DEFAULT_TIMEZONES.get(locale, "UTC")))


def bot_secret_name(ref: str) -> str:
    kind, ident = split_ref(ref)
    return f"{settings_mod.get().prefix}/notify/{kind}/{ident}"


def bot_credentials(ref: str) -> dict:
    """``{"wecom": {"url": ...}, "dingtalk": {"url": ..., "secret": ...}, ...}`` from Secrets Manager (cached:
    ``aws.secret_json``); ``{}`` when the recipient has none."""
    from chalicelib.store import aws

    value = aws.secret_json(bot_secret_name(ref))
    return value if isinstance(value, dict) else {}


def put_bot_credentials(ref: str, channel: str, entry: dict | None) -> None:
    """Set (or with ``None`` remove) one channel's credentials for a recipient."""
    from chalicelib.store import aws

    sm = aws.client("secretsmanager")
    name = bot_secret_name(ref)
    try:
        current = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
        exists = True
    except sm.exceptions.ResourceNotFoundException:
        current, exists = {}, False
    if entry is None:
        current.pop(channel, None)
    else:
        current[channel] = entry
    if exists:
        sm.put_secret_value(SecretId=name, SecretString=json.dumps(current))
    else:
        sm.create_secret(Name=name, SecretString=json.dumps(current))
    aws.forget_secrets()


def target_for(ref: str, channel: str) -> Any:
    """Where ``ref`` receives on ``channel`` (a ``domain.notifications.Target``; empty when not configured)."""
    from chalicelib.domain.notifications import Target
    from chalicelib.store import directory

    kind, ident = split_ref(ref)
    if channel == "webhook":
        partner = directory.get_partner(ident) if kind == "partner" else None
        if partner is None:
            return Target()
        secrets = directory.partner_secrets(ident) or []
        return Target(url=partner.callback_url, secret=secrets[0] if secrets else None)
    if channel == "email":
        conf = get_settings(ref)
        user = directory.get_user(ident) if kind == "user" else None
        return Target(address=(conf.email if conf is not None and conf.email else None) or
                      (user.email if user is not None else None))
    if channel == "sns":
        conf = get_settings(ref)
        return Target(address=conf.sns_topic_arn if conf is not None else None)
    if channel in ("wecom", "dingtalk", "feishu", "slack"):
        entry = bot_credentials(ref).get(channel) or {}
        return Target(url=entry.get("url"), secret=entry.get("secret"))
    return Target()
