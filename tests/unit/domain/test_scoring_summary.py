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



def test_model_forecast_sums_amount_times_probability_per_stage_and_currency():
    from decimal import Decimal

    a = reg(amount="100.00")
    b = reg(amount="200.00").model_copy(update={"id": "reg_b"})
    c = reg(amount="50.00", currency="USD").model_copy(update={"id": "reg_c"})
    p = {"reg_1": 0.5, "reg_b": 0.25, "reg_c": 0.1}
    out = scoring.model_forecast([a, b, c], lambda r: p[r.id])
    stage = a.sales_stage.value
    assert out == {stage: {"CNY": Decimal("100.00"), "USD": Decimal("5.00")}}


def test_retrain_check_says_why_training_is_due():
    first = scoring.retrain_check([1, 0] * 60, [None] * 120, trained_rows=None, holdout=None, min_rows=100)
    assert first["due"] and first["reasons"] == ["no model yet; 120 closed registrations"]
    assert not scoring.retrain_check([1] * 120, [None] * 120, trained_rows=None, holdout=None)["due"]  # one outcome
    holdout = {"brier": 0.10}
    same = scoring.retrain_check([1, 0] * 55, [None] * 110, trained_rows=100, holdout=holdout)
    assert not same["due"] and same["closed_since_training"] == 0  # +10 %: not yet
    grown = scoring.retrain_check([1, 0] * 60, [None] * 120, trained_rows=100, holdout=holdout)
    assert grown["reasons"] == ["20 more closed registrations than at training (100)"]
    # 40 closed since training, predicted the wrong way round: Brier 0.64 against the holdout's 0.10
    labels, probs = [1, 0] * 60, [None] * 80 + [0.2, 0.8] * 20
    drift = scoring.retrain_check(labels, probs, trained_rows=110, holdout=holdout)
    assert drift["due"] and drift["live"]["rows"] == 40 and drift["live"]["brier"] == 0.64
    assert drift["reasons"] == ["Brier 0.64 on 40 registrations closed since training, holdout 0.1"]
    good = scoring.retrain_check(labels, [None] * 80 + [0.8, 0.2] * 20, trained_rows=110, holdout=holdout)
    assert not good["due"] and good["live"]["brier"] == 0.04


def test_registered_capital_text_becomes_a_company_size_band():
    assert [scoring_model.capital_band(t) for t in ("50万元", "500万人民币", "3,000万元", "1.5亿元", "185000万元")] == [
        1, 2, 3, 4, 5]
    assert scoring_model.capital_band("30000000") == 3  # no unit: yuan
    assert scoring_model.capital_band("100万美元") is None and scoring_model.capital_band(None) is None
    rules = AttributeRules.model_validate({"base": 0, "rules": [
        {"id": "large", "points": 30, "when": [{"field": "customer.capital_band", "min": 4}],
         "label": {"zh-CN": "注册资本过亿", "en": "capital over 100 million"}}]})
    assert scoring.summary(reg(), attribute_rules=rules, model=None)["attribute"] == 0
    assert scoring.summary(reg(), attribute_rules=rules, model=None, customer_facts={"capital_band": 5})[
        "attribute"] == 30
