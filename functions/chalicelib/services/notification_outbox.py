"""The notification outbox: events in, deliveries out. Used by handlers/notifications.py and the CLI.

``fan_out`` turns one domain event into stored delivery records (domain rules + conditional puts);
``deliver`` sends deliveries through their channels: claim (lease) -> send -> mark sent, or reschedule with
backoff, or park; a delivery to a deactivated partner is not sent but recorded ``skipped`` (checked at each
attempt, so a pending retry or digest stops too; reactivation resumes future deliveries). A manager of a
deactivated team told only as its manager is not sent the event either: ``fan_out`` records it ``skipped``
(``team_inactive``), and a delivery planned for one before the team was deactivated (a pending digest or retry)
carries the team (``via_team``) and is recorded ``skipped`` alike at its next attempt. Digest deliveries of one
recipient and channel that are due together go out as one message.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib import settings

logger = logging.getLogger("dealreg.notify")


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    parked: int = 0
    skipped: int = 0
    outcomes: dict[str, str] = field(default_factory=dict)  # delivery id -> sent | retrying | parked | skipped


def fan_out(evt: Any, *, now: datetime) -> list[Any]:
    """Store the deliveries of one event (a schemas.events model); return those created by this call."""
    from chalicelib.domain.notifications import audience, plan_deliveries
    from chalicelib.store import notifications as store

    data = evt.model_dump(mode="json")
    recipients = store.expand(audience(data))
    team_id, as_managers, closed = _told_as_team_managers(data, recipients)
    muted = as_managers if closed else []
    prefs = [p for p in (store.prefs_for(r) for r in recipients if r not in muted) if p is not None]
    planned = plan_deliveries(data, prefs, now=now, digest_hour=settings.get().notify_digest_hour)
    # who is told only as the team's managers carries the team: the deliverer checks it again at each attempt
    created = store.create(planned, data, now=now, via_team={} if closed else dict.fromkeys(as_managers, team_id))
    if muted:  # recorded, not sent: listed with the reason among the skipped deliveries (admins, CLI)
        quiet = [p for p in (store.prefs_for(r) for r in muted) if p is not None]
        store.record_skipped(plan_deliveries(data, quiet, now=now, digest_hour=settings.get().notify_digest_hour),
                             reason=TEAM_INACTIVE, now=now)
    return created


TEAM_INACTIVE = "team_inactive"


def _told_as_team_managers(data: dict, recipients: list[str]) -> tuple[str | None, list[str], bool]:
    """(the event's team, those of ``recipients`` told only as its managers, whether it is deactivated now). A
    deactivated team no longer asks its managers to review (``store.routing.team_manager_ids``), nor tells them of
    its registrations and holdings; someone told for their own part (owner, holder, submitter, approver …) still is.
    One team read, only for an event that reaches a team's managers."""
    from chalicelib.domain.notifications import event_team, reaches_team_managers, told_in_person
    from chalicelib.store import directory, notifications as store

    team_id = event_team(data)
    if team_id is None or not reaches_team_managers(data):
        return team_id, [], False
    team = directory.get_team(team_id)
    if team is None:
        return team_id, [], False
    managers = {f"user:{m}" for m in team.manager_ids or []}
    in_person = set(store.expand(told_in_person(data)))
    return team_id, [r for r in recipients if r in managers and r not in in_person], directory.is_deactivated(team)


def _closed_team_items(items: Sequence[Any]) -> list[Any]:
    """Those of ``items`` planned for someone told only as a team's managers (``via_team``) whose team is deactivated
    *now*: read from the table at each attempt (not the per-process cache), once per team, like a recipient's own
    deactivation (``store.notifications.inactive_reason``)."""
    from chalicelib.store import directory

    closed = {t for t in {i.via_team for i in items if i.via_team} if directory.is_deactivated(directory.get_team(t))}
    return [i for i in items if i.via_team in closed]


def _policy() -> Any:
    from chalicelib.domain.notifications import RetryPolicy

    s = settings.get()
    return RetryPolicy(max_attempts=s.notify_max_attempts, base_seconds=s.notify_retry_base_seconds,
                       cap_seconds=s.notify_retry_cap_seconds)


def _groups(items: Sequence[Any]) -> list[list[Any]]:
    """Immediate deliveries one by one; digest deliveries of one recipient and channel together."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        key = f"{item.recipient}|{item.channel}|{item.digest}" if item.digest != "off" else item.id
        groups.setdefault(key, []).append(item)
    return list(groups.values())


def deliver(items: Sequence[Any], *, now: datetime, report: DeliveryReport | None = None,
            time_left: Callable[[], bool] | None = None) -> DeliveryReport:
    """Send ``items`` (DeliveryItems), grouped as above; each outcome is written conditionally."""
    report = report or DeliveryReport()
    for group in _groups(items):
        if time_left is not None and not time_left():
            break  # the rest stays due; the next run takes it
        _deliver_group(group, now=now, report=report)
    return report


def deliver_due(*, now: datetime, limit: int = 100, time_left: Callable[[], bool] | None = None) -> DeliveryReport:
    """Send what is due now (the schedule's job), at most ``limit`` deliveries per run."""
    from chalicelib.store import notifications as store

    return deliver(store.due(now, limit=limit), now=now, time_left=time_left)


def _deliver_group(group: list[Any], *, now: datetime, report: DeliveryReport) -> None:
    from chalicelib.domain.notifications import render_digest, retry_delay, retry_rng
    from chalicelib.services.notification_channels import CHANNEL_IMPLS, Outbound
    from chalicelib.store import notifications as store
    from connectors.errors import PermanentError, RetryableError

    claimed = [i for i in group if store.claim(i, now=now)]
    for i in group:
        if i not in claimed:
            report.skipped += 1
            report.outcomes[i.id] = "skipped"
    if not claimed:
        return
    inactive = store.inactive_reason(claimed[0].recipient)  # a group has one recipient
    muted = claimed if inactive is not None else _closed_team_items(claimed)
    for item in muted:  # recorded as skipped: final, not parked, not retried, not sent; listed with the reason
        reason = inactive or TEAM_INACTIVE
        store.skip(item, now=now, reason=reason)
        report.skipped += 1
        report.outcomes[item.id] = "skipped"
        logger.info("delivery %s skipped via %s to %s (%s)", item.id, item.channel, item.recipient, reason)
    claimed = [i for i in claimed if i not in muted] if muted else claimed
    if not claimed:
        return
    first = claimed[0]
    message = render_digest([store.message_of(i) for i in claimed], first.locale)
    out = Outbound(message=message, locale=first.locale, event_type=first.event_type, webhook_id=first.webhook_id,
                   payload=first.payload, occurred_at=(first.payload or {}).get("occurred_at"))
    retry_after: float | None = None
    try:
        channel = CHANNEL_IMPLS.get(first.channel)
        if channel is None:
            raise PermanentError("unknown channel", reason="unknown_channel")
        channel.send(out, store.target_for(first.recipient, first.channel), now=now)
    except PermanentError as exc:
        failure: tuple[bool, str] | None = (False, _reason(exc))
    except RetryableError as exc:
        failure, retry_after = (True, _reason(exc)), exc.retry_after
    except Exception as exc:  # noqa: BLE001 - storage or programming errors: retry, and say what kind
        logger.warning("delivery %s on %s failed unexpectedly: %s", first.id, first.channel, type(exc).__name__)
        failure = (True, f"internal_{type(exc).__name__}")
    else:
        failure = None

    for item in claimed:
        if failure is None:
            outcome = "sent" if store.mark_sent(item, now=now) else "skipped"
        else:
            retryable, reason = failure
            failures = int(item.attempts) + 1
            delay = retry_delay(failures, retry_rng(item.id, failures), _policy(), retry_after) if retryable else None
            if delay is None:
                outcome = "parked" if store.park(item, now=now, reason=reason) else "skipped"
            else:
                outcome = "retrying" if store.reschedule(item, now=now, delay=delay, reason=reason) else "skipped"
        setattr(report, outcome, getattr(report, outcome) + 1)
        report.outcomes[item.id] = outcome
        # Ids, channel and reason codes only: targets and bodies may hold credentials or personal data.
        logger.info("delivery %s %s via %s to %s%s", item.id, outcome, item.channel, item.recipient,
                    f" ({failure[1]})" if failure else "")


def _reason(exc: Any) -> str:
    status = getattr(exc, "status", None)
    return f"{exc.reason}:{status}" if status else str(exc.reason)


def replay(ids: Sequence[str] | None, *, now: datetime) -> tuple[list[str], list[str]]:
    """Put parked deliveries back to be sent (``ids``, or every parked one with ``None``).

    Returns:
        (replayed ids, ids that were not parked or not found).
    """
    from chalicelib.store import notifications as store

    items = store.parked(limit=1000) if ids is None else [store.get(i) for i in ids]
    done, missed = [], []
    for wanted, item in zip(ids or [i.id for i in items], items, strict=True):
        if item is not None and store.replay(item, now=now):
            done.append(item.id)
        else:
            missed.append(wanted)
    return done, missed
