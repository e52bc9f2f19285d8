"""Review routing: who may decide a pending registration, at which level, and who is told. Pure.

A :class:`RoutingRules` document (``DEALREG_ROUTING_RULES``; JSON Schema in
``schemas/json/routing_rules.v1.json``) lists ordered routes. The first route whose conditions all match the
registration (customer country/region/industry, expected amount) names its level-1 approvers and,
optionally, a second level above an amount threshold. No route matching means ``default``: a manager of
the registration's team or any admin, and no second level.

Invariants enforced by :func:`may_decide` whatever the document says: only users decide (never partner
systems), the submitter never decides their own registration, and a person who recorded an approval in the
current review round may not decide a later level of it.

Levels are counted from the audit trail: a round starts at the entry that moved the registration into
``pending_review``; each ``approval_recorded`` entry after it completes one level. An ``escalated`` entry
(a reviewer referred the decision up, ``domain.workflow.escalate``) makes its level the one waiting and
required, whatever the amount; a second level reached only by escalation is decided by the second-level
approvers the matching route (or the defaults) configure, else by :data:`ESCALATION_APPROVERS` (admins).
Nobody who approved or escalated in the current round decides a later level of it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.workflow import APPROVAL_RECORDED, ESCALATED, UPDATED
from schemas.common import PrincipalKind
from schemas.registration import AuditEntry, Registration, RegistrationStatus

DECIDING_ROLES = (Role.MANAGER.value, Role.REP.value, Role.ADMIN.value)


class ApproverSet(BaseModel):
    """Who may decide one level. Anyone matching any of the three entries may decide."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    team_manager: bool = Field(True, description="a manager of the registration's team (the team's manager_ids)")
    roles: tuple[str, ...] = Field(("admin",), description="any active user with one of these roles "
                                                            "(rep, manager, admin)")
    users: tuple[str, ...] = Field((), description="these user ids")

    @model_validator(mode="after")
    def _check(self) -> ApproverSet:
        unknown = [r for r in self.roles if r not in DECIDING_ROLES]
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; use one of {list(DECIDING_ROLES)}")
        if not (self.team_manager or self.roles or self.users):
            raise ValueError("an approver set must name at least one approver")
        return self


class SecondLevel(BaseModel):
    """A second approval above an amount threshold, by other people than the first level's approver."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    min_amount: dict[str, Decimal] = Field(
        description='per currency: a second level is needed at or above this expected amount, e.g. '
                    '{"CNY": "5000000", "USD": "700000"}; amounts in a currency not listed need no second level',
        min_length=1)
    approvers: ApproverSet = Field(description="who decides the second level")


class Route(BaseModel):
    """One routing rule. Empty condition lists match anything; all given conditions must match."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(min_length=1, max_length=100)
    countries: tuple[str, ...] = Field((), description="customer.country, ISO 3166-1 alpha-2")
    regions: tuple[str, ...] = Field((), description="prefixes of customer.region, e.g. 广东省 matches 广东省深圳市")
    industries: tuple[str, ...] = Field((), description="customer.industry, compared case-insensitively")
    min_amount: dict[str, Decimal] = Field(default_factory=dict, description="per currency, inclusive; a "
                                           "currency not listed does not match when either bound is set")
    max_amount: dict[str, Decimal] = Field(default_factory=dict, description="per currency, exclusive")
    min_attribute_score: int | None = Field(None, ge=0, le=100, description="the registration's attribute score "
                                            "(属性评分, the attribute rules in force) is at least this, e.g. high "
                                            "scores to a senior approver")
    min_model_score: int | None = Field(None, ge=0, le=100, description="the published model's win probability × "
                                        "100 (智能评分) is at least this; never matches while no model is published")
    approvers: ApproverSet = Field(default_factory=ApproverSet)
    second_level: SecondLevel | None = None


