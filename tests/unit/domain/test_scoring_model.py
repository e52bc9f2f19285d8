"""Model score (issue 19): the pure-Python scorer against LightGBM, the split, the metrics, the explanations."""
from __future__ import annotations

import math
import random

import pytest

from chalicelib.domain import scoring_model as sm

pytest.importorskip("lightgbm")
from infra import scoring_train  # noqa: E402


def synthetic(n: int = 3000, seed: int = 7):
    """Won/lost with a known signal: won is likelier with a decision-maker contact, region 华南 and a
    mid-sized amount; product is noise. Some values are missing."""
    rng = random.Random(seed)
    records, labels, groups, truth = [], [], [], []
    for i in range(n):
        region = rng.choice(["华南", "华东", "华北", "西南"])
        roles = rng.choice([0, 0, 1, 2])
        amount = rng.choice([None, rng.uniform(1e4, 2e6)])
        logit = -1.2 + 1.1 * (roles > 0) + 0.9 * (region == "华南") + (0.6 if amount and 2e5 < amount < 1e6 else 0)
        won = rng.random() < 1 / (1 + math.exp(-logit))
        records.append({"customer.region": region, "contacts.decision_roles": float(roles),
                        "project.amount": amount, "project.product": rng.choice(["A", "B", "C"]),
                        "competitors.status": rng.choice(["known", "unknown", None])})
        labels.append(int(won))
        groups.append(f"c{i // 2}")  # two deals per customer stay on one side of the split
        truth.append(logit)
    return records, labels, groups, truth


FEATURES = ["customer.region", "contacts.decision_roles", "project.amount", "project.product", "competitors.status"]


@pytest.fixture(scope="module")
def trained():
    records, labels, groups, truth = synthetic()
    return records, labels, truth, scoring_train.train(records, labels, groups, FEATURES, seed=3,
                                                        params={"min_data_in_leaf": 20})


def test_learns_the_known_signal_and_ranks_by_it(trained):
    records, labels, truth, result = trained
    model = sm.Model(result.doc)
    oracle = sm.roc_auc([labels[i] for i in result.test_index], [truth[i] for i in result.test_index])
    assert result.doc["metrics"]["holdout"]["auc"] > oracle - 0.04  # close to the generator's own ranking
    assert result.doc["metrics"]["holdout"]["auc"] > 0.6
    base = {"customer.region": "华北", "contacts.decision_roles": 0.0, "project.amount": 5e4,
            "project.product": "A", "competitors.status": "unknown"}
    strong = {**base, "customer.region": "华南", "contacts.decision_roles": 2.0, "project.amount": 5e5}
    weak, good = model.score(base), model.score(strong)
    assert good["probability"] > weak["probability"] + 0.2
    names = {f["feature"] for f in good["factors"]}
    assert {"customer.region", "contacts.decision_roles"} <= names
    assert all("提高" in f["zh-CN"] and "raises" in f["en"] for f in good["factors"]
               if f["feature"] in ("customer.region", "contacts.decision_roles"))


def test_pure_python_scores_equal_lightgbm_and_the_explanation_adds_up(trained):
    records, _, _, result = trained
    assert result.parity_max_diff <= 1e-9
    model = sm.Model(result.doc)
    for rec in records[:200]:
        row = sm.encode(model.spec, rec, model.codes)
        bias, contrib = model.contributions(row)
        assert bias + sum(contrib) == pytest.approx(model.raw(row), abs=1e-9)


def test_compiled_walk_equals_the_node_walk_with_missing_zero_and_unseen_values(trained):
    records, _, _, result = trained
    model = sm.Model(result.doc)
    rng = random.Random(5)
    for rec in records[:300]:
        row = sm.encode(model.spec, rec, model.codes)
        row = [math.nan if rng.random() < 0.15 else 0.0 if rng.random() < 0.1 else 99.0 if rng.random() < 0.05
               else x for x in row]
        assert model.raw(row) == sum(v for v, _ in model.leaves(row))


def test_grouped_split_is_stratified_deterministic_and_keeps_groups_whole():
    records, labels, groups, _ = synthetic(1000)
    train, test = sm.grouped_split(groups, labels, test_share=0.2, seed=1)
    assert (train, test) == sm.grouped_split(groups, labels, test_share=0.2, seed=1)
    assert set(train).isdisjoint(test) and len(train) + len(test) == len(labels)
    assert {groups[i] for i in train}.isdisjoint({groups[i] for i in test})
    share_won = sum(labels[i] for i in test) / max(1, sum(labels))
    assert 0.17 < share_won < 0.25
    assert 0.17 < len(test) / len(labels) < 0.25


def test_metrics_on_known_values():
    assert sm.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert sm.roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert sm.brier([1, 0], [0.8, 0.4]) == pytest.approx((0.04 + 0.16) / 2)
    assert sm.log_loss([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))
    table = sm.reliability([1, 0, 1, 0], [0.95, 0.05, 0.15, 0.12])
    assert [r["rows"] for r in table] == [1, 2, 1]
    assert sm.beats({"auc": 0.80, "brier": 0.13}, None)
    assert sm.beats({"auc": 0.81, "brier": 0.13}, {"auc": 0.80, "brier": 0.13})
    assert not sm.beats({"auc": 0.80, "brier": 0.13}, {"auc": 0.80, "brier": 0.13})
    assert not sm.beats({"auc": 0.85, "brier": 0.15}, {"auc": 0.80, "brier": 0.13})


def test_platt_recovers_a_known_scaling():
    rng = random.Random(2)
    raw = [rng.uniform(-4, 4) for _ in range(4000)]
    labels = [int(rng.random() < sm.sigmoid(0.5 * x - 0.7)) for x in raw]
    a, b = sm.fit_platt(raw, labels)
    assert a == pytest.approx(0.5, abs=0.08) and b == pytest.approx(-0.7, abs=0.12)


def test_a_broken_model_document_is_refused(trained):
    doc = dict(trained[3].doc)
    bad_tree = dict(doc["trees"][0], l=[99] * len(doc["trees"][0]["l"]))
    with pytest.raises(sm.ModelError):
        sm.Model({**doc, "trees": [bad_tree]})
    with pytest.raises(sm.ModelError):
        sm.Model({**doc, "format": "other"})
    with pytest.raises(sm.ModelError):
        sm.feature_spec(["customer.shoe_size"], [])
