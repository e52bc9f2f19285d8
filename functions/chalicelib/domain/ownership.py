"""Ownership (保有): who may follow a deal, for how long, and how many at once. Pure: time is passed in.

An *approved* registration has an owner (a rep, manager or partner: a "holder") and a due time, the
earlier of its protection expiry (granted + protection + extensions) and its inactivity deadline (last
owner follow-up + inactivity days). The **pool** (公海) is status ``reclaimed`` with no owner: reclaimed by
the timer, released by the owner, handed in at offboarding, or approved without an owner. Archived
registrations (``reclaim_to = "archive"``) are ``expired``: only a manager can assign them again.

Every operation returns a :class:`Change` (what to write: status, owner, the full recomputed timers, the
audit entries, the holder counters to move) or raises a typed :class:`OwnershipError`. The store writes a
Change in one transaction with conditions on status, owner and version, and checks the new holder's
counter against the limit named here, so the limit holds under concurrency, not only in this check.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.errors import DealregError, PendingCapError  # noqa: F401 - PendingCapError: one rule, one error
from chalicelib.domain.workflow import transition
from schemas.common import Actor, PrincipalKind
from schemas.registration import AuditEntry, RegistrationStatus as S

POOL = S.RECLAIMED
ARCHIVE = S.EXPIRED


class OwnershipRules(BaseModel):
    """The configurable rules; defaults are the documented ones (README, "Ownership rules")."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    protection_days: int = Field(90, ge=1, description="protection from approval/claim/assignment")
    max_extension_days: int = Field(90, ge=0, description="hard cap on all extensions of one holding")
    inactivity_days: int = Field(30, ge=0, description="reclaim without an owner follow-up; 0 = off")
    cooldown_days: int = Field(14, ge=0, description="a previous owner may not re-claim before this")
    warning_days: tuple[int, ...] = Field((7, 1), description="warn this many days before the due time")
    pending_cap: int = Field(20, ge=0, description="most submitted/pending registrations per submitter")
    role_limits: dict[str, int] = Field(default_factory=lambda: {"rep": 50, "manager": 50, "admin": 0})
    tier_limits: dict[str, int] = Field(
        default_factory=lambda: {"registered": 20, "silver": 50, "gold": 100, "platinum": 200})
    default_limit: int = Field(20, ge=0, description="for a role or tier not listed")
    holder_limits: dict[str, int] = Field(default_factory=dict,
                                          description='per-holder overrides, e.g. {"user:wang": 80}')
    reclaim_to: Literal["pool", "archive"] = "pool"
    claims_need_review: bool = Field(False, description="if true, reps cannot claim; managers assign")
    over_limit: Literal["report", "reclaim"] = "report"
    reclaim_batch: int = Field(500, ge=1, description="most items one scheduled run handles")

    def stamp(self) -> str:
        """A short fingerprint of the rules that shape due times; stored on each holding."""
        timing = {"p": self.protection_days, "x": self.max_extension_days, "i": self.inactivity_days}
        return hashlib.sha256(json.dumps(timing, sort_keys=True).encode()).hexdigest()[:12]


def load_rules(raw: str | None) -> OwnershipRules:
    """Rules from a JSON object (``DEALREG_OWNERSHIP_RULES``); missing keys take the defaults."""
    return OwnershipRules.model_validate_json(raw) if raw and raw.strip() else OwnershipRules()


# --- values ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HolderRef:
    """A holder: ``kind`` is ``user`` or ``partner``; ``key`` ('user:wang') names its counter."""

    kind: str
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, key: str) -> HolderRef:
        kind, _, ident = key.partition(":")
        return cls(kind, ident)

    @classmethod
    def of(cls, kind: str, ident: str) -> HolderRef | None:
        """The holder an actor of ``kind`` is (users and partners hold and submit; the system does not)."""
        return cls(kind, ident) if kind in ("user", "partner") else None


@dataclass(frozen=True)
class HolderProfile:
    """What the limit depends on: a user's role or a partner's tier."""

    ref: HolderRef
    role: str | None = None
    tier: str | None = None


@dataclass(frozen=True)
class Limit:
    name: str  # e.g. "role:rep", "tier:gold", "holder:user:wang" — shown to the manager on refusal
    value: int