class RoutingRules(BaseModel):
    """The review routing document; every key is optional (README, "Review routing and SLA")."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    routes: tuple[Route, ...] = Field((), description="tried in order; the first match decides")
    default: ApproverSet = Field(default_factory=ApproverSet, description="level 1 when no route matches")
    default_second_level: SecondLevel | None = Field(None, description="second level when no route matches")
    fallback_notify: tuple[str, ...] = Field(
        (), description="user ids told of a review when the approvers name nobody to notify (only roles)")
    _model: Any = PrivateAttr(default=None)  # the published scoring model, bound by store.routing.rules()
    _attribute_of: Any = PrivateAttr(default=None)  # reg -> attribute score, bound by store.routing.rules()
    review_sla_hours: int = Field(48, ge=1, le=24 * 90, description="remind when a level waits longer")
    notify_approver_managers: bool = Field(True, description="SLA reminders also go to the approvers' managers")


def load_routing(raw: str | None) -> RoutingRules:
    """Rules from a JSON object (``DEALREG_ROUTING_RULES``); "" or None = the defaults."""
    return RoutingRules.model_validate_json(raw) if raw and raw.strip() else RoutingRules()


# --- matching --------------------------------------------------------------------------------------------------

def _amount_in(bounds: dict[str, Decimal], reg: Registration) -> Decimal | None:
    return bounds.get(reg.project.expected_amount.currency)


def with_model(rules: RoutingRules, model: Any, attribute_of: Callable[[Registration], int] | None = None
               ) -> RoutingRules:
    """A copy of ``rules`` whose ``min_model_score`` conditions read ``model`` (``scoring_model.Model``) and whose
    ``min_attribute_score`` conditions read ``attribute_of(reg)`` (the attribute score under the rules in force,
    with the customer's registry facts: ``store.scoring.attribute_scorer``, the same score lists show)."""
    bound = rules.model_copy()
    bound._model = model
    bound._attribute_of = attribute_of
    return bound


def _model_score(reg: Registration, model: Any) -> int | None:
    from chalicelib.domain.scoring_model import encode, record_of

    if model is None:
        return None
    return round(100 * model.probability(encode(model.spec, record_of(reg), model.codes)))


def _route_matches(route: Route, reg: Registration, model: Any = None,
                   attribute_of: Callable[[Registration], int] | None = None) -> bool:
    c = reg.customer
    if route.countries and (c.country or "") not in route.countries:
        return False
    if route.regions and not any((c.region or "").startswith(r) for r in route.regions):
        return False
    if route.industries and (c.industry or "").casefold() not in {i.casefold() for i in route.industries}:
        return False
    amount = reg.project.expected_amount.amount
    if route.min_amount or route.max_amount:
        lo, hi = _amount_in(route.min_amount, reg), _amount_in(route.max_amount, reg)
        if lo is None and hi is None:
            return False
        if (lo is not None and amount < lo) or (hi is not None and amount >= hi):
            return False
    if route.min_attribute_score is not None:
        if attribute_of is None:
            raise ValueError("a route on the attribute score needs rules bound by with_model(..., attribute_of)")
        if attribute_of(reg) < route.min_attribute_score:
            return False
    if route.min_model_score is not None:
        score = _model_score(reg, model)
        if score is None or score < route.min_model_score:
            return False
    return True


def matching_route(rules: RoutingRules, reg: Registration) -> Route | None:
    """The first route matching ``reg``, or None (the defaults apply)."""
    return next((r for r in rules.routes if _route_matches(r, reg, rules._model, rules._attribute_of)), None)


def _second_level(rules: RoutingRules, reg: Registration) -> SecondLevel | None:
    route = matching_route(rules, reg)
    second = route.second_level if route is not None else rules.default_second_level
    if second is None:
        return None
    threshold = _amount_in(second.min_amount, reg)
    if threshold is None or reg.project.expected_amount.amount < threshold:
        return None
    return second


def levels_required(rules: RoutingRules, reg: Registration) -> int:
    """1, or 2 when the matching route's second level applies to this amount or the review was escalated to it."""
    return max(2 if _second_level(rules, reg) is not None else 1, escalated_to(reg.audit))


# Who decides a second level that only an escalation asked for, when no second level is configured at all.
@lru_cache(maxsize=1)
def _escalation_approvers() -> ApproverSet:
    return ApproverSet(team_manager=False, roles=("admin",))


def __getattr__(name: str) -> ApproverSet:
    # ESCALATION_APPROVERS is built on first use: an instance at import would build ApproverSet's validator in
    # every function that imports this module (issue 15)
    if name == "ESCALATION_APPROVERS":
        return _escalation_approvers()
    raise AttributeError(name)


def approver_set(rules: RoutingRules, reg: Registration, level: int) -> ApproverSet | None:
    """Who decides ``level`` (1-based) of ``reg``; None for a level that this registration does not need."""
    if level == 1:
        route = matching_route(rules, reg)
        return route.approvers if route is not None else rules.default
    if level == 2:
        second = _second_level(rules, reg)
        if second is not None:
            return second.approvers
        if escalated_to(reg.audit) >= 2:  # escalated below the amount threshold: the configured second level
            route = matching_route(rules, reg)
            configured = route.second_level if route is not None else rules.default_second_level
            return configured.approvers if configured is not None else _escalation_approvers()
    return None


# --- the audit trail's review round ------------------------------------------------------------------------------

def _round_start(audit: Sequence[AuditEntry]) -> int | None:
    """Index of the entry that opened the current review round: the last move into pending_review, or a
    later edit by the submitter (approvals given to the earlier content no longer count)."""
    for i in range(len(audit) - 1, -1, -1):
        if audit[i].to_status == RegistrationStatus.PENDING_REVIEW and audit[i].action != APPROVAL_RECORDED:
            return i
        if audit[i].action == UPDATED and any(
                e.to_status == RegistrationStatus.PENDING_REVIEW for e in audit[:i]):
            return i
    return None


def round_approvals(audit: Sequence[AuditEntry]) -> list[AuditEntry]:
    """The ``approval_recorded`` entries of the current review round, oldest first."""
    start = _round_start(audit)
    if start is None:
        return []
    return [e for e in audit[start + 1:] if e.action == APPROVAL_RECORDED]


def round_steps(audit: Sequence[AuditEntry]) -> list[AuditEntry]:
    """The ``approval_recorded`` and ``escalated`` entries of the current review round, oldest first."""
    start = _round_start(audit)
    if start is None:
        return []
    return [e for e in audit[start + 1:] if e.action in (APPROVAL_RECORDED, ESCALATED)]


def escalated_to(audit: Sequence[AuditEntry]) -> int:
    """The highest level this round was escalated to; 0 when it was not."""
    return max((e.level or 0 for e in round_steps(audit) if e.action == ESCALATED), default=0)


def current_level(reg: Registration) -> int:
    """The level now waiting for a decision: 1 + approvals recorded in this round, or the level it was
    escalated to if that is higher."""
    return max(1 + len(round_approvals(reg.audit)), escalated_to(reg.audit))


def waiting_since(audit: Sequence[AuditEntry]) -> tuple[int, datetime] | None:
    """(seq, time) of the entry the current level has waited since: the move into pending_review or the
    latest approval or escalation of this round. None if the trail never entered pending_review."""
    start = _round_start(audit)
    if start is None:
        return None
    steps = round_steps(audit)
    entry = steps[-1] if steps else audit[start]
    return entry.seq, entry.at


# --- decisions and recipients ------------------------------------------------------------------------------------

def may_decide(rules: RoutingRules, principal: Principal, reg: Registration, level: int, *,
               team_manager_ids: Sequence[str]) -> bool:
    """Whether ``principal`` may approve or reject ``reg`` at ``level``.

    Args:
        team_manager_ids: the managers of ``reg.team_id`` (empty when it has no team).
    """
    if principal.kind is not PrincipalKind.USER:
        return False
    if reg.submitter.kind is PrincipalKind.USER and reg.submitter.id == principal.id:
        return False
    if any(e.actor.id == principal.id and e.actor.kind is PrincipalKind.USER for e in round_steps(reg.audit)):
        return False
    allowed = approver_set(rules, reg, level)
    if allowed is None:
        return False
    return (
        principal.id in allowed.users
        or principal.role.value in allowed.roles
        or (allowed.team_manager and principal.id in team_manager_ids)
    )


def approvers(rules: RoutingRules, reg: Registration, level: int, *,
              team_manager_ids: Sequence[str]) -> list[str]:
    """User ids to notify that ``level`` of ``reg`` waits for them (named users and team managers).

    People who may not decide (the submitter, this round's earlier approvers) are left out. Roles are not
    expanded; when nobody else is named, ``fallback_notify`` is used, which may be empty.
    """
    allowed = approver_set(rules, reg, level)
    if allowed is None:
        return []
    excluded = {e.actor.id for e in round_steps(reg.audit)}
    if reg.submitter.kind is PrincipalKind.USER:
        excluded.add(reg.submitter.id)
    named = [*allowed.users, *(team_manager_ids if allowed.team_manager else ())]
    out = _unique(u for u in named if u not in excluded)
    return out or _unique(u for u in rules.fallback_notify if u not in excluded)


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


# --- review SLA ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Waiting:
    """A pending registration's review wait: the current level and when it started (see :func:`waiting_since`)."""

    reg_id: str
    level: int
    since_seq: int
    since: datetime
    reminded: int = 0  # periods already reminded for this wait (the registration's stamp), 0 if none


@dataclass(frozen=True)
class Reminder:
    reg_id: str
    level: int
    period: int  # 1 = first SLA period overrun
    event_id: str
    waited: timedelta


def parse_stamp(stamp: str | None, since_seq: int) -> int:
    """Periods already reminded for the wait that started at audit ``since_seq``, from the registration's
    ``review_reminded`` stamp (``"<seq>:<period>"``); 0 for a stamp of another wait, or none."""
    if not stamp:
        return 0
    seq, _, period = stamp.partition(":")
    return int(period) if seq == str(since_seq) and period.isdigit() else 0


def review_wait(rules: RoutingRules, reg: Registration, stamp: str | None = None) -> Waiting | None:
    """The current review wait of a ``pending_review`` registration, or None for any other status.

    The level is capped by the levels the rules now require, so a rules change never points at a level
    that no longer exists (the decision routes cap it the same way)."""
    if reg.status is not RegistrationStatus.PENDING_REVIEW:
        return None
    since = waiting_since(reg.audit)
    if since is None:
        return None
    level = min(current_level(reg), levels_required(rules, reg))
    return Waiting(reg_id=reg.id, level=level, since_seq=since[0], since=since[1],
                   reminded=parse_stamp(stamp, since[0]))


def overdue_period(since: datetime, now: datetime, sla: timedelta) -> int:
    """How many whole SLA periods have passed since ``since`` (0 = within the SLA)."""
    return max(0, int((now - since) / sla))


def reminder_id(reg_id: str, since_seq: int, period: int) -> str:
    """Stable event id: one per registration, wait and SLA period, so a rerun publishes nothing new."""
    return f"{reg_id}:overdue:{since_seq}:{period}"


def reminders_due(waiting: Iterable[Waiting], now: datetime, rules: RoutingRules) -> list[Reminder]:
    """Which waits get a reminder now: those past a new whole SLA period they were not reminded of."""
    sla = timedelta(hours=rules.review_sla_hours)
    out = []
    for w in waiting:
        period = overdue_period(w.since, now, sla)
        if period > w.reminded:
            out.append(Reminder(w.reg_id, w.level, period, reminder_id(w.reg_id, w.since_seq, period),
                                now - w.since))
    return out
