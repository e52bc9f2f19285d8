"""Ownership rules: due times, limits, and each operation's decision or refusal. Pure: no AWS."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import ownership as dom
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.ownership import HolderProfile, HolderRef, Holding, OwnershipRules, Timers
from chalicelib.domain.workflow import ALLOWED
from schemas.common import Actor, PrincipalKind
from schemas.registration import RegistrationStatus as S

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
RULES = OwnershipRules()
BOSS = Actor(kind=PrincipalKind.USER, id="boss")
SYSTEM = Actor(kind=PrincipalKind.SYSTEM, id="reclaim")
WANG = HolderProfile(HolderRef("user", "wang"), role="rep")
LI = HolderProfile(HolderRef("user", "li"), role="rep")


def pending() -> Holding:
    return Holding(reg_id="reg_1", status=S.PENDING_REVIEW, version=2, last_seq=2, team_id="south")


def held_by_wang(at: datetime = T0) -> Holding:
    change = dom.grant(pending(), WANG.ref, WANG, actor=BOSS, now=at, rules=RULES)
    return Holding(reg_id="reg_1", status=change.to_status, version=3, last_seq=3, team_id="south",
                   owner=change.to_owner, timers=change.timers)


def pooled(previous: str | None = None, cooldown_until: datetime | None = None) -> Holding:
    return Holding(reg_id="reg_1", status=S.RECLAIMED, version=4, last_seq=4, team_id="south",
                   timers=Timers(previous_owner=previous, cooldown_until=cooldown_until))


def test_defaults_match_the_documented_rules():
    assert (RULES.protection_days, RULES.inactivity_days, RULES.warning_days) == (90, 30, (7, 1))
    assert RULES.max_extension_days == 90 and RULES.cooldown_days == 14 and RULES.pending_cap == 20
    assert dom.load_rules('{"protection_days": 60}').protection_days == 60
    with pytest.raises(ValueError):
        dom.load_rules('{"protection_days": 0}')
    with pytest.raises(ValueError):
        dom.load_rules('{"no_such_rule": 1}')


def test_due_is_the_earlier_of_protection_and_inactivity():
    assert dom.compute_due(RULES, T0, 0, T0) == (T0 + timedelta(days=30), "inactivity")
    # activity late in the protection period: protection ends first
    assert dom.compute_due(RULES, T0, 0, T0 + timedelta(days=75)) == (T0 + timedelta(days=90), "protection_expired")
    assert dom.compute_due(RULES, T0, 10, T0 + timedelta(days=75)) == (T0 + timedelta(days=100), "protection_expired")
    off = OwnershipRules(inactivity_days=0)
    assert dom.compute_due(off, T0, 0, T0) == (T0 + timedelta(days=90), "protection_expired")


def test_grant_sets_owner_protection_and_names_the_limit():
    change = dom.grant(pending(), WANG.ref, WANG, actor=BOSS, now=T0, rules=RULES)
    assert (change.from_status, change.to_status, change.to_owner) == (S.PENDING_REVIEW, S.APPROVED, WANG.ref)
    assert change.timers.granted_at == T0 and change.timers.due_at == T0 + timedelta(days=30)
    assert change.timers.rules_stamp == RULES.stamp()
    assert change.limit == dom.Limit("role:rep", 50)
    assert [(a.seq, a.action, a.to_status) for a in change.audit] == [(3, "granted", S.APPROVED)]


def test_grant_without_owner_approves_into_the_pool_with_two_audit_lines():
    change = dom.grant(pending(), None, None, actor=BOSS, now=T0, rules=RULES)
    assert change.to_status is S.RECLAIMED and change.to_owner is None and change.timers.due_at is None
    assert [(a.seq, a.from_status, a.to_status) for a in change.audit] == [
        (3, S.PENDING_REVIEW, S.APPROVED), (4, S.APPROVED, S.RECLAIMED)]
    with pytest.raises(dom.WrongStatusError):
        dom.grant(held_by_wang(), LI.ref, LI, actor=BOSS, now=T0, rules=RULES)


def test_limits_by_role_tier_and_override():
    rules = OwnershipRules(holder_limits={"user:wang": 3})
    assert dom.holding_limit(rules, WANG) == dom.Limit("holder:user:wang", 3)
    assert dom.holding_limit(rules, LI) == dom.Limit("role:rep", 50)
    gold = HolderProfile(HolderRef("partner", "acme"), tier="gold")
    assert dom.holding_limit(rules, gold) == dom.Limit("tier:gold", 100)
    odd = HolderProfile(HolderRef("partner", "x"), tier="unknown-tier")
    assert dom.holding_limit(rules, odd) == dom.Limit("tier:unknown-tier", rules.default_limit)
    dom.check_room(dom.Limit("role:rep", 5), 4)
    with pytest.raises(dom.LimitExceededError) as err:
        dom.check_room(dom.Limit("role:rep", 5), 5, "user:wang")
    assert "role:rep = 5" in str(err.value) and err.value.status == 409


def test_pending_cap():
    dom.check_pending(RULES, 19)
    with pytest.raises(dom.PendingCapError):
        dom.check_pending(RULES, 20)


def test_claim_from_pool_starts_fresh_protection_and_respects_cooldown():
    change = dom.claim(pooled(), LI, actor=BOSS, now=T0, rules=RULES)
    assert change.to_status is S.APPROVED and change.to_owner == LI.ref and change.timers.granted_at == T0
    h = pooled(previous="user:li", cooldown_until=T0 + timedelta(days=14))
    with pytest.raises(dom.CooldownError):
        dom.claim(h, LI, actor=BOSS, now=T0, rules=RULES)
    assert dom.claim(h, WANG, actor=BOSS, now=T0, rules=RULES).to_owner == WANG.ref  # others may
    assert dom.claim(h, LI, actor=BOSS, now=T0 + timedelta(days=14), rules=RULES).to_owner == LI.ref
    with pytest.raises(dom.WrongStatusError):
        dom.claim(held_by_wang(), LI, actor=BOSS, now=T0, rules=RULES)
    with pytest.raises(dom.ForbiddenError):
        dom.claim(pooled(), LI, actor=BOSS, now=T0, rules=OwnershipRules(claims_need_review=True))


def test_release_pools_with_cooldown_and_only_by_the_owner():
    h = held_by_wang()
    with pytest.raises(dom.ForbiddenError):
        dom.release(h, LI.ref, actor=BOSS, now=T0, rules=RULES)
    change = dom.release(h, WANG.ref, actor=BOSS, now=T0, rules=RULES)
    assert change.to_status is S.RECLAIMED and change.from_owner == WANG.ref and change.to_owner is None
    assert change.timers.previous_owner == "user:wang" and change.timers.cooldown_until == T0 + timedelta(days=14)
    assert change.timers.due_at is None


def test_transfer_keeps_timers_so_it_cannot_reset_protection():
    h = held_by_wang(T0)
    later = T0 + timedelta(days=20)
    change = dom.transfer(h, LI, actor=BOSS, now=later, rules=RULES)
    assert change.to_owner == LI.ref and change.from_owner == WANG.ref and change.to_status is S.APPROVED
    assert change.timers.granted_at == T0 and change.timers.due_at == h.timers.due_at
    with pytest.raises(dom.WrongStatusError):
        dom.transfer(h, WANG, actor=BOSS, now=later, rules=RULES)
    # offboarding to a successor is a transfer; to the pool a release
    off = dom.offboard(h, WANG.ref, LI, actor=BOSS, now=later, rules=RULES)
    assert off.kind == "offboarded" and off.timers.due_at == h.timers.due_at and off.to_owner == LI.ref
    assert dom.offboard(h, WANG.ref, None, actor=BOSS, now=later, rules=RULES).to_status is S.RECLAIMED


def test_extension_is_capped_in_total():
    h = replace(held_by_wang(), timers=replace(held_by_wang().timers, last_activity_at=T0 + timedelta(days=80)))
    h = replace(h, timers=dom.stamp_timers(RULES, h.timers))
    change = dom.extend(h, 60, actor=BOSS, now=T0, rules=RULES)
    assert change.timers.extension_days == 60 and change.timers.due_at == T0 + timedelta(days=110)
    h2 = replace(h, timers=change.timers)
    with pytest.raises(dom.ExtensionLimitError):
        dom.extend(h2, 31, actor=BOSS, now=T0, rules=RULES)
    assert dom.extend(h2, 30, actor=BOSS, now=T0, rules=RULES).timers.extension_days == 90


def test_only_owner_follow_ups_move_the_clock_and_never_backwards():
    h = held_by_wang(T0)
    now = T0 + timedelta(days=10)
    assert dom.follow_up(h, LI.ref, now, now=now, rules=RULES) is None
    change = dom.follow_up(h, WANG.ref, now, now=now, rules=RULES)
    assert change is not None and change.timers.due_at == now + timedelta(days=30)
    moved = replace(h, timers=change.timers)
    back = dom.follow_up(moved, WANG.ref, T0 + timedelta(days=2), now=now, rules=RULES)
    assert back is not None and back.timers.last_activity_at == now
    future = dom.follow_up(h, WANG.ref, now + timedelta(days=5), now=now, rules=RULES)
    assert future is not None and future.timers.last_activity_at == now


def test_reclaim_rechecks_the_rule_and_restamps_a_stale_due_time():
    h = held_by_wang(T0)
    due = h.timers.due_at
    assert isinstance(dom.reclaim(h, now=due - timedelta(seconds=1), rules=RULES, system=SYSTEM), Timers)
    change = dom.reclaim(h, now=due, rules=RULES, system=SYSTEM)
    assert isinstance(change, dom.Change) and change.to_status is S.RECLAIMED and change.from_owner == WANG.ref
    assert change.audit[0].reason == "inactivity" and change.audit[0].actor == SYSTEM
    # the rules changed to 60 inactivity days: the stored due time is stale and nothing is reclaimed
    longer = OwnershipRules(inactivity_days=60)
    fresh = dom.reclaim(h, now=due, rules=longer, system=SYSTEM)
    assert isinstance(fresh, Timers) and fresh.due_at == T0 + timedelta(days=60)
    assert fresh.rules_stamp == longer.stamp() != RULES.stamp()
    archive = OwnershipRules(reclaim_to="archive")
    assert dom.reclaim(h, now=due, rules=archive, system=SYSTEM).to_status is S.EXPIRED
    forced = dom.reclaim(h, now=T0, rules=RULES, system=SYSTEM, reason="over_limit")
    assert isinstance(forced, dom.Change) and forced.audit[0].reason == "over_limit"


def test_restamp_only_when_rules_change_the_timers():
    h = held_by_wang(T0)
    assert dom.restamp(h, RULES) is None
    shorter = OwnershipRules(protection_days=20)
    t = dom.restamp(h, shorter)
    assert t is not None and t.due_at == T0 + timedelta(days=20) and t.due_reason == "protection_expired"
    assert dom.restamp(pooled(), shorter) is None


def test_warnings_once_per_stage_and_due_time():
    h = held_by_wang(T0)
    due = h.timers.due_at
    assert dom.warning_due(h, now=due - timedelta(days=8), rules=RULES) is None
    assert dom.warning_due(h, now=due - timedelta(days=7), rules=RULES) == 7
    warned7 = replace(h, warned=dom.warned_stamp(due, 7))
    assert dom.warning_due(warned7, now=due - timedelta(days=3), rules=RULES) is None
    assert dom.warning_due(warned7, now=due - timedelta(hours=20), rules=RULES) == 1
    warned1 = replace(h, warned=dom.warned_stamp(due, 1))
    assert dom.warning_due(warned1, now=due - timedelta(hours=2), rules=RULES) is None
    assert dom.warning_due(h, now=due, rules=RULES) is None  # due: the reclaim's job now
    # a new due time (after a follow-up) re-arms the warnings
    other = replace(warned1, timers=replace(h.timers, due_at=due + timedelta(days=5)))
    assert dom.warning_due(other, now=due + timedelta(days=4, hours=1), rules=RULES) == 1


def test_over_limit_takes_least_recently_active_first():
    base = held_by_wang(T0)
    held = [replace(base, reg_id=f"reg_{i}", timers=replace(base.timers, last_activity_at=T0 + timedelta(days=i)))
            for i in (3, 1, 4, 2)]
    out = dom.over_limit_excess(held, dom.Limit("role:rep", 2))
    assert [h.reg_id for h in out] == ["reg_1", "reg_2"]
    assert dom.over_limit_excess(held, dom.Limit("role:rep", 4)) == []


def test_role_checks():
    rep = Principal(kind=PrincipalKind.USER, id="li", role=Role.REP, team_id="south")
    other_rep = Principal(kind=PrincipalKind.USER, id="zhao", role=Role.REP, team_id="north")
    mgr = Principal(kind=PrincipalKind.USER, id="boss", role=Role.MANAGER, team_id="south",
                    managed_team_ids=frozenset({"south"}))
    partner = Principal(kind=PrincipalKind.PARTNER, id="acme", role=Role.PARTNER)
    h = pooled()
    dom.authorize("claim", rep, h)
    for who in (other_rep, partner):
        with pytest.raises(dom.ForbiddenError):
            dom.authorize("claim", who, h)
    for op in ("assign", "transfer", "extend"):
        dom.authorize(op, mgr, h)
        with pytest.raises(dom.ForbiddenError):
            dom.authorize(op, rep, h)
    assert dom.holder_of(partner) == HolderRef("partner", "acme")


def test_every_status_move_used_is_allowed_by_the_workflow():
    assert S.APPROVED in ALLOWED[S.RECLAIMED] and S.APPROVED in ALLOWED[S.EXPIRED]
    assert {S.RECLAIMED, S.EXPIRED} <= ALLOWED[S.APPROVED]
