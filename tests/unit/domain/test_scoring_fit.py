"""The daily job's pure-Python trainer (issue 19): a binned logistic regression written as the product's model
document — it learns a known signal, scores through ``scoring_model.Model`` exactly as fitted, and stops when
its time is up."""
from __future__ import annotations

import math
import random
from datetime import UTC, datetime

from chalicelib.domain import scoring_fit as sf, scoring_model as sm

FEATURES = ["customer.region", "contacts.decision_roles", "project.amount", "project.currency"]
NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _data(n: int, seed: int = 3):
    rng = random.Random(seed)
    records, labels, groups = [], [], []
    for i in range(n):
        region = rng.choice(["广东", "浙江", "北京", "四川"])
        dm = rng.random() < 0.5
        amount = rng.randint(1, 500) * 1e4 if rng.random() > 0.1 else None  # some missing
        p = 0.1 + 0.3 * (region == "广东") + 0.3 * dm + (0.2 if amount is not None and amount < 1e6 else 0)
        records.append({"customer.region": region, "contacts.decision_roles": float(dm), "project.amount": amount,
                        "project.currency": "CNY"})
        labels.append(int(rng.random() < p))
        groups.append(f"c{i // 2}")
    return records, labels, groups


def test_it_learns_a_known_signal_and_explains_it():
    records, labels, groups = _data(3000)
    result = sf.train(records, labels, groups, FEATURES, now=NOW)
    assert result.converged and result.doc["training"]["library"].startswith("dealreg binned logistic")
    assert result.doc["metrics"]["holdout"]["auc"] > 0.7
    model = sm.Model(result.doc)

    def p(region, dm, amount):
        return model.score({"customer.region": region, "contacts.decision_roles": float(dm), "project.amount": amount,
                            "project.currency": "CNY"})["probability"]

    assert p("广东", True, 5e5) > p("广东", False, 5e5) > p("北京", False, 5e5) > p("北京", False, 3e6)
    assert p("北京", True, 5e5) > p("北京", False, 5e5)
    low = model.score({"customer.region": "北京", "contacts.decision_roles": 0.0, "project.amount": 3e6,
                       "project.currency": "CNY"})
    assert {f["feature"] for f in low["factors"]} == {"customer.region", "contacts.decision_roles", "project.amount"}
    assert all(f["effect"] < 0 for f in low["factors"])


def test_the_document_scores_exactly_the_fitted_sum_and_the_compiled_walk_agrees():
    records, labels, groups = _data(800, seed=5)
    result = sf.train(records, labels, groups, FEATURES, now=NOW)
    model = sm.Model(result.doc)
    for rec in records[:300] + [{"customer.region": "火星", "project.amount": None}]:
        row = sm.encode(model.spec, rec, model.codes)
        walked = sum(v for v, _ in model.leaves(row))
        assert math.isclose(walked, model.raw(row), abs_tol=1e-12)
        bias, contrib = model.contributions(row)
        assert math.isclose(bias + sum(contrib), walked, abs_tol=1e-9)
    # holdout metrics are the document's own scoring of the holdout rows
    probs = [model.probability(sm.encode(model.spec, records[i], model.codes)) for i in result.test_index]
    assert sm.evaluate(result.doc, [records[i] for i in result.test_index],
                       [labels[i] for i in result.test_index])["auc"] == round(sm.roc_auc(
                           [labels[i] for i in result.test_index], probs), 4)


def test_it_stops_when_the_time_is_up():
    records, labels, groups = _data(800, seed=7)
    result = sf.train(records, labels, groups, FEATURES, now=NOW, time_left=lambda: False)
    assert result.passes == 1 and not result.converged
    assert result.doc["training"]["params"]["converged"] is False
    sm.validate_model(result.doc)
