"""Ownership operations end to end: read -> pure decision (domain.ownership) -> one conditional write.

Used by the HTTP routes (handlers/ownership.py), the schedules (handlers/reclaim.py), the approval
workflow (:func:`grant`) and the ``dealreg`` CLI (offboard, recount, reclaim --dry-run, restamp, over-limit).
Jobs read only what they need through indexes and treat each registration with its own conditional
write, so they are idempotent and an interrupted run simply resumes from what is still due.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain import ownership as dom
from chalicelib.domain.errors import TeamDeactivatedError
from chalicelib.domain.ownership import Change, HolderProfile, HolderRef, Holding, Timers
from chalicelib.rules import ownership_rules
from chalicelib.store import holders, ownership as store
from schemas.common import Actor, PrincipalKind
from schemas.registration import Registration

logger = logging.getLogger("dealreg.ownership")
RECLAIMER = Actor(kind=PrincipalKind.SYSTEM, id="reclaim")


class UnknownHolderError(dom.OwnershipError):
    status = 422
    code = "unknown_holder"


def resolve(ref: HolderRef) -> HolderProfile:
    """The holder's profile; refuses unknown or inactive holders."""
    prof = store.profile(ref)
    if prof is None:
        raise UnknownHolderError(f"no active holder {ref.key}")
    return prof


def resolve_recipient(ref: HolderRef, *, loc: str = "body.owner.id") -> HolderProfile:
    """:func:`resolve` for a claim, assignment, transfer or hand-over: also refuses a holder whose team is
    deactivated (``TeamDeactivatedError``, 422 naming ``loc``: name another). Members of such a team keep what they
    hold, and a registration they submitted before is still approved to them; they only receive nothing new. (A
    caller taking one for themselves — a claim — is refused earlier as ``TeamInactiveError``, 403.)"""
    from chalicelib.store import directory

    prof = resolve(ref)
    holder = directory.get_user(ref.id) if ref.kind == "user" else directory.get_partner(ref.id)
    team_id = getattr(holder, "team_id", None)
    if not directory.team_active(team_id):
        raise TeamDeactivatedError(f"{ref.key}'s team {team_id} is deactivated", loc=loc)
    return prof


def apply(h: Holding, change: Change, *, now: datetime) -> Change:
    """Write ``change`` atomically. No pre-read of the holder's count: the transaction's condition on the
    counter is the authority, and its refusal already names the limit."""
    store.commit(h, change, now=now)
    return change


def after(h: Holding, change: Change) -> Holding:
    """The holding as ``change`` left it (what a re-read would return), without reading it again."""
    return replace(h, status=change.to_status, owner=change.to_owner, timers=change.timers,
                   version=h.version + 1, last_seq=change.audit[-1].seq if change.audit else h.last_seq)


def _holding_of(reg: Registration | str) -> Holding:
    if isinstance(reg, str):
        h = store.holding(reg)
        if h is None:
            raise dom.WrongStatusError(f"no registration {reg}")
        return h
    return Holding(reg_id=reg.id, status=reg.status, version=reg.version,
                   last_seq=reg.audit[-1].seq if reg.audit else 0, team_id=reg.team_id,
                   submitter=HolderRef.of(reg.submitter.kind.value, reg.submitter.id))


def grant(reg: Registration | str, owner: HolderRef | None, actor: Actor, *, now: datetime,
          reason: str | None = None, named_at: str | None = None) -> Change:
    """Approve a pending registration: owner + protection + holder counter in one transaction.

    For the approval workflow. ``reg`` is the registration as read (its version guards the write) or its
    id; ``owner=None`` approves it into the pool. An owner the approver *named* (``named_at``: the request
    field) is a new holding for them, so their team must be active (:func:`resolve_recipient`); the default
    owner, the submitter of their own earlier registration, is approved even on a deactivated team.

    Raises:
        LimitExceededError: the owner is at their holding limit (409; nothing changed).
        LostRaceError: the registration changed since it was read.
        WrongStatusError: it is not pending review.
        UnknownHolderError: no such active holder.
        TeamDeactivatedError: the named owner's team is deactivated (422 at ``named_at``).
    """
    h = _holding_of(reg)
    prof = None if owner is None else resolve_recipient(owner, loc=named_at) if named_at else resolve(owner)
    change = dom.grant(h, owner, prof, actor=actor, now=now, rules=ownership_rules(), reason=reason)
    return apply(h, change, now=now)


