"""The daily ``check_scoring_model`` job trains when training is due (issue 19): the pure-Python trainer
(``domain/scoring_fit.py``), inside the function, through the same publish-only-if-better path as
``dealreg scoring train``, and tells the admins through the notification outbox. Runs through the schedule's
own code path against the moto stand-in; needs no LightGBM."""
from __future__ import annotations

import copy
import random
from datetime import timedelta

import pytest

from tests.functional.helpers import EXAMPLE, make_user


@pytest.fixture(autouse=True)
def _no_cached_model():
    from chalicelib.store import scoring as store

    store.forget_cached_model()
    yield
    store.forget_cached_model()


REGIONS = ["广东省深圳市", "浙江省杭州市", "北京市", "四川省成都市"]


def _closed(n: int, seed: int = 11) -> None:
    """``n`` won/lost registrations written straight to the table: won with p = 0.15 + 0.35 (广东) + 0.35
    (a decision maker among the contacts); the amount is noise."""
    from chalicelib.clock import now
    from chalicelib.store.registrations import to_item
    from schemas.common import Actor
    from schemas.registration import AuditEntry, Registration

    rng = random.Random(seed)
    t0 = now() - timedelta(days=200)
    for i in range(n):
        data = copy.deepcopy(EXAMPLE["data"])
        region = rng.choice(REGIONS)
        dm = rng.random() < 0.5
        data["customer"].update(name=f"客户{i}有限公司", region=region, registry_ids=[], website=None)
        data["contacts"] = [{"name": "甲", "role": "decision_maker" if dm else "user"}]
        data["project"]["expected_amount"]["amount"] = str(rng.randint(1, 500) * 10000)
        data["external_ref"] = f"X-{i}"
        status = "won" if rng.random() < 0.15 + 0.35 * region.startswith("广东") + 0.35 * dm else "lost"
        actor = Actor(kind="user", id="rep1")
        reg = Registration(**data, id=f"reg_t{i:05d}", status=status, source="rep", submitter=actor,
                           customer_key=f"name:c{i}", created_at=t0 + timedelta(minutes=i), updated_at=t0,
                           version=1, audit=[AuditEntry(seq=1, at=t0, actor=actor, action="submitted",
                                                        to_status="submitted")])
        to_item(reg).save()


def _history(suite, n: int) -> None:
    """``n`` closed registrations from long ago: stored, and their stream records not delivered (they were
    written before these functions ran; delivering them would judge 400 seeded names for duplicates, minutes of
    work that says nothing about training)."""
    _closed(n)
    suite.runner.skip_streams()


def _record(region: str, dm: bool) -> dict:
    return {"customer.region": region, "contacts.decision_roles": 1.0 if dm else 0.0, "project.amount": 1e6,
            "project.currency": "CNY"}


def _inbox(suite, admin) -> list[dict]:
    return [i for i in suite.api.get("/v1/dev/inbox", admin).json()["items"]
            if i["event_type"] == "scoring.model_training"]


def test_the_daily_job_trains_publishes_and_tells_the_admins(suite):
    from chalicelib.store import scoring as store

    admin = make_user("root", "admin")
    make_user("rep9", "rep", "south")
    _history(suite, 400)
    suite.runner.run_schedule("check_scoring_model")
    suite.runner.pump(max_rounds=2000)

    check = store.last_check()
    assert check["due"] and check["reasons"] == ["no model yet; 400 closed registrations"]
    training = check["training"]
    assert training["published"] is True and training["rows"] == 400
    assert training["library"].startswith("dealreg binned logistic regression")
    version = store.current()["version"]
    assert version == training["version"]
    doc = store.load_version(version)
    assert doc["training"]["params"]["converged"] is True
    assert doc["metrics"]["holdout"]["auc"] > 0.65  # a strong signal; the holdout is ~80 rows
    # the known signal ranks as it should: 广东 + a decision maker first, neither last
    model = store.current_model(0)
    p = {(r, dm): model.score(_record(r, dm))["probability"] for r in ("广东省深圳市", "北京市") for dm in (True, False)}
    assert p[("广东省深圳市", True)] > p[("广东省深圳市", False)] > p[("北京市", False)]
    assert p[("广东省深圳市", True)] > p[("北京市", True)] > p[("北京市", False)]
    why = model.score(_record("北京市", False))["factors"]
    assert {f["feature"] for f in why} >= {"contacts.decision_roles"} and all(f["effect"] < 0 for f in why
                                                                             if f["feature"] != "project.amount")
    # the admins hear it (the outbox's local channel in local mode); a rep does not
    [note] = _inbox(suite, admin)
    assert note["recipient"] == {"kind": "user", "id": "root"}
    assert note["title"] == "智能评分模型训练：新版本已发布"
    assert version in note["text"] and "no model yet; 400 closed registrations" in note["text"]

    # next day, nothing new: not due, nothing trained, nobody told
    suite.runner.run_schedule("check_scoring_model")
    suite.runner.pump(max_rounds=2000)
    assert store.last_check()["due"] is False and store.current()["version"] == version
    assert len(_inbox(suite, admin)) == 1


