"""Review routing reads: the rules in force, team managers, approvers' managers, and pending reviews.

Pending reviews are read through the sharded status index (store/status_index.py), never a scan. The reminder stamp
(``review_reminded`` = ``<since seq>:<period>``) is written conditionally and without a version bump, so a
reminder never makes a concurrent decision lose its race.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pynamodb.exceptions import UpdateError

from chalicelib.rules import routing_rules
from chalicelib.store.models import RegistrationItem
from schemas.registration import Registration, RegistrationStatus

if TYPE_CHECKING:
    from chalicelib.domain.routing import RoutingRules

PENDING = RegistrationStatus.PENDING_REVIEW.value


def rules() -> RoutingRules:
    """The routing rules in force (``chalicelib.rules``); when a route tests the model score (issue 19), bound to
    the published model (read from the scores table, cached per warm function)."""
    from chalicelib import settings

    parsed = routing_rules()
    on_model = any(r.min_model_score is not None for r in parsed.routes)
    on_attribute = any(r.min_attribute_score is not None for r in parsed.routes)
    if not (on_model or on_attribute):
        return parsed
    from chalicelib.domain.routing import with_model
    from chalicelib.store.scoring import attribute_scorer, current_model

    return with_model(parsed, current_model(settings.get().model_cache_seconds) if on_model else None,
                      attribute_scorer() if on_attribute else None)


def team_manager_ids(team_id: str | None) -> list[str]:
    """The managers listed on a team; empty for no team, an unknown one or a deactivated one (its managers are
    no longer asked: the route's other approvers, or its fallback, decide)."""
    from chalicelib.store import directory

    if not team_id:
        return []
    team = directory.get_team(team_id)
    return list(team.manager_ids or []) if team is not None and not directory.is_deactivated(team) else []


def active_user_ids(user_ids: Sequence[str]) -> list[str]:
    """Those of ``user_ids`` that are known, active users (so nobody who left is asked to decide)."""
    from chalicelib.store import directory

    out = []
    for uid in user_ids:
        user = directory.get_user(uid)
        if user is not None and user.active == "yes":
            out.append(uid)
    return out


def managers_of(user_ids: Sequence[str]) -> list[str]:
    """The directory managers (``manager_id``) of the given users, active ones only, without duplicates."""
    from chalicelib.store import directory

    found = []
    for uid in user_ids:
        user = directory.get_user(uid)
        if user is not None and user.manager_id and user.manager_id not in found:
            found.append(user.manager_id)
    return [m for m in active_user_ids(found) if m not in user_ids]


def recipients(reg: Registration, level: int) -> list[str]:
    """Active user ids to tell that ``level`` of ``reg`` waits for them (see domain.routing.approvers)."""
    from chalicelib.domain.routing import approvers

    return active_user_ids(approvers(rules(), reg, level, team_manager_ids=team_manager_ids(reg.team_id)))


def stamp_reminded(reg_id: str, since_seq: int, period: int, previous: str | None) -> bool:
    """Record that ``period`` was reminded for this wait, only if still pending and nobody stamped it since.

    The version is not bumped on purpose: a reminder must never make a concurrent approve/reject lose.
    """
    cond = (RegistrationItem.status == PENDING) & (
        RegistrationItem.review_reminded.does_not_exist() if previous is None
        else RegistrationItem.review_reminded == previous)
    try:
        RegistrationItem._get_connection().update_item(
            reg_id, actions=[RegistrationItem.review_reminded.set(f"{since_seq}:{period}")], condition=cond)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


# --- review SLA run -------------------------------------------------------------------------------------------------

def remind_overdue(*, now: datetime, time_left: Callable[[], bool] | None = None) -> int:
    """Publish one ``registration.review_overdue`` per pending wait and overrun SLA period; return how many.

    Reads only ``pending_review`` registrations created before ``now - SLA`` (a wait cannot start before
    its registration was created), oldest first, through the sharded status index. The event goes out before the
    stamp, with an id stable per (registration, wait, period): an interrupted run re-sends at most the same
    id, which the outbox deduplicates; a completed one is remembered by the stamp and never repeated.
    """
    from datetime import timedelta

    from chalicelib.domain.events import snapshot
    from chalicelib.domain.routing import reminders_due, review_wait
    from chalicelib.store import publisher
    from chalicelib.store.registrations import from_item
    from chalicelib.store.scoring import attribute_scorer
    from schemas.common import Actor, PrincipalKind
    from schemas.events import RegistrationReviewOverdue

    r = rules()
    cutoff = now - timedelta(hours=r.review_sla_hours)
    sent = 0
    from chalicelib.store import status_index

    for item in status_index.iterate("created", PENDING, RegistrationItem.created_at <= cutoff, forward=True,
                                     page_size=100):
        reg = from_item(item)
        waiting = review_wait(r, reg, item.review_reminded)
        if waiting is None:
            continue
        for reminder in reminders_due([waiting], now, r):
            told = recipients(reg, reminder.level)
            publisher.publish([RegistrationReviewOverdue(
                id=reminder.event_id, occurred_at=now, subject=reg.id,
                actor=Actor(kind=PrincipalKind.SYSTEM, id="review_sla"), registration=snapshot(reg, attribute_of=attribute_scorer()),
                level=reminder.level, waiting_since=waiting.since, period=reminder.period,
                sla_hours=r.review_sla_hours, approvers=told,
                notify=managers_of(told) if r.notify_approver_managers else [])])
            if stamp_reminded(reg.id, waiting.since_seq, reminder.period, item.review_reminded):
                sent += 1
        if time_left is not None and not time_left():
            break
    return sent
