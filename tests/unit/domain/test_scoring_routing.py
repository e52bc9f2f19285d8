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


def test_a_route_can_require_a_minimum_attribute_score(monkeypatch):
    monkeypatch.setenv("DEALREG_ATTRIBUTE_RULES", json.dumps(RULES))
    settings.reset()
    try:
        rules = RoutingRules.model_validate(SENIOR)
        hot, cold = reg(amount="2000000"), reg(amount="10000")
        assert dom.matching_route(rules, hot).name == "hot"
        assert dom.approver_set(rules, hot, 1).users == ("senior",)
        assert dom.matching_route(rules, cold) is None  # score 0 < 50: the defaults decide
    finally:
        monkeypatch.delenv("DEALREG_ATTRIBUTE_RULES")
        settings.reset()
