"""Scoring through the local stack (issue 19): the product's training path on closed registrations (publish
only if better, force, roll back) and ``GET /v1/registrations/{id}/scores`` (attribute, behaviour, model, with
why in zh-CN and en; same visibility as the registration)."""
from __future__ import annotations

import copy
import random
from datetime import timedelta

import pytest

from tests.functional.helpers import EXAMPLE, example, make_user

pytest.importorskip("lightgbm")


@pytest.fixture(autouse=True)
def _no_cached_model():
    """A warm function keeps the published model for a minute; each test starts (and leaves) without one."""
    from chalicelib.store import scoring as store

    store.forget_cached_model()
    yield
    store.forget_cached_model()


FEATURES = ["customer.region", "contacts.decision_roles", "project.amount", "project.currency"]


def _closed(n: int, seed: int = 11, start: int = 0) -> None:
    """``n`` won/lost registrations written straight to the table; won is likelier in 广东 with a decision maker."""
    from chalicelib.clock import now
    from chalicelib.store.registrations import to_item
    from schemas.common import Actor
    from schemas.registration import AuditEntry, Registration

    rng = random.Random(seed)
    t0 = now() - timedelta(days=200)
    for i in range(start, start + n):
        data = copy.deepcopy(EXAMPLE["data"])
        region = rng.choice(["广东省深圳市", "浙江省杭州市", "北京市", "四川省成都市"])
        dm = rng.random() < 0.5
        data["customer"].update(name=f"客户{i}有限公司", region=region, registry_ids=[], website=None)
        data["contacts"] = [{"name": "甲", "role": "decision_maker" if dm else "user"}]
        data["project"]["expected_amount"]["amount"] = str(rng.randint(1, 500) * 10000)
        data["external_ref"] = f"X-{i}"
        p = 0.15 + 0.35 * region.startswith("广东") + 0.35 * dm
        status = "won" if rng.random() < p else "lost"
        actor = Actor(kind="user", id="rep1")
        reg = Registration(**data, id=f"reg_t{i:05d}", status=status, source="rep", submitter=actor,
                           customer_key=f"name:c{i}", created_at=t0, updated_at=t0, version=1,
                           audit=[AuditEntry(seq=1, at=t0, actor=actor, action="submitted", to_status="submitted")])
        to_item(reg).save()


def test_train_publishes_only_a_better_model_and_rolls_back(suite):
    from chalicelib.clock import now
    from chalicelib.store import scoring as store
    from infra.scoring_cli import train_and_publish

    _closed(400)
    first = train_and_publish(features=FEATURES, now=now(), min_rows=100)
    assert first["published"] is True and first["current"] is None
    assert first["new"]["auc"] > 0.6  # the signal is strong; the holdout is ~80 rows
    v1 = first["version"]
    assert store.current()["version"] == v1

    # The same data again gives the same model: it does not beat the current one on the same holdout.
    again = train_and_publish(features=FEATURES, now=now() + timedelta(seconds=5), min_rows=100)
    assert again["published"] is False and again["beats_current"] is False
    assert again["current_on_same_holdout"]["auc"] == again["new"]["auc"]
    assert store.current()["version"] == v1

    forced = train_and_publish(features=FEATURES, now=now() + timedelta(seconds=10), min_rows=100, force=True)
    assert forced["published"] is True
    assert store.current()["version"] == forced["version"] and store.current()["history"] == [v1]

    store.rollback(now=now())
    assert store.current()["version"] == v1
    doc = store.load_version(v1)
    assert doc["version"] == v1 and doc["metrics"]["holdout"]["auc"] == first["new"]["auc"]
    with pytest.raises(store.PublishConflict):  # a stale writer loses
        store.publish(forced["version"], expected={"version": None, "history": [], "rev": 1}, now=now(),
                      reason="stale")


def test_too_few_closed_registrations_train_nothing(suite):
    from chalicelib.clock import now
    from chalicelib.store import scoring as store
    from infra.scoring_cli import train_and_publish

    _closed(30)
    out = train_and_publish(features=FEATURES, now=now(), min_rows=100)
    assert out["published"] is False and store.current()["version"] is None