def close(reg_id: str, target, actor: Actor, *, now: datetime, reason: str | None = None,
          won_amount: Any = None) -> Change:
    """Won/lost: status, cleared timers and the audit line on the registration, the won amount (a field,
    ``won_amount``) and the sales stage (``closed_won`` / ``closed_lost``), and the owner's ``active`` counter
    -1, in one transaction conditioned on the status, owner and version read here.

    Raises:
        WrongStatusError: not an approved registration with an owner.
        LostRaceError: it changed between the read and the write.
    """
    h = _holding_of(reg_id)
    change = dom.close(h, target, actor=actor, now=now, reason=reason)
    store.commit_close(h, change, now=now, won_amount=won_amount)
    return change


# --- scheduled reclaim ---------------------------------------------------------------------------------------------

@dataclass
class RunReport:
    examined: int = 0
    reclaimed: list[dict] = field(default_factory=list)  # {"id", "owner", "reason", "due_at"}
    restamped: int = 0
    lost_races: int = 0
    complete: bool = True


def _notify(h: Holding, managers: Callable[[str | None], list[str]]) -> list[str]:
    owner = [h.owner.id] if h.owner and h.owner.kind == "user" else []
    return list(dict.fromkeys([*owner, *managers(h.team_id)]))


def _managers_cache() -> Callable[[str | None], list[str]]:
    cache: dict[str | None, list[str]] = {}

    def get(team_id: str | None) -> list[str]:
        if team_id not in cache:
            cache[team_id] = store.team_managers(team_id)
        return cache[team_id]

    return get


def _party(ref: HolderRef | None) -> Actor | None:
    """A holder as events name every party: ``{kind, id}`` (the store's 'kind:id' key stays internal)."""
    return Actor.from_ref(ref.key) if ref is not None else None


def _publish(events: list) -> None:
    from chalicelib.store import publisher

    if events:
        publisher.publish(events)


def reclaim_run(*, now: datetime, dry_run: bool = False, time_left: Callable[[], bool] | None = None,
                page_size: int = 100) -> RunReport:
    """Reclaim every approved registration whose due time has passed (ByStatusShardDueIndex, never a scan).

    Each item is re-checked against the current rules (a stale due time is re-stamped instead) and
    reclaimed with its own conditional write; a concurrent follow-up, transfer or approval wins. With
    ``dry_run`` nothing is written and the report lists what would be reclaimed and why.
    """
    from schemas.events import OwnershipReclaimed

    rules = ownership_rules()
    report = RunReport()
    managers = _managers_cache()
    start: dict | None = None
    while True:
        budget = rules.reclaim_batch - report.examined
        page, start = store.due_page(until=now, limit=min(page_size, budget), start=start)
        for h in page:
            report.examined += 1
            decision = dom.reclaim(h, now=now, rules=rules, system=RECLAIMER)
            if isinstance(decision, Timers):
                if not dry_run and store.write_timers(h, decision, now=now):
                    report.restamped += 1
                continue
            line = {"id": h.reg_id, "owner": h.owner.key if h.owner else None,
                    "reason": decision.audit[0].reason, "due_at": h.timers.due_at.isoformat() if h.timers.due_at
                    else None}
            if dry_run:
                report.reclaimed.append(line)
                continue
            try:
                store.commit(h, decision, now=now)
            except dom.LostRaceError:
                report.lost_races += 1  # someone acted on it meanwhile; the next run re-reads it if still due
                continue
            report.reclaimed.append(line)
            _publish([OwnershipReclaimed(
                id=f"{h.reg_id}:{decision.audit[0].seq}:reclaimed", occurred_at=now, subject=h.reg_id,
                actor=RECLAIMER, owner=_party(h.owner), team_id=h.team_id, notify=_notify(h, managers),
                due_at=h.timers.due_at or now, reason=line["reason"], to_status=decision.to_status)])
        if start is None:
            break
        if report.examined >= rules.reclaim_batch or (time_left is not None and not time_left()):
            report.complete = False  # the rest stays due; the next run picks it up
            break
    return report


