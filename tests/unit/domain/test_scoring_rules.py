"""Attribute score and behaviour points (issue 19): rules documents, points, decay, factors in zh-CN and en."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace as NS

import pytest
from pydantic import ValidationError

from chalicelib.domain import scoring_rules as sr
from schemas.scoring import AttributeRules, BehaviourRules

NOW = datetime(2026, 12, 1, tzinfo=UTC)
RULES = AttributeRules.model_validate({"base": 10, "rules": [
    {"id": "dm", "points": 30, "when": [{"field": "contacts.decision_roles", "min": 1}],
     "label": {"zh-CN": "有决策人", "en": "decision maker"}},
    {"id": "gd", "points": 20, "when": [{"field": "customer.region", "prefix": ["广东"]}],
     "label": {"zh-CN": "广东", "en": "Guangdong"}},
    {"id": "big", "points": 50, "when": [{"field": "project.amount", "currency": "CNY", "min": 1e6}],
     "label": {"zh-CN": "大单", "en": "large"}},
    {"id": "past", "points": -40, "when": [{"field": "close_horizon_days", "max": 0}],
     "label": {"zh-CN": "已过期", "en": "past"}},
]})


def test_attribute_points_add_up_clamp_and_explain():
    rec = {"contacts.decision_roles": 1.0, "customer.region": "广东省深圳市", "project.amount": 2e6,
           "project.currency": "CNY", "close_horizon_days": 30.0}
    score, factors = sr.attribute_score(rec, RULES)
    assert score == 100  # 10 + 30 + 20 + 50, clamped
    assert [f["key"] for f in factors] == ["big", "dm", "gd"]
    assert factors[0]["zh-CN"].startswith("大单") and factors[0]["en"].startswith("large")
    usd = {**rec, "project.currency": "USD", "customer.region": "北京市", "close_horizon_days": -3.0}
    assert sr.attribute_score(usd, RULES)[0] == 10 + 30 - 40
    assert sr.attribute_score({}, RULES) == (10, [])


def test_the_default_rules_load_and_a_bad_document_names_its_field():
    assert sr.load_attribute_rules().rules
    with pytest.raises(ValidationError) as err:
        AttributeRules.model_validate({"rules": [{"id": "x", "points": 5, "label": {"zh-CN": "a", "en": "a"},
                                                  "when": [{"field": "customer.region", "min": 3}]}]})
    assert "min/max apply to numeric fields only" in str(err.value)
    with pytest.raises(ValidationError):
        AttributeRules.model_validate({"rules": [{"id": "x", "points": 500, "label": {"zh-CN": "a", "en": "a"},
                                                  "when": [{"field": "contacts.count", "min": 1}]}]})
    with pytest.raises(ValidationError):
        sr.load_attribute_rules.__wrapped__(json.dumps({"rules": [], "version": 1}))


def test_behaviour_points_decay_with_the_half_life():
    rules = BehaviourRules(half_life_days=10)
    audit = [NS(at=NOW - timedelta(days=10), action="status_changed", to_status="approved"),
             NS(at=NOW - timedelta(days=1), action="updated", to_status=None)]
    follow = [NS(at=NOW, type="demo"), NS(at=NOW - timedelta(days=20), type="visit")]
    points, score, factors = sr.behaviour_points(audit, follow, rules, now=NOW)
    expected = 10 * 0.5 + 2 * 0.5 ** 0.1 + 10 + 8 * 0.25
    assert points == pytest.approx(expected, abs=0.01)
    assert score == round(expected)
    assert factors[0]["key"] == "follow_up:demo" and "演示" in factors[0]["zh-CN"]
    later = sr.behaviour_points(audit, follow, rules, now=NOW + timedelta(days=10))[0]
    assert later == pytest.approx(expected / 2, abs=0.01)


def test_negative_events_and_stage_moves():
    rules = BehaviourRules()
    audit = [NS(at=NOW, action="status_changed", to_status="rejected")]
    moves = [(NOW, "qualification", "negotiation"), (NOW, "proposal", "lead")]
    points, score, factors = sr.behaviour_points(audit, [], rules, now=NOW, stage_moves=moves)
    assert points == pytest.approx(-20 + 3 * 6 - 3 * 8)
    assert score == 0


def test_pipeline_stage_moves_in_the_audit_trail_earn_behaviour_points():
    from chalicelib.domain.scoring import scores_for
    from tests.unit.domain.test_routing import reg

    audit = [NS(at=NOW, action="stage_changed", reason="qualification -> proposal: 客户确认预算", to_status=None),
             NS(at=NOW, action="stage_changed", reason="proposal -> needs_analysis", to_status=None),
             NS(at=NOW, action="updated", reason="lead -> proposal", to_status=None)]  # not a stage move line
    assert sr.stage_moves_of(audit) == [(NOW, "qualification", "proposal"), (NOW, "proposal", "needs_analysis")]
    r = reg()
    base = scores_for(r, [], now=NOW, attribute_rules=sr.load_attribute_rules(), behaviour_rules=BehaviourRules(), model=None)
    moved = r.model_copy(update={"audit": [*r.audit, *(
        e.model_copy(update={"seq": e.seq + 10, "at": NOW, "action": "stage_changed", "to_status": None,
                             "from_status": None, "reason": why})
        for e, why in zip(r.audit[:2], ("qualification -> negotiation: 谈判", "negotiation -> proposal"), strict=True))]})
    after = scores_for(moved, [], now=NOW, attribute_rules=sr.load_attribute_rules(), behaviour_rules=BehaviourRules(),
                       model=None)
    assert after["behaviour_points"] == pytest.approx(base["behaviour_points"] + 3 * 6 - 1 * 8)
    assert any(f["key"] == "stage" and "销售阶段" in f["zh-CN"] for f in after["behaviour_factors"])