ORACLE_LOGIT = 1.7346  # logit(0.85) = -logit(0.15): the generating probabilities, additive in log-odds here


def _oracle(now) -> dict:
    """The operator's model: the data's own generating rule (it cannot be beaten on average), as a document."""
    leaf = {"f": [-1], "t": [0], "l": [-1], "r": [-1], "d": [0], "m": [0]}
    return {
        "format": "dealreg.gbdt.v1", "version": "m_operator", "trained_at": (now - timedelta(days=1)).isoformat(),
        "features": [{"name": "customer.region", "kind": "categorical", "categories": ["广东省深圳市"]},
                     {"name": "contacts.decision_roles", "kind": "numeric"}],
        "trees": [{**leaf, "v": [-ORACLE_LOGIT]},
                  {"f": [0, -1, -1], "t": [[0], 0, 0], "l": [1, -1, -1], "r": [2, -1, -1], "d": [0, 0, 0],
                   "m": [0, 0, 0], "v": [0.0, ORACLE_LOGIT, 0.0]},
                  {"f": [1, -1, -1], "t": [0.5, 0, 0], "l": [1, -1, -1], "r": [2, -1, -1], "d": [0, 0, 0],
                   "m": [2, 0, 0], "v": [0.0, 0.0, ORACLE_LOGIT]}],
        "calibration": {"method": "none", "a": 1.0, "b": 0.0},
        "metrics": {"holdout": {"auc": 0.75, "log_loss": 0.55, "brier": 0.19}},
        "training": {"rows": 300, "library": "lightgbm 4.7.0"}}


def test_an_operator_model_that_is_not_beaten_stays_published_and_the_admins_hear_why(suite):
    from chalicelib.clock import now
    from chalicelib.store import scoring as store

    admin = make_user("root", "admin")
    _history(suite, 400)
    store.save_version(_oracle(now()), now=now())
    store.publish("m_operator", expected=store.current(), now=now(), reason="operator")
    suite.runner.run_schedule("check_scoring_model")
    suite.runner.pump(max_rounds=2000)

    check = store.last_check()
    assert check["due"] and check["reasons"] == ["100 more closed registrations than at training (300)"]
    training = check["training"]
    assert training["published"] is False and training["beats_current"] is False
    assert training["reason"] == "does not beat the current model on the same holdout"
    assert training["features"] == ["customer.region", "contacts.decision_roles"]  # the operator's ticked fields
    assert training["current"] == "m_operator"
    assert training["current_on_same_holdout"]["auc"] >= training["new"]["auc"]
    assert store.current()["version"] == "m_operator"
    assert store.summary(training["version"]) is None  # a refused version is not even stored
    [note] = _inbox(suite, admin)
    assert note["title"] == "智能评分模型训练：新版本未发布"
    assert "m_operator" in note["text"] and "does not beat the current model" in note["text"]


def test_too_few_closed_registrations_train_nothing_and_tell_nobody(suite):
    from chalicelib.store import scoring as store

    admin = make_user("root", "admin")
    _history(suite, 60)
    suite.runner.run_schedule("check_scoring_model")
    suite.runner.pump(max_rounds=2000)
    assert store.last_check()["due"] is False and "training" not in store.last_check()
    assert store.current()["version"] is None and _inbox(suite, admin) == []