def warning_run(*, now: datetime, time_left: Callable[[], bool] | None = None) -> int:
    """Warn owners (and their managers) of holdings due within the warning days. Returns warnings sent.

    The event is published before its stamp is written, with an id stable per (registration, due time,
    stage): an interrupted run re-sends at most the same event id, which consumers deduplicate.
    """
    from schemas.events import OwnershipWarning

    rules = ownership_rules()
    if not rules.warning_days:
        return 0
    horizon = now + timedelta(days=max(rules.warning_days))
    managers = _managers_cache()
    sent = 0
    start: dict | None = None
    while True:
        page, start = store.due_page(after=now, until=horizon, start=start)
        for h in page:
            stage = dom.warning_due(h, now=now, rules=rules)
            if stage is None or h.timers.due_at is None or h.owner is None:
                continue
            due = h.timers.due_at
            _publish([OwnershipWarning(
                id=f"{h.reg_id}:warn:{due.isoformat()}:{stage}", occurred_at=now, subject=h.reg_id,
                actor=RECLAIMER, owner=_party(h.owner), team_id=h.team_id, notify=_notify(h, managers), due_at=due,
                reason=h.timers.due_reason or "protection_expired", days_left=stage)])
            if store.stamp_warning(h, dom.warned_stamp(due, stage)):
                sent += 1
        if start is None or (time_left is not None and not time_left()):
            return sent


# --- operator jobs -------------------------------------------------------------------------------------------------

@dataclass
class OffboardReport:
    moved: int = 0
    to_pool: int = 0
    lost_races: int = 0
    stopped: str | None = None  # why it stopped early (the successor is full); run again to resume


def offboard(leaver: HolderRef, successor: HolderRef | None, actor: Actor, *, now: datetime,
             overflow_to_pool: bool = False, progress: Callable[[int], None] | None = None) -> OffboardReport:
    """离职交接: move everything ``leaver`` holds to ``successor`` (timers kept) or to the pool.

    Resumable: what has moved is no longer the leaver's, so running it again continues with the rest.
    If the successor reaches their limit the run stops (or, with ``overflow_to_pool``, pools the rest).
    """
    rules = ownership_rules()
    succ = resolve_recipient(successor, loc="successor") if successor else None
    report = OffboardReport()
    start: dict | None = None
    while True:
        page, start = store.held_by(leaver, start=start)
        for h in page:
            change = dom.offboard(h, leaver, succ, actor=actor, now=now, rules=rules)
            try:
                try:
                    apply(h, change, now=now)
                    report.moved += 1 if succ else 0
                    report.to_pool += 0 if succ else 1
                except dom.LimitExceededError as exc:
                    if not overflow_to_pool:
                        report.stopped = str(exc)
                        return report
                    apply(h, dom.offboard(h, leaver, None, actor=actor, now=now, rules=rules), now=now)
                    report.to_pool += 1
            except dom.LostRaceError:
                report.lost_races += 1
            if progress:
                progress(report.moved + report.to_pool)
        if start is None:
            return report


@dataclass
class RecountReport:
    registrations: int = 0
    drift: dict[str, tuple[int | None, int]] = field(default_factory=dict)  # holder -> (stored, actual)
    repaired: int = 0


def recount(*, now: datetime, repair: bool = True, progress: Callable[[int], None] | None = None) -> RecountReport:
    """Recount holders from the approved registrations, and submitters' pending counters from the
    registrations awaiting a decision, and repair drifted counters (conditionally)."""
    actual: Counter[str] = Counter()
    report = RecountReport()
    for page, _ in store.approved_pages():
        for h in page:
            report.registrations += 1
            if h.owner is not None:
                actual[h.owner.key] += 1
        if progress:
            progress(report.registrations)
    pending: Counter[str] = Counter()
    for items, _ in store.pending_pages():
        for item in items:
            submitter = HolderRef.of(item.submitter_kind, item.submitter_id)
            if submitter is not None:
                pending[submitter.key] += 1
    for counter, counted in (("active", actual), ("pending", pending)):
        stored = holders.holder_counts(counter)
        for key in sorted(set(counted) | set(stored)):
            have, want = stored.get(key), counted.get(key, 0)
            if (have or 0) != want:
                report.drift[key if counter == "active" else f"{key} (pending)"] = (have, want)
                if repair and holders.set_count(HolderRef.parse(key), have, want, now=now, counter=counter):
                    report.repaired += 1
    return report


