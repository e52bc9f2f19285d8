"""The score a list shows (issue 19): ``domain.scoring.summary`` (attribute score, model probability, the score
that orders work) and ``rank`` (highest first, at or above a minimum)."""
from __future__ import annotations

import math

from chalicelib.domain import scoring, scoring_model
from schemas.scoring import AttributeRules
from tests.unit.domain.test_routing import reg

# A model we wrote by hand: one split on decision-chain contacts (log-odds +1.0 with one, −1.5 without).
TINY_MODEL = {
    "format": "dealreg.gbdt.v1", "version": "m_tiny", "trained_at": "2026-12-01T00:00:00+00:00",
    "features": [{"name": "contacts.decision_roles", "kind": "numeric"}],
    "trees": [{"f": [0, -1, -1], "t": [0.5, 0.0, 0.0], "l": [1, 0, 0], "r": [2, 0, 0], "d": [0, 0, 0],
               "m": [0, 0, 0], "v": [0.0, -1.5, 1.0]}],
    "calibration": None, "metrics": {}, "training": {},
}
WITH_DM = 1 / (1 + math.exp(-1.0))
WITHOUT_DM = 1 / (1 + math.exp(1.5))
RULES = AttributeRules.model_validate({"base": 10, "rules": [
    {"id": "big", "points": 50, "when": [{"field": "project.amount", "currency": "CNY", "min": 1000000}],
     "label": {"zh-CN": "大单", "en": "large"}}]})


def no_dm(r):
    return r.model_copy(update={"contacts": []})


def test_without_a_model_the_attribute_score_orders_work():
    s = scoring.summary(reg(amount="2000000"), attribute_rules=RULES, model=None)
    assert s == {"score": 60, "basis": "attribute", "attribute": 60, "model_probability": None,
                 "model_version": None}


def test_with_a_model_its_probability_orders_work_and_the_attribute_score_stays():
    model = scoring_model.Model(TINY_MODEL)
    hot = scoring.summary(reg(amount="10"), attribute_rules=RULES, model=model)
    assert hot["basis"] == "model" and hot["model_version"] == "m_tiny" and hot["attribute"] == 10
    assert hot["model_probability"] == round(WITH_DM, 4) and hot["score"] == round(100 * WITH_DM) == 73
    cold = scoring.summary(no_dm(reg(amount="2000000")), attribute_rules=RULES, model=model)
    assert cold["attribute"] == 60 and cold["score"] == round(100 * WITHOUT_DM) == 18


def test_rank_sorts_highest_first_and_drops_those_below_the_minimum():
    a, b, c = (reg().model_copy(update={"id": i}) for i in ("reg_a", "reg_b", "reg_c"))
    sums = {"reg_a": {"score": 40}, "reg_b": {"score": 90}, "reg_c": {"score": 40}}
    assert [r.id for r in scoring.rank(sums, [a, b, c])] == ["reg_b", "reg_a", "reg_c"]
    assert [r.id for r in scoring.rank(sums, [a, b, c], min_score=41)] == ["reg_b"]

