"""The model score where people decide (issue 19): in events and notifications, in routing rules (high model
score -> senior approver) and in the auto-checks (flag a low model score). Uses the hand-written ``TINY_MODEL``:
win probability 73 % with a decision-chain contact, 18 % without."""
from __future__ import annotations

from datetime import date

from chalicelib.domain import routing as dom, scoring_model
from chalicelib.domain.routing import RoutingRules
from tests.unit.domain.test_routing import reg
from tests.unit.domain.test_scoring_summary import TINY_MODEL, WITH_DM, no_dm

MODEL = scoring_model.Model(TINY_MODEL)
SENIOR = {"routes": [{"name": "hot", "min_model_score": 60,
                      "approvers": {"team_manager": False, "roles": [], "users": ["senior"]}}]}


def test_events_carry_the_model_probability_and_notifications_show_it():
    from chalicelib.domain.events import events_for_change
    from chalicelib.domain.notifications import render

    events = events_for_change(None, reg(), model=MODEL)
    assert events and all(e.registration.model_probability == round(WITH_DM, 4) for e in events)
    assert all(e.registration.model_version == "m_tiny" for e in events)
    evt = events[-1].model_dump(mode="json")
    assert evt["type"] == "registration.review_requested"
    assert render(evt, "zh-CN").text.endswith("赢单概率 73%（模型 m_tiny）。")
    assert render(evt, "en").text.endswith(" Win probability 73% (model m_tiny).")
    without = events_for_change(None, reg())[-1].model_dump(mode="json")
    assert without["registration"].get("model_probability") is None
    assert "赢单概率" not in render(without, "zh-CN").text


def test_a_route_can_require_a_minimum_model_score():
    rules = RoutingRules.model_validate(SENIOR)
    bound = dom.with_model(rules, MODEL)
    assert dom.matching_route(bound, reg()).name == "hot"  # 73 >= 60
    assert dom.approver_set(bound, reg(), 1).users == ("senior",)
    assert dom.matching_route(bound, no_dm(reg())) is None  # 18 < 60: the defaults decide
    assert dom.matching_route(rules, reg()) is None  # no model published: the route never matches
    assert rules._model is None  # binding copies; the cached rules stay unbound


def test_an_auto_check_flags_a_low_model_score_only_when_configured():
    from chalicelib.domain.auto_checks import run_checks
    from schemas.dedup import DedupVerdict
    from schemas.registration import RegistrationCreate
    from schemas.workflow import WorkflowRules
    from tests.functional.helpers import EXAMPLE

    payload = RegistrationCreate.model_validate(EXAMPLE["data"])
    clear = DedupVerdict(outcome="clear", duplicate=False, conflict=False)
    rules = WorkflowRules(flag_model_score_below=30)
    low = run_checks(payload, clear, rules, today=date(2026, 12, 1), model_score=18)
    assert low.outcome == "review" and "model_score: model win probability 18% is below 30%" in low.summary()
    assert run_checks(payload, clear, rules, today=date(2026, 12, 1), model_score=73).outcome == "pass"
    assert run_checks(payload, clear, rules, today=date(2026, 12, 1), model_score=None).outcome == "pass"
    unset = run_checks(payload, clear, WorkflowRules(), today=date(2026, 12, 1), model_score=1)
    assert unset.outcome == "pass" and "model_score" not in unset.summary()


def test_partners_do_not_receive_the_model_probability():
    from chalicelib.domain import visibility
    from chalicelib.domain.events import events_for_change

    new = reg().model_copy(update={"partner_id": "acme", "source": "partner"})
    evt = events_for_change(None, new, model=MODEL)[-1].model_dump(mode="json")
    partner = visibility.event(visibility.Viewer("partner", "acme"), evt)["registration"]
    assert "model_probability" not in partner and "model_version" not in partner
    staff = visibility.event(visibility.Viewer("user", "boss"), evt)["registration"]
    assert staff["model_probability"] == round(WITH_DM, 4)