def restamp(*, now: datetime, progress: Callable[[int, int], None] | None = None) -> dict:
    """Recompute due times stamped under other rules; resumable (checkpoint per rules fingerprint)."""
    rules = ownership_rules()
    name = f"restamp-{rules.stamp()}"
    state = holders.checkpoint(name) or {"start": None, "read": 0, "restamped": 0, "done": False}
    if state.get("done"):
        return state
    for page, next_start in store.approved_pages(start=state["start"]):
        for h in page:
            state["read"] += 1
            if h.timers.rules_stamp == rules.stamp():
                continue
            timers = dom.restamp(h, rules)
            if timers is not None and store.write_timers(h, timers, now=now):
                state["restamped"] += 1
        state["start"] = next_start
        state["done"] = next_start is None
        holders.save_checkpoint(name, state, now=now)
        if progress:
            progress(state["read"], state["restamped"])
    return state


def over_limit(*, now: datetime, reclaim: bool, announce: bool = False) -> list[dict]:
    """Holders above their limit (after a limit was lowered); with ``reclaim``, take back the least
    recently active holdings down to the limit; with ``announce``, publish one ``ownership.over_limit``
    event per holder (the scheduled job does). Counters are trusted: run ``recount`` first after drift."""
    from schemas.events import OwnershipReclaimed

    rules = ownership_rules()
    out = []
    # Only holders above the smallest limit any holder can have can be over theirs: ByActiveIndex, no scan.
    for key, count in holders.above(dom.smallest_limit(rules)):
        ref = HolderRef.parse(key)
        limit = dom.holding_limit(rules, store.profile(ref) or HolderProfile(ref))
        if count <= limit.value:
            continue
        held: list[Holding] = []
        start: dict | None = None
        while True:
            page, start = store.held_by(ref, start=start)
            held.extend(page)
            if start is None:
                break
        from chalicelib.store.scoring import priorities  # issue 19: lowest scores are taken back first

        excess = dom.over_limit_excess(held, limit, priorities([h.reg_id for h in held], now=now))
        taken = []
        if reclaim:
            for h in excess:
                change = dom.reclaim(h, now=now, rules=rules, system=RECLAIMER, reason="over_limit")
                assert isinstance(change, Change)
                try:
                    store.commit(h, change, now=now)
                except dom.LostRaceError:
                    continue
                taken.append(h.reg_id)
                _publish([OwnershipReclaimed(
                    id=f"{h.reg_id}:{change.audit[0].seq}:reclaimed", occurred_at=now, subject=h.reg_id,
                    actor=RECLAIMER, owner=_party(ref), team_id=h.team_id,
                    notify=_notify(h, _managers_cache()), due_at=h.timers.due_at or now, reason="over_limit",
                    to_status=change.to_status)])
        row = {"holder": key, "limit": limit.name, "value": limit.value, "held": len(held),
               "excess": [h.reg_id for h in excess], "reclaimed": taken}
        out.append(row)
        if announce:
            _publish([_over_limit_event(ref, row, now)])
    return out


def _over_limit_event(ref: HolderRef, row: dict, now: datetime):
    """Tell the holder and their (channel) team's managers, once a day per holder (the id carries the day)."""
    from chalicelib.store import directory
    from schemas.events import OwnershipOverLimit

    notify: list[str] = []
    team_id = None
    if ref.kind == "user":
        user = directory.get_user(ref.id)
        team_id = user.team_id if user else None
        notify = [ref.id, *store.team_managers(team_id)]
    elif ref.kind == "partner":  # the partner hears it as the owner; its channel team's managers too
        partner = directory.get_partner(ref.id)
        team_id = partner.team_id if partner else None
        notify = store.team_managers(team_id)
    return OwnershipOverLimit(
        id=f"over_limit:{ref.key}:{now.date().isoformat()}", occurred_at=now, subject=ref.key, actor=RECLAIMER,
        owner=_party(ref), team_id=team_id, limit=row["limit"], value=row["value"], held=row["held"], excess=row["excess"],
        reclaimed=row["reclaimed"], notify=list(dict.fromkeys(notify)))