@dataclass(frozen=True)
class Timers:
    """Everything time-related stored on a holding; rewritten whole on every ownership write."""

    granted_at: datetime | None = None
    extension_days: int = 0
    last_activity_at: datetime | None = None
    due_at: datetime | None = None
    due_reason: str | None = None  # protection_expired | inactivity
    previous_owner: str | None = None  # holder key, for the cooldown
    cooldown_until: datetime | None = None
    rules_stamp: str | None = None


@dataclass(frozen=True)
class Holding:
    """The ownership facts of one registration as read (the store builds it from the item)."""

    reg_id: str
    status: S
    version: int
    last_seq: int
    team_id: str | None = None
    owner: HolderRef | None = None
    timers: Timers = field(default_factory=Timers)
    warned: str | None = None  # "<due_at iso>|<days>" of the last warning sent
    submitter: HolderRef | None = None  # whose pending counter a decision on a pending registration releases
    sales_stage: str | None = None  # the pipeline stage (a close records the one it ends: domain.cockpit)


@dataclass(frozen=True)
class Change:
    """What one operation writes, in one transaction."""

    kind: str  # granted | claimed | assigned | released | transferred | extended | followed_up | reclaimed | ...
    from_status: S
    to_status: S
    from_owner: HolderRef | None
    to_owner: HolderRef | None
    timers: Timers
    audit: tuple[AuditEntry, ...] = ()
    limit: Limit | None = None  # the new holder's limit, checked atomically by the store

    @property
    def moves_holder(self) -> bool:
        return self.from_owner != self.to_owner


# --- refusals --------------------------------------------------------------------------------------------------

class OwnershipError(DealregError):
    """A refused operation; ``status`` and ``code`` are what the HTTP edge answers. Its text may name a
    holder, so a partner reads a generic one (``visibility.refusal``, applied by the HTTP edge)."""

    redact_for_partners = True


class LimitExceededError(OwnershipError):
    code = "limit_exceeded"

    def __init__(self, limit: Limit, held: int | None = None, holder: str | None = None) -> None:
        who = f"{holder} " if holder else ""
        count = f" ({held} held)" if held is not None else ""
        # The limit, named where every answer carrying ``limit_exceeded`` puts it (``errors[].loc``).
        super().__init__(f"{who}is at the holding limit {limit.name} = {limit.value}{count}",
                         errors=[{"loc": f"limit.{limit.name}", "type": "limit_exceeded"}])
        self.limit = limit
        self.held = held


class WrongStatusError(OwnershipError):
    code = "wrong_status"


class CooldownError(OwnershipError):
    code = "cooldown"


class ExtensionLimitError(OwnershipError):
    code = "extension_limit"


class ForbiddenError(OwnershipError):
    status = 403
    code = "forbidden"


class LostRaceError(OwnershipError):
    """The registration changed between read and write (another writer won)."""

    code = "conflict"


# --- rules -----------------------------------------------------------------------------------------------------

def compute_due(rules: OwnershipRules, granted_at: datetime, extension_days: int,
                last_activity_at: datetime | None) -> tuple[datetime, str]:
    """The due time of a holding and why: the earlier of protection expiry and the inactivity deadline."""
    protected_until = granted_at + timedelta(days=rules.protection_days + extension_days)
    if rules.inactivity_days and last_activity_at is not None:
        inactive_at = last_activity_at + timedelta(days=rules.inactivity_days)
        if inactive_at < protected_until:
            return inactive_at, "inactivity"
    return protected_until, "protection_expired"


def stamp_timers(rules: OwnershipRules, timers: Timers) -> Timers:
    """``timers`` with due time, reason and rules stamp recomputed (every write goes through here)."""
    if timers.granted_at is None:
        return replace(timers, due_at=None, due_reason=None, rules_stamp=None)
    due_at, reason = compute_due(rules, timers.granted_at, timers.extension_days, timers.last_activity_at)
    return replace(timers, due_at=due_at, due_reason=reason, rules_stamp=rules.stamp())


def holding_limit(rules: OwnershipRules, profile: HolderProfile) -> Limit:
    """The holder's stock cap: a per-holder override, else by role (users) or tier (partners)."""
    key = profile.ref.key
    if key in rules.holder_limits:
        return Limit(f"holder:{key}", rules.holder_limits[key])
    if profile.ref.kind == "partner":
        tier = profile.tier or "registered"
        return Limit(f"tier:{tier}", rules.tier_limits.get(tier, rules.default_limit))
    role = profile.role or "rep"
    return Limit(f"role:{role}", rules.role_limits.get(role, rules.default_limit))


