"""Ownership writes and reads: one DynamoDB transaction per operation, holder counters moved with it.

Each :func:`commit` updates the registration (status, owner, the whole recomputed timers, audit lines)
on the condition that status, owner and version are as read, and in the same transaction moves the
holder counters (``holder#<kind>:<id>`` in the holders table): the new holder's ``active`` must stay
below its limit. Either all of it happens or nothing does. Reads of due work go through the sparse
``ByStatusShardDueIndex`` (status shard, due_at; store/status_index.py), never a scan.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.ownership import (
    Change,
    HolderProfile,
    HolderRef,
    Holding,
    LimitExceededError,
    LostRaceError,
    Timers,
)
from chalicelib.store import holders, models, status_index
from chalicelib.store.models import AuditEntryMap, FollowUpItem, RegistrationItem
from schemas.registration import RegistrationStatus

logger = logging.getLogger("dealreg.ownership")
APPROVED = RegistrationStatus.APPROVED.value


def holding_from_item(item: RegistrationItem) -> Holding:
    """The ownership facts of a stored registration (also from an index item: all attributes are projected)."""
    owner = HolderRef(item.owner_kind or "user", item.owner_id) if item.owner_id else None
    return Holding(
        reg_id=item.id, status=RegistrationStatus(item.status), version=item.version or 1,
        last_seq=item.audit[-1].seq if item.audit else 0, team_id=item.team_id, owner=owner,
        timers=Timers(
            granted_at=item.granted_at, extension_days=int(item.extension_days or 0),
            last_activity_at=item.last_activity_at, due_at=item.due_at, due_reason=item.due_reason,
            previous_owner=item.previous_owner, cooldown_until=item.cooldown_until, rules_stamp=item.rules_stamp,
        ),
        warned=item.warned,
        submitter=HolderRef.of(item.submitter_kind, item.submitter_id),
        sales_stage=(item.data or {}).get("sales_stage"),
    )


def holding(reg_id: str) -> Holding | None:
    try:
        return holding_from_item(RegistrationItem.get(reg_id, consistent_read=True))
    except RegistrationItem.DoesNotExist:
        return None


def profile(ref: HolderRef) -> HolderProfile | None:
    """A holder's role (users) or tier (partners) from the directory; None if unknown or inactive."""
    from chalicelib.store import directory

    if ref.kind == "partner":
        partner = directory.get_partner(ref.id)
        return HolderProfile(ref, tier=partner.tier) if partner and partner.active == "yes" else None
    if ref.kind == "user":
        user = directory.get_user(ref.id)
        return HolderProfile(ref, role=user.role) if user and user.active == "yes" else None
    return None


def _timer_actions(t: Timers) -> list:
    out = []
    for attr, value in (
        (RegistrationItem.granted_at, t.granted_at), (RegistrationItem.last_activity_at, t.last_activity_at),
        (RegistrationItem.due_at, t.due_at), (RegistrationItem.due_reason, t.due_reason),
        (RegistrationItem.previous_owner, t.previous_owner), (RegistrationItem.cooldown_until, t.cooldown_until),
        (RegistrationItem.rules_stamp, t.rules_stamp),
    ):
        out.append(attr.set(value) if value is not None else attr.remove())
    out.append(RegistrationItem.extension_days.set(t.extension_days) if t.granted_at
               else RegistrationItem.extension_days.remove())
    return out


def _as_read(h: Holding):
    """The condition that the registration is still as ``h`` was read (the version is added by PynamoDB)."""
    cond = RegistrationItem.status == h.status.value
    if h.owner is None:
        return cond & RegistrationItem.owner_id.does_not_exist()
    return cond & (RegistrationItem.owner_id == h.owner.id) & (RegistrationItem.owner_kind == h.owner.kind)


