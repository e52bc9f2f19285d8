"""Review routing: route matching, levels, who may decide, who is told, and SLA reminder selection. Pure."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib.domain import routing as dom
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.routing import RoutingRules, Waiting
from schemas.common import Actor, PrincipalKind
from schemas.registration import AuditEntry, Registration, RegistrationStatus as S

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
SYSTEM = Actor(kind=PrincipalKind.SYSTEM, id="workflow")
REP1 = Actor(kind=PrincipalKind.USER, id="rep1")


def user(uid: str, role: Role = Role.MANAGER) -> Principal:
    return Principal(kind=PrincipalKind.USER, id=uid, role=role)


def reg(*, region: str | None = "广东省深圳市", industry: str | None = "制造业", amount: str = "100000",
        currency: str = "CNY", submitter: Actor = REP1,
        audit: list[AuditEntry] | None = None, country: str | None = "CN") -> Registration:
    return Registration.model_validate({
        "id": "reg_1", "status": "pending_review", "source": "rep", "submitter": submitter.model_dump(),
        "team_id": "south", "customer_key": "k", "created_at": T0, "updated_at": T0, "version": 3,
        "customer": {"name": "深圳市某某科技有限公司", "region": region, "industry": industry, "country": country},
        "contacts": [{"name": "张三", "role": "decision_maker"}],
        "project": {"title": "MES", "expected_amount": {"amount": amount, "currency": currency},
                    "expected_close_date": "2025-09-30"},
        "audit": [e.model_dump() for e in (audit if audit is not None else pending_trail())],
    })


def entry(seq: int, action: str, *, at: datetime = T0, actor: Actor = SYSTEM, frm: S | None = None,
          to: S | None = None) -> AuditEntry:
    return AuditEntry(seq=seq, at=at, actor=actor, action=action, from_status=frm, to_status=to)


def pending_trail(at: datetime = T0) -> list[AuditEntry]:
    return [entry(1, "created", to=S.SUBMITTED, at=at - timedelta(minutes=1)),
            entry(2, "status_changed", frm=S.SUBMITTED, to=S.PENDING_REVIEW, at=at)]


def approval(seq: int, by: str, at: datetime) -> AuditEntry:
    return entry(seq, dom.APPROVAL_RECORDED, actor=Actor(kind=PrincipalKind.USER, id=by), at=at)


RULES = dom.load_routing(json.dumps({
    "routes": [
        {"name": "big-south", "regions": ["广东省"], "min_amount": {"CNY": "1000000"},
         "approvers": {"team_manager": False, "roles": [], "users": ["director_s"]},
         "second_level": {"min_amount": {"CNY": "5000000"},
                          "approvers": {"team_manager": False, "roles": ["admin"], "users": ["vp"]}}},
        {"name": "finance", "industries": ["Finance"],
         "approvers": {"team_manager": True, "roles": [], "users": ["fin_lead"]}},
    ],
    "default_second_level": {"min_amount": {"USD": "2000000"}, "approvers": {"users": ["cfo"],
                                                                             "team_manager": False, "roles": []}},
    "fallback_notify": ["ops"],
    "review_sla_hours": 24,
}))


def test_defaults_are_team_manager_or_admin_one_level_48h():
    rules = dom.load_routing("")
    assert rules == dom.load_routing(None) == RoutingRules()
    r = reg()
    assert rules.review_sla_hours == 48 and dom.levels_required(rules, r) == 1
    assert dom.may_decide(rules, user("mgr"), r, 1, team_manager_ids=["mgr"])
    assert not dom.may_decide(rules, user("other_mgr"), r, 1, team_manager_ids=["mgr"])
    assert dom.may_decide(rules, user("root", Role.ADMIN), r, 1, team_manager_ids=[])
    assert not dom.may_decide(rules, user("rep9", Role.REP), r, 1, team_manager_ids=["mgr"])
    assert not dom.may_decide(rules, user("root", Role.ADMIN), r, 2, team_manager_ids=[])  # no level 2
    assert dom.approvers(rules, r, 1, team_manager_ids=["mgr", "mgr2"]) == ["mgr", "mgr2"]
    assert dom.approvers(rules, r, 1, team_manager_ids=[]) == []  # only the admin role decides


def test_rules_document_is_validated():
    for bad in ('{"routes": [{"name": "x", "approvers": {"roles": ["boss"]}}]}',
                '{"routes": [{"name": "x", "approvers": {"team_manager": false, "roles": []}}]}',
                '{"review_sla_hours": 0}', '{"unknown": 1}', '{"routes": [{"name": "x", "regoins": []}]}'):
        with pytest.raises(ValueError):
            dom.load_routing(bad)


def test_first_matching_route_wins_by_region_amount_and_industry():
    assert dom.matching_route(RULES, reg(amount="1000000")).name == "big-south"  # inclusive minimum
    assert dom.matching_route(RULES, reg(amount="999999.99")) is None
    assert dom.matching_route(RULES, reg(region="浙江省杭州市", amount="2000000")) is None
    # an amount in a currency the route does not list does not match an amount condition
    assert dom.matching_route(RULES, reg(amount="9000000", currency="USD")) is None
    assert dom.matching_route(RULES, reg(region=None, industry="finance")).name == "finance"
    assert dom.matching_route(RULES, reg(amount="2000000", industry="Finance")).name == "big-south"  # order


def test_route_names_its_approvers():
    big = reg(amount="2000000")
    assert dom.may_decide(RULES, user("director_s"), big, 1, team_manager_ids=["mgr"])
    assert not dom.may_decide(RULES, user("mgr"), big, 1, team_manager_ids=["mgr"])
    assert not dom.may_decide(RULES, user("root", Role.ADMIN), big, 1, team_manager_ids=[])
    assert dom.approvers(RULES, big, 1, team_manager_ids=["mgr"]) == ["director_s"]
    fin = reg(region=None, industry="Finance")
    assert dom.approvers(RULES, fin, 1, team_manager_ids=["mgr"]) == ["fin_lead", "mgr"]


def test_second_level_above_threshold_only():
    assert dom.levels_required(RULES, reg(amount="4999999")) == 1
    assert dom.levels_required(RULES, reg(amount="5000000")) == 2
    # the default second level applies when no route matches, in its own currency only
    assert dom.levels_required(RULES, reg(region="浙江省", amount="2000000", currency="USD")) == 2
    assert dom.levels_required(RULES, reg(region="浙江省", amount="2000000", currency="EUR")) == 1
    assert dom.approvers(RULES, reg(region="浙江省", amount="3000000", currency="USD"), 2,
                         team_manager_ids=[]) == ["cfo"]
    assert dom.approvers(RULES, reg(amount="100"), 2, team_manager_ids=["mgr"]) == []


def test_level_one_approver_may_not_decide_level_two():
    trail = [*pending_trail(), approval(3, "director_s", T0 + timedelta(hours=1))]
    big = reg(amount="6000000", audit=trail)
    assert dom.current_level(big) == 2
    assert dom.may_decide(RULES, user("vp"), big, 2, team_manager_ids=[])
    assert dom.may_decide(RULES, user("root", Role.ADMIN), big, 2, team_manager_ids=[])
    # director_s is also an admin here: still refused, they approved level 1 of this round
    assert not dom.may_decide(RULES, user("director_s", Role.ADMIN), big, 2, team_manager_ids=[])
    assert dom.approvers(RULES, big, 2, team_manager_ids=[]) == ["vp"]


def test_a_new_round_forgets_earlier_approvals():
    trail = [*pending_trail(), approval(3, "director_s", T0),
             entry(4, "status_changed", frm=S.PENDING_REVIEW, to=S.REJECTED, at=T0),
             entry(5, "status_changed", frm=S.REJECTED, to=S.SUBMITTED, at=T0 + timedelta(days=1)),
             entry(6, "status_changed", frm=S.SUBMITTED, to=S.PENDING_REVIEW, at=T0 + timedelta(days=1))]
    again = reg(amount="6000000", audit=trail)
    assert dom.round_approvals(again.audit) == [] and dom.current_level(again) == 1
    assert dom.may_decide(RULES, user("director_s"), again, 1, team_manager_ids=[])
    assert dom.waiting_since(again.audit) == (6, T0 + timedelta(days=1))


def test_an_edit_during_review_starts_a_new_round():
    edited_at = T0 + timedelta(hours=3)
    trail = [*pending_trail(), approval(3, "director_s", T0 + timedelta(hours=1)),
             entry(4, "updated", actor=Actor(kind=PrincipalKind.USER, id="wang"), at=edited_at)]
    big = reg(amount="6000000", audit=trail)
    # The level-1 approval was given to the content before the edit: level 1 must decide again.
    assert dom.round_approvals(big.audit) == [] and dom.current_level(big) == 1
    assert dom.waiting_since(big.audit) == (4, edited_at)
    assert dom.current_level(reg(amount="6000000", audit=trail[:3])) == 2


def test_submitter_never_decides_and_partners_never_decide():
    own = reg(submitter=Actor(kind=PrincipalKind.USER, id="mgr"))
    assert not dom.may_decide(RulesDefault, user("mgr"), own, 1, team_manager_ids=["mgr"])
    assert not dom.may_decide(RulesDefault, user("mgr", Role.ADMIN), own, 1, team_manager_ids=["mgr"])
    assert dom.approvers(RulesDefault, own, 1, team_manager_ids=["mgr", "mgr2"]) == ["mgr2"]
    partner = Principal(kind=PrincipalKind.PARTNER, id="acme", role=Role.PARTNER)
    assert not dom.may_decide(RulesDefault, partner, reg(), 1, team_manager_ids=["acme"])
    # a partner's registration: a user with the partner's id is someone else and may decide
    from_partner = reg(submitter=Actor(kind=PrincipalKind.PARTNER, id="mgr"))
    assert dom.may_decide(RulesDefault, user("mgr"), from_partner, 1, team_manager_ids=["mgr"])


RulesDefault = RoutingRules()


def test_fallback_notify_when_only_roles_decide():
    rules = RoutingRules.model_validate({"default": {"team_manager": False, "roles": ["admin"]},
                                         "fallback_notify": ["ops", "rep1"]})
    assert dom.approvers(rules, reg(), 1, team_manager_ids=["mgr"]) == ["ops"]  # never the submitter


def test_reminders_one_per_whole_sla_period_per_wait():
    sla = RoutingRules(review_sla_hours=48)
    w = Waiting("reg_1", 1, since_seq=2, since=T0)
    assert dom.reminders_due([w], T0 + timedelta(hours=47, minutes=59), sla) == []
    [first] = dom.reminders_due([w], T0 + timedelta(hours=49), sla)
    assert (first.period, first.event_id, first.level) == (1, "reg_1:overdue:2:1", 1)
    # once stamped for period 1, nothing until a second whole period has passed
    stamped = Waiting("reg_1", 1, since_seq=2, since=T0, reminded=1)
    assert dom.reminders_due([stamped], T0 + timedelta(hours=95), sla) == []
    [second] = dom.reminders_due([stamped], T0 + timedelta(hours=96), sla)
    assert second.event_id == "reg_1:overdue:2:2"
    # a later wait (level 2 after an approval) has its own ids and clock
    level2 = Waiting("reg_1", 2, since_seq=3, since=T0 + timedelta(hours=10), reminded=0)
    assert [r.event_id for r in dom.reminders_due([level2, w], T0 + timedelta(hours=58), sla)] == [
        "reg_1:overdue:3:1", "reg_1:overdue:2:1"]


def test_overdue_period_counts_whole_periods():
    sla = timedelta(hours=48)
    assert [dom.overdue_period(T0, T0 + timedelta(hours=h), sla) for h in (0, 47, 48, 97, -5)] == [0, 0, 1, 2, 0]


def test_decimal_thresholds_are_exact():
    rules = RoutingRules.model_validate({"default_second_level": {
        "min_amount": {"CNY": "0.10"}, "approvers": {"users": ["x"], "team_manager": False, "roles": []}}})
    assert rules.default_second_level.min_amount["CNY"] == Decimal("0.10")
    assert dom.levels_required(rules, reg(amount="0.1")) == 2
    assert dom.levels_required(rules, reg(amount="0.09")) == 1


# --- review notices (the outbox's recipient policy and templates for routing's events) ------------------------

def _notice(type_: str, **extra) -> dict:
    evt = {"id": "reg_1:5", "type": type_, "subject": "reg_1", "actor": {"kind": "user", "id": "director_s"},
           "registration": {"id": "reg_1", "customer_name": "深圳市某某科技有限公司", "project_title": "MES",
                            "expected_amount": "6000000", "currency": "CNY", "team_id": "south",
                            "submitter": {"kind": "partner", "id": "acme"}}}
    evt.update(extra)
    return evt


def test_review_notices_go_to_the_routed_level():
    from chalicelib.domain.notifications import audience

    assert audience(_notice("registration.review_requested")) == ["review:reg_1:1"]
    assert audience(_notice("registration.escalated")) == ["review:reg_1:2"]
    overdue = _notice("registration.review_overdue", level=2, approvers=["vp"], notify=["ceo"])
    assert sorted(audience(overdue)) == ["user:ceo", "user:vp"]
    # decisions go to the submitter (a partner: its callback), never to a review level
    assert audience(_notice("registration.rejected")) == ["partner:acme"]


def test_overdue_reminder_reads_well_in_both_languages():
    from chalicelib.domain.notifications import render

    evt = _notice("registration.review_overdue", level=1, period=2, sla_hours=48,
                  waiting_since="2025-03-01T09:00:00Z")
    zh, en = render(evt, "zh-CN"), render(evt, "en")
    assert zh.title == "审批超时提醒：深圳市某某科技有限公司"
    assert "第 1 级审批已等待超过 96 小时（自 2025-03-01 09:00 起）" in zh.text
    assert en.title == "Review overdue: 深圳市某某科技有限公司"
    assert "Level 1 review of registration reg_1" in en.text and "more than 96 hours" in en.text
    assert "-" not in en.text.replace("2025-03-01", "")  # every field filled


def test_the_readme_example_is_a_valid_rules_document():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Review routing and SLA", 1)[1]
    doc = section.split("```json", 1)[1].split("```", 1)[0]
    rules = dom.load_routing(doc)
    assert [r.name for r in rules.routes] == ["south-key-accounts", "finance"]
    assert dom.levels_required(rules, reg(region="广东省广州市", amount="6000000")) == 2
    assert dom.levels_required(rules, reg(region="广东省广州市", amount="2000000")) == 1


def test_which_pending_registrations_get_a_reminder_now():
    sla = RoutingRules(review_sla_hours=48)
    now = T0 + timedelta(hours=49)
    fresh = reg(audit=pending_trail(T0 + timedelta(hours=30))).model_copy(update={"id": "fresh"})
    old = reg(audit=pending_trail(T0)).model_copy(update={"id": "old"})
    decided = reg(audit=pending_trail(T0)).model_copy(update={"id": "decided", "status": S.APPROVED})
    # level 2 waits since its level-1 approval, 40 h ago: not overdue although the registration is
    escalated = reg(amount="6000000", audit=[*pending_trail(T0), approval(3, "director_s", T0 + timedelta(hours=9))])
    waits = [dom.review_wait(sla, r) for r in (fresh, old, decided)]
    assert waits[2] is None
    [due] = dom.reminders_due([w for w in waits if w], now, sla)
    assert (due.reg_id, due.event_id) == ("old", "old:overdue:2:1")
    # a stamp for this wait's period 1 silences it; a stamp of an earlier wait does not
    assert dom.reminders_due([dom.review_wait(sla, old, "2:1")], now, sla) == []
    assert len(dom.reminders_due([dom.review_wait(sla, old, "1:1")], now, sla)) == 1
    # rules with a second level: the escalated one waits at level 2 since seq 3
    w2 = dom.review_wait(RULES, escalated)
    assert (w2.level, w2.since_seq) == (2, 3)
    assert dom.reminders_due([w2], T0 + timedelta(hours=9 + 23), RULES) == []  # RULES: 24 h SLA
    assert [r.event_id for r in dom.reminders_due([w2], T0 + timedelta(hours=9 + 24), RULES)] == ["reg_1:overdue:3:1"]
    # the same registration under rules without a second level is capped back to level 1
    assert dom.review_wait(sla, escalated).level == 1


# --- escalation (issue 18): a reviewer refers the waiting level up ------------------------------------------------

def _escalated(r: Registration, by: str, at: datetime, *, level: int = 1) -> Registration:
    from chalicelib.domain.workflow import escalate

    line = escalate(r, Actor(kind=PrincipalKind.USER, id=by), now=at, reason="请上级定夺", level=level)
    return r.model_copy(update={"audit": [*r.audit, line]})


def test_an_escalation_makes_level_2_wait_below_the_threshold_decided_by_the_configured_second_level():
    small = reg(amount="2000000")  # big-south, below its 5,000,000 second level: one level by amount
    assert dom.levels_required(RULES, small) == 1 and dom.approver_set(RULES, small, 2) is None
    up = _escalated(small, "director_s", T0 + timedelta(hours=3))
    assert up.audit[-1].level == 2 and up.audit[-1].reason == "escalated from level 1 to level 2: 请上级定夺"
    assert (dom.current_level(up), dom.levels_required(RULES, up), dom.escalated_to(up.audit)) == (2, 2, 2)
    assert dom.approver_set(RULES, up, 2).users == ("vp",)  # the route's second level, whatever the amount
    assert dom.may_decide(RULES, user("vp"), up, 2, team_manager_ids=[])
    assert not dom.may_decide(RULES, user("director_s"), up, 2, team_manager_ids=[])  # the escalator
    assert dom.approvers(RULES, up, 2, team_manager_ids=[]) == ["vp"]
    # the wait restarts at the escalation (SLA reminders measure from it)
    assert dom.waiting_since(up.audit) == (3, T0 + timedelta(hours=3))
    assert dom.review_wait(RULES, up).level == 2


def test_without_a_configured_second_level_admins_decide_an_escalation_and_an_edit_starts_a_new_round():
    plain = reg(region="浙江省杭州市", amount="100")  # no route matches
    up = _escalated(plain, "boss", T0 + timedelta(hours=1))
    assert dom.approver_set(RULES, up, 2).users == ("cfo",)  # the default second level, whatever the amount
    defaults = dom.load_routing("")  # no second level configured anywhere: admins
    assert dom.approver_set(defaults, up, 2) == dom.ESCALATION_APPROVERS
    assert dom.may_decide(defaults, user("root", Role.ADMIN), up, 2, team_manager_ids=["boss"])
    assert not dom.may_decide(defaults, user("boss"), up, 2, team_manager_ids=["boss"])
    edited = up.model_copy(update={"audit": [*up.audit, entry(4, "updated", actor=REP1, at=T0 + timedelta(hours=2))]})
    assert (dom.current_level(edited), dom.levels_required(defaults, edited)) == (1, 1)


def test_escalate_refuses_without_a_reason_at_the_top_level_and_for_a_level_not_above():
    from chalicelib.domain import workflow as wf

    boss = Actor(kind=PrincipalKind.USER, id="boss")
    with pytest.raises(wf.ReasonRequiredError):
        wf.escalate(reg(), boss, now=T0, reason="  ", level=1)
    with pytest.raises(wf.NoHigherLevelError):
        wf.escalate(reg(), boss, now=T0, reason="x", level=2)
    with pytest.raises(wf.EscalationLevelError):
        wf.escalate(reg(), boss, now=T0, reason="x", level=1, to_level=1)
    decided = reg().model_copy(update={"status": S.APPROVED})
    with pytest.raises(wf.IllegalTransitionError):
        wf.escalate(decided, boss, now=T0, reason="x", level=1)