def smallest_limit(rules: OwnershipRules) -> int:
    """The lowest stock cap :func:`holding_limit` can give anyone under ``rules``: a holder at or below it is
    within its own limit, so the over-limit job reads only holders above it (issue 15)."""
    return min([rules.default_limit, *rules.role_limits.values(), *rules.tier_limits.values(),
                *rules.holder_limits.values()])


def check_room(limit: Limit, held: int, holder: str | None = None) -> None:
    """Refuse early when the holder is already full (the store's condition is the authority)."""
    if held + 1 > limit.value:
        raise LimitExceededError(limit, held, holder)


# Statuses that count against the submitter's pending cap (rule ``pending_cap``; store/holders.py counts them).
PENDING: frozenset[S] = frozenset({S.SUBMITTED, S.PENDING_REVIEW})


def check_pending(rules: OwnershipRules, pending: int) -> None:
    """Refuse a new submission when the submitter already has ``pending_cap`` awaiting review."""
    if pending + 1 > rules.pending_cap:
        raise PendingCapError(f"at most {rules.pending_cap} pending registrations per submitter "
                              f"(pending_cap); {pending} pending")


def _entry(h: Holding, action: str, actor: Actor, now: datetime, reason: str | None,
           target: S | None = None, seq_offset: int = 1, current: S | None = None) -> AuditEntry:
    if target is None:  # an ownership line without a status move
        return AuditEntry(seq=h.last_seq + seq_offset, at=now, actor=actor, action=action, reason=reason)
    entry = transition([], current or h.status, target, actor=actor, now=now, reason=reason)
    return entry.model_copy(update={"seq": h.last_seq + seq_offset, "action": action})


def _fresh(rules: OwnershipRules, now: datetime, previous: Timers) -> Timers:
    # A new holding starts its protection and activity clocks now; the cooldown bookkeeping stays.
    return stamp_timers(rules, Timers(granted_at=now, last_activity_at=now,
                                      previous_owner=previous.previous_owner,
                                      cooldown_until=previous.cooldown_until))


def _pooled(rules: OwnershipRules, now: datetime, owner: HolderRef | None) -> Timers:
    return Timers(previous_owner=owner.key if owner else None,
                  cooldown_until=(now + timedelta(days=rules.cooldown_days)) if owner else None)


def grant(h: Holding, owner: HolderRef | None, profile: HolderProfile | None, *, actor: Actor, now: datetime,
          rules: OwnershipRules, reason: str | None = None) -> Change:
    """Approval: ``pending_review`` -> ``approved`` with ``owner`` and a fresh protection period.

    With ``owner=None`` the approved registration goes straight to the pool (two audit lines).
    """
    if h.status is not S.PENDING_REVIEW:
        raise WrongStatusError(f"only a registration pending review can be granted (it is {h.status})")
    approved = _entry(h, "granted", actor, now, reason, S.APPROVED)
    if owner is None:
        pooled = _entry(h, "pooled", actor, now, "approved without an owner", POOL, 2, S.APPROVED)
        return Change("granted", h.status, POOL, None, None, Timers(), (approved, pooled))
    limit = holding_limit(rules, profile or HolderProfile(owner))
    return Change("granted", h.status, S.APPROVED, None, owner, _fresh(rules, now, h.timers), (approved,), limit)


def claim(h: Holding, claimant: HolderProfile, *, actor: Actor, now: datetime, rules: OwnershipRules) -> Change:
    """A rep takes a registration from the pool (no second review unless ``claims_need_review``)."""
    if rules.claims_need_review:
        raise ForbiddenError("claims need review here: ask a manager to assign it")
    if h.status is not POOL or h.owner is not None:
        raise WrongStatusError(f"not in the pool (status {h.status})")
    t = h.timers
    if t.previous_owner == claimant.ref.key and t.cooldown_until and now < t.cooldown_until:
        raise CooldownError(f"previous owner may re-claim from {t.cooldown_until.isoformat()}")
    entry = _entry(h, "claimed", actor, now, f"claimed by {claimant.ref.key}", S.APPROVED)
    return Change("claimed", h.status, S.APPROVED, None, claimant.ref, _fresh(rules, now, t), (entry,),
                  holding_limit(rules, claimant))