def _registration_update(tx: TransactWrite, h: Holding, change: Change, now: datetime, token: str) -> None:
    actions = [*status_index.stamp(h.reg_id, change.to_status.value), RegistrationItem.updated_at.set(now),
               RegistrationItem.write_token.set(token), *_timer_actions(change.timers)]
    if change.to_owner is not None:
        actions += [RegistrationItem.owner_id.set(change.to_owner.id),
                    RegistrationItem.owner_kind.set(change.to_owner.kind)]
    else:
        actions += [RegistrationItem.owner_id.remove(), RegistrationItem.owner_kind.remove()]
    if change.timers.due_at != h.timers.due_at:
        actions.append(RegistrationItem.warned.remove())  # a new due time re-arms its warnings
    if change.audit:
        actions.append(RegistrationItem.audit.set(
            RegistrationItem.audit.append([AuditEntryMap.from_entry(e) for e in change.audit])))
    # Grant may find an owner proposed by intake/approval on a pending registration; status + version suffice.
    condition = (RegistrationItem.status == h.status.value) if change.kind == "granted" else _as_read(h)
    tx.update(RegistrationItem(h.reg_id, version=h.version), actions=actions, condition=condition)


def _raise_for(exc: TransactWriteError, change: Change, *, reg_index: int) -> None:
    reasons = exc.cancellation_reasons or []
    failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
    if not failed:
        raise exc
    if reg_index in failed:
        raise LostRaceError("the registration changed meanwhile; read it again") from None
    assert change.limit is not None and change.to_owner is not None
    raise LimitExceededError(change.limit, holder=change.to_owner.key) from None


def commit(h: Holding, change: Change, *, now: datetime) -> None:
    """Write ``change`` to the registration read as ``h`` and move the holder counters, atomically.

    Raises:
        LostRaceError: the registration's status, owner or version changed since ``h`` was read.
        LimitExceededError: the new holder is at its limit (nothing was written).
    """
    if change.limit is not None and change.limit.value <= 0 and change.moves_holder and change.to_owner:
        raise LimitExceededError(change.limit, holder=change.to_owner.key)
    token = uuid.uuid4().hex
    try:
        # The token makes DynamoDB treat an SDK retry of this same transaction as a no-op success.
        with TransactWrite(connection=models.connection(), client_request_token=token) as tx:
            _registration_update(tx, h, change, now, token)
            holders.holder_moves(tx, h, change, now)
    except TransactWriteError as exc:
        try:
            _raise_for(exc, change, reg_index=0)
        except LostRaceError:
            if not _already_written(h, token):
                raise


def commit_close(h: Holding, change: Change, *, now: datetime, won_amount: Any = None) -> None:
    """Write a won/lost ``change`` (domain ``close``): status, cleared timers, audit line, the won amount and the
    closed sales stage on the registration, and the owner's ``active`` counter -1, in one transaction
    conditioned on the registration being as ``h`` was read (else ``LostRaceError``, nothing written)."""
    data = dict(RegistrationItem.get(h.reg_id, consistent_read=True).data)  # same version: the write checks it
    data["sales_stage"] = "closed_won" if change.to_status.value == "won" else "closed_lost"
    stage = [RegistrationItem.data.set(data)]
    if won_amount is not None:
        stage.append(RegistrationItem.won_amount.set(won_amount.model_dump(mode="json")))
    actions = [*status_index.stamp(h.reg_id, change.to_status.value), RegistrationItem.updated_at.set(now), *stage,
               *_timer_actions(change.timers), RegistrationItem.warned.remove(),
               RegistrationItem.audit.set(RegistrationItem.audit.append([AuditEntryMap.from_entry(e)
                                                                        for e in change.audit]))]
    try:
        with TransactWrite(connection=models.connection()) as tx:
            tx.update(RegistrationItem(h.reg_id, version=h.version), actions=actions, condition=_as_read(h))
            # No floor condition, as for a release: a drifted counter never blocks closing a deal.
            holders.release_active(tx, change.from_owner, now=now)
    except TransactWriteError as exc:
        if any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or []):
            raise LostRaceError("the registration changed meanwhile; read it again") from None
        raise


def _already_written(h: Holding, token: str) -> bool:
    """True when the "lost race" was this very write, committed by an attempt whose answer timed out and
    then refused on the SDK's retry (stand-ins that ignore request tokens). Only this call knows ``token``."""
    try:
        item = RegistrationItem.get(h.reg_id, consistent_read=True)
    except RegistrationItem.DoesNotExist:
        return False
    return item.write_token == token and item.version == h.version + 1


