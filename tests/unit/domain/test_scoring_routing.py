"""Routing on scores (issue 19): a route may require a minimum attribute score (high score -> senior approver)."""
from __future__ import annotations

import json

from chalicelib import settings
from chalicelib.domain import routing as dom
from chalicelib.domain.routing import RoutingRules
from tests.unit.domain.test_routing import reg

SENIOR = {"routes": [{"name": "hot", "min_attribute_score": 50,
                      "approvers": {"team_manager": False, "roles": [], "users": ["senior"]}}]}
RULES = {"base": 0, "rules": [
    {"id": "big", "points": 60, "when": [{"field": "project.amount", "currency": "CNY", "min": 1000000}],
     "label": {"zh-CN": "大单", "en": "large"}}]}


def test_a_route_can_require_a_minimum_attribute_score():
    import pytest

    from chalicelib.domain.scoring import summary
    from chalicelib.domain.scoring_rules import load_attribute_rules

    attribute_rules = load_attribute_rules(json.dumps(RULES))
    plain = RoutingRules.model_validate(SENIOR)
    rules = dom.with_model(plain, None, lambda r: summary(r, attribute_rules=attribute_rules, model=None)["attribute"])
    hot, cold = reg(amount="2000000"), reg(amount="10000")
    assert dom.matching_route(rules, hot).name == "hot"
    assert dom.approver_set(rules, hot, 1).users == ("senior",)
    assert dom.matching_route(rules, cold) is None  # score 0 < 50: the defaults decide
    # the domain reads no setting: rules on the attribute score must come bound (store.routing.rules())
    with pytest.raises(ValueError, match="attribute score"):
        dom.matching_route(plain, hot)


def test_routing_binds_the_attribute_score_with_the_customers_company_size(monkeypatch):
    """store.routing.rules() binds the score lists show: registry facts (company size) included."""
    from chalicelib.store import routing as store_routing, scoring as store_scoring

    monkeypatch.setenv("DEALREG_ATTRIBUTE_RULES", json.dumps({"base": 0, "rules": [
        {"id": "large", "points": 60, "when": [{"field": "customer.capital_band", "min": 4}],
         "label": {"zh-CN": "注册资本过亿", "en": "registered capital over 100 million"}}]}))
    monkeypatch.setenv("DEALREG_ROUTING_RULES", json.dumps(SENIOR))
    settings.reset()
    facts = {"name:big": {"capital_band": 5}}
    monkeypatch.setattr(store_scoring, "customer_facts", lambda key: facts.get(key, {}))
    try:
        rules = store_routing.rules()
        big, small = reg(amount="10000"), reg(amount="10000")
        big = big.model_copy(update={"customer_key": "name:big"})
        assert dom.matching_route(rules, big).name == "hot"
        assert dom.matching_route(rules, small) is None
    finally:
        monkeypatch.delenv("DEALREG_ATTRIBUTE_RULES")
        monkeypatch.delenv("DEALREG_ROUTING_RULES")
        settings.reset()


def test_an_auto_check_flags_a_low_attribute_score_only_when_configured():
    from datetime import date

    from chalicelib.domain.auto_checks import run_checks
    from schemas.dedup import DedupVerdict
    from schemas.registration import RegistrationCreate
    from schemas.workflow import WorkflowRules
    from tests.functional.helpers import EXAMPLE

    payload = RegistrationCreate.model_validate(EXAMPLE["data"])
    clear = DedupVerdict(outcome="clear", duplicate=False, conflict=False)
    rules = WorkflowRules(flag_attribute_score_below=60)
    low = run_checks(payload, clear, rules, today=date(2026, 12, 1), attribute_score=40)
    assert low.outcome == "review" and "score: attribute score 40 is below 60" in low.summary()
    assert run_checks(payload, clear, rules, today=date(2026, 12, 1), attribute_score=75).outcome == "pass"
    unset = run_checks(payload, clear, WorkflowRules(), today=date(2026, 12, 1), attribute_score=5)
    assert unset.outcome == "pass" and "score" not in unset.summary()


def test_events_carry_the_attribute_score_and_review_notifications_show_it():
    from chalicelib.domain.events import events_for_change
    from chalicelib.domain.notifications import render
    from chalicelib.domain.scoring import summary
    from chalicelib.domain.scoring_rules import load_attribute_rules

    attribute_rules = load_attribute_rules(json.dumps(RULES))
    new = reg(amount="2000000")
    events = events_for_change(None, new, attribute_of=lambda r: summary(
        r, attribute_rules=attribute_rules, model=None, customer_facts={"capital_band": 5})["attribute"])
    assert events and all(e.registration.attribute_score == 60 for e in events)
    # the domain reads no setting: without a scorer the snapshot has no attribute score
    assert events_for_change(None, new)[0].registration.attribute_score is None
    evt = events[-1].model_dump(mode="json")
    assert evt["type"] == "registration.review_requested"
    score = evt["registration"]["attribute_score"]
    assert render(evt, "zh-CN").text.endswith(f"属性评分 {score}/100。")
    assert render(evt, "en").text.endswith(f" Attribute score {score}/100.")
    evt["type"] = "registration.approved"
    assert "属性评分" not in render(evt, "zh-CN").text