def assign(h: Holding, owner: HolderProfile, *, actor: Actor, now: datetime, rules: OwnershipRules,
           reason: str | None = None) -> Change:
    """A manager gives a pooled or archived registration to ``owner`` with a fresh protection period."""
    if h.status not in (POOL, ARCHIVE) or h.owner is not None:
        raise WrongStatusError(f"only pooled or archived registrations can be assigned (status {h.status}); "
                               "use transfer for held ones")
    entry = _entry(h, "assigned", actor, now, reason or f"assigned to {owner.ref.key}", S.APPROVED)
    return Change("assigned", h.status, S.APPROVED, None, owner.ref, _fresh(rules, now, h.timers), (entry,),
                  holding_limit(rules, owner))


def _require_held(h: Holding) -> HolderRef:
    if h.status is not S.APPROVED or h.owner is None:
        raise WrongStatusError(f"not held by anyone (status {h.status})")
    return h.owner


def release(h: Holding, by: HolderRef, *, actor: Actor, now: datetime, rules: OwnershipRules,
            reason: str | None = None, kind: str = "released") -> Change:
    """The owner hands a registration back to the pool; they then wait ``cooldown_days`` to re-claim it."""
    owner = _require_held(h)
    if owner != by:
        raise ForbiddenError("only the owner can release it")
    entry = _entry(h, kind, actor, now, reason or kind, POOL)
    return Change(kind, h.status, POOL, owner, None, _pooled(rules, now, owner), (entry,))


def transfer(h: Holding, to: HolderProfile, *, actor: Actor, now: datetime, rules: OwnershipRules,
             reason: str | None = None, kind: str = "transferred") -> Change:
    """Move a held registration to another holder. The timers carry over: a transfer never resets them."""
    owner = _require_held(h)
    if owner == to.ref:
        raise WrongStatusError(f"already held by {owner.key}")
    entry = _entry(h, kind, actor, now, reason or f"{owner.key} -> {to.ref.key}")
    return Change(kind, h.status, h.status, owner, to.ref, stamp_timers(rules, h.timers), (entry,),
                  holding_limit(rules, to))


def extend(h: Holding, days: int, *, actor: Actor, now: datetime, rules: OwnershipRules,
           reason: str | None = None) -> Change:
    """Lengthen the protection by ``days``, never beyond ``max_extension_days`` in total."""
    owner = _require_held(h)
    total = h.timers.extension_days + days
    if days < 1 or total > rules.max_extension_days:
        raise ExtensionLimitError(f"extensions may total at most {rules.max_extension_days} days "
                                  f"(max_extension_days); {h.timers.extension_days} used")
    entry = _entry(h, "extended", actor, now, reason or f"+{days} days")
    timers = stamp_timers(rules, replace(h.timers, extension_days=total))
    return Change("extended", h.status, h.status, owner, owner, timers, (entry,))


def follow_up(h: Holding, author: HolderRef, at: datetime, *, now: datetime, rules: OwnershipRules) -> Change | None:
    """A follow-up by the owner moves ``last_activity_at`` (never backwards, never into the future).

    Returns None when it does not count (not the owner, or not held): it is recorded, the clock stays.
    """
    if h.status is not S.APPROVED or h.owner != author:
        return None
    when = min(at, now)
    last = h.timers.last_activity_at
    timers = stamp_timers(rules, replace(h.timers, last_activity_at=max(when, last) if last else when))
    return Change("followed_up", h.status, h.status, h.owner, h.owner, timers)


def restamp(h: Holding, rules: OwnershipRules) -> Timers | None:
    """Recomputed timers under the current rules, or None when nothing would change."""
    if h.status is not S.APPROVED or h.timers.granted_at is None:
        return None
    timers = stamp_timers(rules, h.timers)
    return None if timers == h.timers else timers


def reclaim(h: Holding, *, now: datetime, rules: OwnershipRules, system: Actor,
            reason: str | None = None) -> Change | Timers:
    """Take back a holding whose due time has passed, re-checking the rule with the current rules.

    Returns the Change to write, or — when the stored due time was stale and the holding is not due after
    all — the recomputed Timers to write instead. ``reason`` forces a reclaim (over-limit reduction).
    """
    owner = _require_held(h)
    timers = stamp_timers(rules, h.timers)
    if reason is None:
        if timers.due_at is None or timers.due_at > now:
            return timers
        reason = timers.due_reason
    target = POOL if rules.reclaim_to == "pool" else ARCHIVE
    entry = _entry(h, "reclaimed", system, now, reason, target)
    return Change("reclaimed", h.status, target, owner, None, _pooled(rules, now, owner), (entry,))