def write_timers(h: Holding, timers: Timers, *, now: datetime) -> bool:
    """Re-stamp a holding's timers (rules changed); False if the registration moved on meanwhile."""
    actions = [*_timer_actions(timers), RegistrationItem.updated_at.set(now)]
    if timers.due_at != h.timers.due_at:
        actions.append(RegistrationItem.warned.remove())
    try:
        RegistrationItem(h.reg_id, version=h.version).update(actions=actions, condition=_as_read(h))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def stamp_warning(h: Holding, stamp: str) -> bool:
    """Remember that a warning was sent for this due time, without bumping the version.

    The version is left alone on purpose: a warning must never make a concurrent follow-up or claim lose.
    """
    conn = RegistrationItem._get_connection()
    try:
        conn.update_item(h.reg_id, actions=[RegistrationItem.warned.set(stamp)],
                         condition=(RegistrationItem.status == APPROVED) & (RegistrationItem.due_at == h.timers.due_at))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


@dataclass(frozen=True)
class FollowUpRecord:
    id: str
    registration_id: str
    at: datetime
    type: str
    note: str | None
    author: HolderRef
    counted: bool


def add_follow_up(h: Holding, rec: FollowUpRecord, change: Change | None, *, now: datetime) -> None:
    """Store a follow-up; when it counts, move the registration's activity clock in the same transaction."""
    item = FollowUpItem(rec.id, registration_id=rec.registration_id, at=rec.at.isoformat(), type=rec.type,
                        note=rec.note, author_kind=rec.author.kind, author_id=rec.author.id, counted=rec.counted,
                        created_at=now)
    token = uuid.uuid4().hex
    try:
        with TransactWrite(connection=models.connection(), client_request_token=token) as tx:
            tx.save(item, condition=FollowUpItem.id.does_not_exist())
            if change is not None:
                _registration_update(tx, h, change, now, token)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        if not any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons):
            raise
        try:  # the follow-up's own id exists only if this very transaction committed (an SDK retry)
            FollowUpItem.get(rec.id, consistent_read=True)
            return
        except FollowUpItem.DoesNotExist:
            raise LostRaceError("the registration changed meanwhile; read it again") from None


def follow_ups(reg_id: str) -> list[FollowUpRecord]:
    return [FollowUpRecord(i.id, i.registration_id, datetime.fromisoformat(i.at), i.type, i.note,
                           HolderRef(i.author_kind, i.author_id), bool(i.counted))
            for i in FollowUpItem.by_registration.query(reg_id)]


# --- reads for jobs ----------------------------------------------------------------------------------------------

def due_page(*, until: datetime, after: datetime | None = None, limit: int = 100,
             start: dict | None = None) -> tuple[list[Holding], dict | None]:
    """One page of approved registrations with ``after < due_at <= until``, earliest first (index only)."""
    cond = RegistrationItem.due_at <= until if after is None else RegistrationItem.due_at.between(after, until)
    found, cursor = status_index.page("due", APPROVED, cond, forward=True, limit=limit, cursor=start)
    return [holding_from_item(i) for i in found], cursor


def held_by(ref: HolderRef, *, start: dict | None = None, limit: int = 100) -> tuple[list[Holding], dict | None]:
    """One page of what ``ref`` holds now (ByOwnerIndex; status and kind filtered within the partition)."""
    cond = (RegistrationItem.status == APPROVED) & (RegistrationItem.owner_kind == ref.kind)
    result = RegistrationItem.by_owner.query(ref.id, filter_condition=cond, limit=limit, last_evaluated_key=start)
    return [holding_from_item(i) for i in result], result.last_evaluated_key


def approved_pages(start: dict | None = None, limit: int = 200) -> Iterator[tuple[list[Holding], dict | None]]:
    """Every approved registration, page by page with the key to resume after each (sharded status index)."""
    while True:
        found, start = status_index.page("created", APPROVED, forward=True, limit=limit, cursor=start)
        items = [holding_from_item(i) for i in found]
        yield items, start
        if start is None:
            return


def pending_pages(start: dict | None = None, limit: int = 200) -> Iterator[tuple[list[RegistrationItem], dict | None]]:
    """Every registration awaiting a decision (submitted, pending_review), page by page (sharded status index)."""
    for status in (RegistrationStatus.SUBMITTED.value, RegistrationStatus.PENDING_REVIEW.value):
        start = None
        while True:
            items, start = status_index.page("created", status, forward=True, limit=limit, cursor=start)
            yield items, start
            if start is None:
                break


def team_managers(team_id: str | None) -> list[str]:
    from chalicelib.store import directory

    team = directory.get_team(team_id) if team_id else None
    return list(team.manager_ids or []) if team else []