def test_scores_endpoint_explains_each_score(suite):
    from chalicelib.clock import now
    from chalicelib.store import scoring as store
    from infra.scoring_cli import train_and_publish

    rep = make_user("rep1", "rep", "south")
    other = make_user("rep2", "rep", "north")
    reg_id = suite.api.post("/v1/registrations", example()["data"], rep).json()["id"]
    before = suite.api.get(f"/v1/registrations/{reg_id}/scores", rep)
    assert before.status == 200, before.body
    body = before.json()
    assert body["model"] is None
    # examples/opportunity.json: a decision maker, CNY 3.8M, proposal stage, a known competitor
    keys = {f["key"] for f in body["attribute_factors"]}
    assert {"decision-maker", "amount-cny-1m"} <= keys
    assert body["attribute"] >= 20 + 20 + 15  # base + decision maker + amount (date-dependent rules aside)
    assert all(f["zh-CN"] and f["en"] for f in body["attribute_factors"])
    logged = suite.api.post(f"/v1/registrations/{reg_id}/followups", {"type": "visit"}, rep)
    assert logged.status == 201, logged.body
    after = suite.api.get(f"/v1/registrations/{reg_id}/scores", rep).json()
    assert body["behaviour_points"] == 0.0
    assert after["behaviour_points"] == pytest.approx(8.0, abs=0.01)  # a visit, just now (default rules)
    assert [f["key"] for f in after["behaviour_factors"]] == ["follow_up:visit"]
    assert suite.api.get(f"/v1/registrations/{reg_id}/scores", other).status == 404

    _closed(200)
    assert train_and_publish(features=FEATURES, now=now(), min_rows=100)["published"]
    store.forget_cached_model()
    scored = suite.api.get(f"/v1/registrations/{reg_id}/scores", rep).json()
    assert 0 < scored["model"]["probability"] < 1
    assert scored["model"]["factors"] and all(f["source"] == "model" for f in scored["model"]["factors"])


def test_a_win_recounts_the_customers_rfm_through_the_event_handler(suite):
    from chalicelib.clock import now
    from chalicelib.store.registrations import to_item
    from schemas.common import Actor
    from schemas.registration import AuditEntry, Registration

    rep = make_user("rep1", "rep", "south")
    actor = Actor(kind="user", id="rep1")
    t = now()

    def won(i: int, customer: str, amount: str, days_ago: int) -> None:
        data = copy.deepcopy(EXAMPLE["data"])
        data["customer"].update(name=f"{customer}公司", registry_ids=[], website=None)
        data["external_ref"] = f"W-{i}"
        at = t - timedelta(days=days_ago)
        reg = Registration(**data, id=f"reg_w{i:04d}", status="won", source="rep", submitter=actor, owner=actor,
                           customer_key=f"name:{customer}", created_at=at, updated_at=at, version=2, audit=[
                               AuditEntry(seq=1, at=at, actor=actor, action="submitted", to_status="submitted"),
                               AuditEntry(seq=2, at=at, actor=actor, action="status_changed", from_status="approved",
                                          to_status="won", reason=f"won at {amount} CNY")])
        to_item(reg).save()

    for i in range(5):
        won(i, f"small{i}", "1000.00", 300)
    won(10, "big", "9000000.00", 2)
    won(11, "big", "1000000.00", 5)
    suite.runner.pump()

    reg_id = suite.api.post("/v1/registrations", example(customer={**EXAMPLE["data"]["customer"], "name": "big公司",
                                                                   "registry_ids": [], "website": None})["data"],
                            rep).json()["id"]
    scores = suite.api.get(f"/v1/registrations/{reg_id}/scores", rep).json()
    assert scores["rfm"] == {"r": 5, "f": 5, "m": 5, "segment": "555", "recency_days": 2, "frequency": 2,
                             "monetary": 10000000, "currency": "CNY"}
    other = suite.api.post("/v1/registrations", example(external_ref="n", customer={
        **EXAMPLE["data"]["customer"], "name": "新客户公司", "registry_ids": [], "website": None})["data"], rep)
    assert suite.api.get(f"/v1/registrations/{other.json()['id']}/scores", rep).json()["rfm"] is None