def offboard(h: Holding, leaver: HolderRef, successor: HolderProfile | None, *, actor: Actor, now: datetime,
             rules: OwnershipRules) -> Change:
    """离职交接: move one of a departing holder's registrations to ``successor`` (timers kept) or the pool."""
    if h.owner != leaver:
        raise WrongStatusError(f"not held by {leaver.key}")
    if successor is None:
        return release(h, leaver, actor=actor, now=now, rules=rules, reason=f"offboarding {leaver.key}",
                       kind="offboarded")
    return transfer(h, successor, actor=actor, now=now, rules=rules,
                    reason=f"offboarding {leaver.key} -> {successor.ref.key}", kind="offboarded")


def close(h: Holding, target: S, *, actor: Actor, now: datetime, reason: str | None = None) -> Change:
    """Won or lost (approval workflow): the holding ends. The owner's counter is released and the timers
    cleared (nothing is due any more); the owner stays on the registration as a matter of record, so
    ``from_owner == to_owner`` and the store releases the counter explicitly (store.ownership_ops.close). The
    line records the sales stage the deal closed in (``stage``): the close ends that stage's stay."""
    if target not in (S.WON, S.LOST):
        raise ValueError(f"close moves to won or lost, not {target}")
    owner = _require_held(h)
    entry = _entry(h, target.value, actor, now, reason, target).model_copy(update={"stage": h.sales_stage})
    return Change(target.value, h.status, target, owner, owner, Timers(), (entry,))


def warning_due(h: Holding, *, now: datetime, rules: OwnershipRules) -> int | None:
    """The warning (days before due) to send now, or None. Each due time is warned once per stage."""
    due = h.timers.due_at
    if h.status is not S.APPROVED or h.owner is None or due is None or due <= now:
        return None
    stages = [d for d in sorted(rules.warning_days) if now >= due - timedelta(days=d)]
    if not stages:
        return None
    stage = stages[0]  # the nearest stage reached; earlier stages it passes are not sent late
    if h.warned:
        sent_due, _, sent_days = h.warned.rpartition("|")
        if sent_due == due.isoformat() and int(sent_days) <= stage:
            return None
    return stage


def warned_stamp(due_at: datetime, days: int) -> str:
    return f"{due_at.isoformat()}|{days}"


def over_limit_excess(held: list[Holding], limit: Limit, scores: dict[str, float] | None = None) -> list[Holding]:
    """The holdings to take back to bring a holder down to ``limit``: with ``scores`` (registration id -> score,
    issue 19) the lowest scores first, then (and without scores) the least recently active first."""
    excess = len(held) - limit.value
    if excess <= 0:
        return []
    oldest = sorted(held, key=lambda x: ((scores or {}).get(x.reg_id, 0.0),
                                         x.timers.last_activity_at or x.timers.granted_at or datetime.min, x.reg_id))
    return oldest[:excess]


# --- who may do what -------------------------------------------------------------------------------------------

def holder_of(p: Principal) -> HolderRef:
    """The holder a caller acts as (partners hold as ``partner:<id>``)."""
    return HolderRef("partner" if p.kind is PrincipalKind.PARTNER else "user", p.id)


def manages(p: Principal, team_id: str | None) -> bool:
    return p.role is Role.ADMIN or (p.role is Role.MANAGER and team_id is not None and team_id in p.managed_team_ids)


def may_claim_from(p: Principal, h: Holding) -> bool:
    """Whose pool is it: a team's pooled registration is claimable by that team's reps and managers only
    (a manager of several teams by any of them); one without a team by any rep or manager."""
    if p.role not in (Role.REP, Role.MANAGER):
        return False
    if not h.team_id:
        return True
    return p.team_id == h.team_id or h.team_id in p.managed_team_ids


def authorize(op: str, p: Principal, h: Holding) -> None:
    """Role checks: reps claim, owners release, managers (of the team) and admins assign/transfer/extend."""
    if op == "claim":
        if p.role not in (Role.REP, Role.MANAGER):
            raise ForbiddenError("only reps and managers claim from the pool")
        if not may_claim_from(p, h):
            raise ForbiddenError("this pool registration belongs to another team")
        return
    if op == "release":
        return  # the domain checks ownership
    if op in ("assign", "transfer", "extend"):
        if not manages(p, h.team_id):
            raise ForbiddenError(f"only a manager of the team or an admin may {op}")
        return
    raise ValueError(op)