def test_the_pool_ranks_by_score(suite):
    from chalicelib.clock import now
    from chalicelib.store.registrations import to_item
    from schemas.common import Actor
    from schemas.registration import AuditEntry, Registration
    from tests.functional.helpers import make_partner

    rep = make_user("rep1", "rep", "south")
    actor = Actor(kind="user", id="rep0")
    t = now()

    def pooled(i: int, strong: bool, owner: str | None = None) -> str:
        data = copy.deepcopy(EXAMPLE["data"])
        data["customer"].update(name=f"池{i}公司", registry_ids=[], website=None)
        data["external_ref"] = f"P-{i}"
        if not strong:  # no decision maker, small amount, early stage, no competitor known
            data["contacts"] = [{"name": "乙", "role": "user"}]
            data["project"]["expected_amount"]["amount"] = "5000.00"
            data["sales_stage"], data["competitors"] = "lead", []
        reg = Registration(**data, id=f"reg_p{i:04d}", status="reclaimed", source="rep", submitter=actor,
                           owner=Actor(kind="user", id=owner) if owner else None, customer_key=f"name:p{i}",
                           created_at=t + timedelta(seconds=i),
                           updated_at=t, version=3,
                           audit=[AuditEntry(seq=1, at=t, actor=actor, action="submitted", to_status="submitted")])
        to_item(reg).save()
        return reg.id

    weak1, strong, weak2 = pooled(1, False), pooled(2, True), pooled(3, False)
    pooled(4, True, owner="rep9")  # reclaimed but held again: not in the pool
    answer = suite.api.get("/v1/scores/pool?limit=10", rep)
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["basis"] == "attribute" and body["truncated"] is False
    assert [i["id"] for i in body["items"]] == [strong, weak1, weak2]
    assert body["items"][0]["score"] > body["items"][1]["score"]
    assert suite.api.get("/v1/scores/pool?limit=0", rep).status == 422
    _, partner_key = make_partner("acme")
    assert suite.api.get("/v1/scores/pool", partner_key).status == 403


def test_lists_sort_and_filter_by_score_within_what_the_caller_may_see(suite):
    rep = make_user("rep1", "rep", "south")
    other = make_user("rep2", "rep", "south")
    strong = suite.api.post("/v1/registrations", example()["data"], rep).json()["id"]
    weak_body = example(external_ref="weak", contacts=[{"name": "乙", "role": "user"}], competitors=[],
                        sales_stage="lead")["data"]
    weak_body["customer"] = {**weak_body["customer"], "name": "小客户公司", "registry_ids": [], "website": None}
    weak_body["project"] = {**weak_body["project"], "expected_amount": {"amount": "5000.00", "currency": "CNY"}}
    weak = suite.api.post("/v1/registrations", weak_body, rep).json()["id"]
    suite.api.post("/v1/registrations", example(external_ref="theirs")["data"], other)

    body = suite.api.get("/v1/scores/registrations?limit=10", rep).json()
    assert body["basis"] == "attribute"
    assert [i["id"] for i in body["items"]] == [strong, weak]  # rep2's registration is not listed
    top = body["items"][0]["score"]
    high = suite.api.get(f"/v1/scores/registrations?min_score={top}", rep).json()
    assert [i["id"] for i in high["items"]] == [strong]
    assert suite.api.get("/v1/scores/registrations?min_score=101", rep).status == 422
    assert suite.api.get("/v1/scores/registrations?team=north", rep).status == 403


def test_the_review_check_flags_a_low_attribute_score(suite, monkeypatch):
    import json

    from chalicelib import settings

    monkeypatch.setenv("DEALREG_WORKFLOW_RULES", json.dumps({"flag_attribute_score_below": 40}))
    monkeypatch.setenv("DEALREG_ATTRIBUTE_RULES", json.dumps({"base": 10, "rules": [
        {"id": "dm", "points": 20, "when": [{"field": "contacts.decision_roles", "min": 1}],
         "label": {"zh-CN": "有决策人", "en": "decision maker"}}]}))
    settings.reset()
    rep = make_user("rep1", "rep", "south")
    reg_id = suite.api.post("/v1/registrations", example()["data"], rep).json()["id"]
    suite.runner.pump()
    reg = suite.api.get(f"/v1/registrations/{reg_id}", rep).json()
    assert reg["status"] == "pending_review"
    assert "score: attribute score 30 is below 40" in reg["audit"][-1]["reason"]
