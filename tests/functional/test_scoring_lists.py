"""Scores inside the list answers (issue 19): ``GET /v1/registrations`` and ``GET /v1/pool`` items carry the
attribute score and the model's win probability (staff only), sort by score and filter by a minimum score.
No model is trained here (the basis is the attribute score), so these tests need no LightGBM."""
from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from tests.functional.helpers import EXAMPLE, example, make_partner, make_user


@pytest.fixture(autouse=True)
def _no_cached_model():
    from chalicelib.store import scoring as store

    store.forget_cached_model()
    yield
    store.forget_cached_model()


def _weak_body(ref: str) -> dict:
    body = example(external_ref=ref, contacts=[{"name": "乙", "role": "user"}], competitors=[],
                   sales_stage="lead")["data"]
    body["customer"] = {**body["customer"], "name": f"小客户{ref}公司", "registry_ids": [], "website": None}
    body["project"] = {**body["project"], "expected_amount": {"amount": "5000.00", "currency": "CNY"}}
    return body


def test_list_items_carry_scores_and_sort_and_filter_by_score(suite):
    rep = make_user("rep1", "rep", "south")
    other = make_user("rep2", "rep", "south")
    strong = suite.api.post("/v1/registrations", example()["data"], rep).json()["id"]
    weak = suite.api.post("/v1/registrations", _weak_body("w1"), rep).json()["id"]
    suite.api.post("/v1/registrations", example(external_ref="theirs")["data"], other)

    newest = suite.api.get("/v1/registrations?limit=10", rep).json()
    assert [i["id"] for i in newest["items"]] == [weak, strong]  # newest first, unchanged by default
    by_id = {i["id"]: i["score"] for i in newest["items"]}
    assert by_id[strong]["basis"] == "attribute" and by_id[strong].get("model_probability") is None  # absent: no model yet
    assert by_id[strong]["score"] == by_id[strong]["attribute"] > by_id[weak]["attribute"]
    # the list's score is the one the scores endpoint answers
    assert suite.api.get(f"/v1/registrations/{strong}/scores", rep).json()["attribute"] == by_id[strong]["attribute"]

    ranked = suite.api.get("/v1/registrations?sort=score&limit=10", rep).json()
    assert [i["id"] for i in ranked["items"]] == [strong, weak]
    assert ranked["truncated"] is False and ranked.get("next_cursor") is None
    top = by_id[strong]["score"]
    assert [i["id"] for i in suite.api.get(f"/v1/registrations?min_score={top}", rep).json()["items"]] == [strong]
    assert [i["id"] for i in suite.api.get(f"/v1/registrations?sort=score&min_score={top}",
                                           rep).json()["items"]] == [strong]
    cursor = suite.api.get("/v1/registrations?limit=1", rep).json()["next_cursor"]
    for bad, loc in (("sort=best", "query.sort"), ("min_score=101", "query.min_score"),
                     ("min_score=x", "query.min_score"), (f"sort=score&cursor={cursor}", "query.cursor")):
        answer = suite.api.get(f"/v1/registrations?{bad}", rep)
        assert answer.status == 422, bad
        assert answer.json()["errors"][0]["loc"] == loc


def test_partners_see_no_scores_and_cannot_sort_by_them(suite):
    from tests.functional.helpers import post_webhook

    secret, key = make_partner("acme")
    assert post_webhook(suite.api, "acme", secret, example()).status == 202
    page = suite.api.get("/v1/registrations", key)
    assert page.status == 200 and len(page.json()["items"]) == 1
    assert page.json()["items"][0].get("score") is None
    assert suite.api.get("/v1/registrations?sort=score", key).status == 403
    assert suite.api.get("/v1/registrations?min_score=10", key).status == 403


def test_the_pool_list_sorts_by_score(suite):
    from chalicelib.clock import now
    from chalicelib.store.registrations import to_item
    from schemas.common import Actor
    from schemas.registration import AuditEntry, Registration

    rep = make_user("rep1", "rep")
    actor = Actor(kind="user", id="rep0")
    t = now()

    def pooled(i: int, strong: bool, owner: str | None = None) -> str:
        data = copy.deepcopy(EXAMPLE["data"])
        data["customer"].update(name=f"池{i}公司", registry_ids=[], website=None)
        data["external_ref"] = f"P-{i}"
        if not strong:
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
    pooled(4, True, owner="rep9")  # held again: not in the pool
    newest = suite.api.get("/v1/pool?limit=10", rep).json()
    assert [i["id"] for i in newest["items"]] == [weak2, strong, weak1]
    ranked = suite.api.get("/v1/pool?sort=score&limit=10", rep).json()
    assert [i["id"] for i in ranked["items"]] == [strong, weak1, weak2]
    scores = [i["score"]["score"] for i in ranked["items"]]
    # the pool view hides contacts, but the score is computed on the full record (decision maker counted)
    assert ranked["items"][0]["contacts"] == [] and scores[0] > scores[1] == scores[2]
    assert [i["id"] for i in suite.api.get(f"/v1/pool?min_score={scores[0]}", rep).json()["items"]] == [strong]
    assert [i["id"] for i in suite.api.get("/v1/pool?sort=score&limit=1", rep).json()["items"]] == [strong]
    assert suite.api.get("/v1/pool?sort=up", rep).status == 422


def _publish_tiny_model():
    """Publish the hand-written model of the unit tests (73 % with a decision-chain contact, else 18 %)."""
    from chalicelib.clock import now
    from chalicelib.store import scoring as store
    from tests.unit.domain.test_scoring_summary import TINY_MODEL

    store.save_version(TINY_MODEL, now=now())
    store.publish("m_tiny", expected=store.current(), now=now(), reason="test")
    store.forget_cached_model()


def test_the_model_score_reaches_lists_events_checks_and_routing(suite, monkeypatch):
    import json

    from chalicelib import settings
    from tests.functional.helpers import drain, tap_events

    _publish_tiny_model()
    monkeypatch.setenv("DEALREG_WORKFLOW_RULES", json.dumps({"flag_model_score_below": 50}))
    monkeypatch.setenv("DEALREG_ROUTING_RULES", json.dumps({"routes": [
        {"name": "hot", "min_model_score": 60, "approvers": {"team_manager": False, "roles": [], "users": ["senior"]}}]}))
    settings.reset()
    try:
        tap = tap_events(suite)
        rep = make_user("rep1", "rep", "south")
        boss = make_user("boss", "manager", "south")
        senior = make_user("senior", "manager", "north")
        hot = suite.api.post("/v1/registrations", example()["data"], rep).json()["id"]  # decision maker: 73 %
        cold = suite.api.post("/v1/registrations", _weak_body("c1"), rep).json()["id"]  # none: 18 %
        suite.runner.pump()

        # lists: the model's probability is the score that orders work
        ranked = suite.api.get("/v1/registrations?sort=score", rep).json()["items"]
        assert [i["id"] for i in ranked] == [hot, cold]
        assert ranked[0]["score"] == {"score": 73, "basis": "model", "attribute": ranked[0]["score"]["attribute"],
                                      "model_probability": 0.7311, "model_version": "m_tiny"}
        # checks: the low model score is flagged for review, the high one passes
        cold_reg = suite.api.get(f"/v1/registrations/{cold}", rep).json()
        assert "model_score: model win probability 18% is below 50%" in cold_reg["audit"][-1]["reason"]
        hot_reg = suite.api.get(f"/v1/registrations/{hot}", rep).json()
        assert "model_score: model win probability 73%" in hot_reg["audit"][-1]["reason"]
        # events: each registration event's snapshot carries the probability
        review = {e["subject"]: e for e in drain(suite, tap) if e["type"] == "registration.review_requested"}
        assert review[hot]["registration"]["model_probability"] == 0.7311
        assert review[cold]["registration"]["model_version"] == "m_tiny"
        # routing: the high model score goes to the senior approver, not the team manager
        assert suite.api.post(f"/v1/registrations/{hot}/approve", {"reason": "ok"}, boss).status == 403
        assert suite.api.post(f"/v1/registrations/{hot}/approve", {"reason": "ok"}, senior).status == 200
        assert suite.api.post(f"/v1/registrations/{cold}/approve", {"reason": "ok"}, boss).status == 200
    finally:
        monkeypatch.delenv("DEALREG_WORKFLOW_RULES")
        monkeypatch.delenv("DEALREG_ROUTING_RULES")
        settings.reset()


def test_the_board_forecast_can_be_weighted_by_the_model(suite):
    from decimal import Decimal

    from tests.functional.test_board import _data
    from tests.unit.domain.test_scoring_summary import WITH_DM, WITHOUT_DM

    boss = make_user("boss", "manager", "channel")
    rita = make_user("rita", "rep", "channel")
    weak = {**_data("乙公司", "250.50"), "contacts": [{"name": "乙", "role": "user"}]}
    ids = [suite.api.post("/v1/registrations", body, rita).json()["id"]
           for body in (_data("甲公司", "100.00"), weak, _data("Gamma Ltd", "70.00", "GBP"))]
    suite.runner.pump()
    for reg_id in ids:
        assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, boss).status == 200
    suite.runner.pump()
    assert suite.api.get("/v1/pipeline/board?weighting=model", boss).status == 409  # no model yet
    assert suite.api.get("/v1/pipeline/board?weighting=best", boss).status == 422

    _publish_tiny_model()
    by_stage = suite.api.get("/v1/pipeline/board", boss).json()
    assert by_stage["weighting"] == "stage"
    answer = suite.api.get("/v1/pipeline/board?weighting=model", boss)
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["weighting"] == "model" and body["model_version"] == "m_tiny"
    assert body["registrations_read"] == 3 and body["truncated"] is False
    proposal = next(c for c in body["columns"] if c["stage"] == "proposal")
    cny = (Decimal("100.00") * Decimal(str(WITH_DM)) + Decimal("250.50") * Decimal(str(WITHOUT_DM)))
    assert {m["currency"]: Decimal(str(m["amount"])) for m in proposal["weighted"]} == {  # JSON numbers
        "CNY": cny.quantize(Decimal("0.01")), "GBP": (Decimal("70.00") * Decimal(str(WITH_DM))).quantize(
            Decimal("0.01"))}
    # the counts and amounts are the board's own (the stream-kept aggregates), whatever the weighting
    assert proposal["count"] == 3 and proposal["amounts"] == next(
        c for c in by_stage["columns"] if c["stage"] == "proposal")["amounts"]


def test_the_daily_check_says_when_training_is_due(suite):
    from chalicelib.clock import now
    from chalicelib.store import scoring as store
    from tests.functional.test_scoring import _closed  # skips without LightGBM (its module needs it)
    from tests.unit.domain.test_scoring_summary import TINY_MODEL

    _closed(120)
    suite.runner.run_schedule("check_scoring_model")
    check = store.last_check()
    assert check["due"] and check["reasons"] == ["no model yet; 120 closed registrations"]
    assert check["model_version"] is None

    doc = {**TINY_MODEL, "version": "m_tiny2", "trained_at": now().isoformat(), "training": {"rows": 120},
           "metrics": {"holdout": {"auc": 0.7, "log_loss": 0.5, "brier": 0.2}}}
    store.save_version(doc, now=now())
    store.publish("m_tiny2", expected=store.current(), now=now(), reason="test")
    suite.runner.run_schedule("check_scoring_model")
    check = store.last_check()
    assert not check["due"] and check["model_version"] == "m_tiny2" and check["closed"] == 120

    _closed(30, seed=12, start=120)
    suite.runner.run_schedule("check_scoring_model")
    check = store.last_check()
    assert check["due"] and check["reasons"] == ["30 more closed registrations than at training (120)"]


def test_company_size_from_registry_enrichment_counts_in_list_and_scores_answers(suite, monkeypatch):
    import json

    from chalicelib import settings
    from chalicelib.clock import now
    from chalicelib.store import companies

    monkeypatch.setenv("DEALREG_REGISTRY_PROVIDERS", "")
    monkeypatch.setenv("DEALREG_ATTRIBUTE_RULES", json.dumps({"base": 10, "rules": [
        {"id": "large", "points": 40, "when": [{"field": "customer.capital_band", "min": 4}],
         "label": {"zh-CN": "注册资本过亿", "en": "registered capital over 100 million"}}]}))
    settings.reset()
    try:
        rep = make_user("rep1", "rep", "south")
        big = suite.api.post("/v1/registrations", example()["data"], rep).json()["id"]
        small = suite.api.post("/v1/registrations", _weak_body("s1"), rep).json()["id"]
        key = {r["id"]: r["customer_key"] for r in suite.api.get("/v1/registrations", rep).json()["items"]}
        companies.save_answer(key[big], state="enriched", company={"registered_capital": "185000万元"}, match="id",
                              score=100.0, review_flag=None, registration_id=big, now=now(), previous=None)
        ranked = suite.api.get("/v1/registrations?sort=score", rep).json()["items"]
        assert [(i["id"], i["score"]["attribute"]) for i in ranked] == [(big, 50), (small, 10)]
        newest = {i["id"]: i["score"]["attribute"] for i in suite.api.get("/v1/registrations", rep).json()["items"]}
        assert newest == {big: 50, small: 10}
        scores = suite.api.get(f"/v1/registrations/{big}/scores", rep).json()
        assert scores["attribute"] == 50 and scores["attribute_factors"][0]["key"] == "large"
        # events, routing and the reclaim order use the same score (store.scoring.attribute_scorer, priorities)
        from chalicelib.domain.events import events_for_change
        from chalicelib.handlers.events import _attribute_of
        from chalicelib.store import registrations, scoring as store

        big_reg, small_reg = registrations.get(big), registrations.get(small)
        assert [e.registration.attribute_score for e in events_for_change(None, big_reg, attribute_of=_attribute_of)
                ][-1] == 50
        assert store.attribute_scorer()(small_reg) == 10
        assert store.priorities([big, small], now=now()) == {big: 0.5, small: 0.1}
    finally:
        monkeypatch.delenv("DEALREG_ATTRIBUTE_RULES")
        settings.reset()


def test_training_learns_from_the_registration_as_it_was_before_its_outcome(suite):
    from chalicelib.clock import now
    from chalicelib.store import scoring as store
    from infra.scoring_cli import closed_records

    rep = make_user("rep1", "rep", "south")
    boss = make_user("boss", "manager", "south")
    reg_id = suite.api.post("/v1/registrations", example(sales_stage="proposal")["data"], rep).json()["id"]
    suite.runner.pump()  # registration.submitted -> the scoring queue keeps the open record
    assert store.training_records([reg_id])[reg_id]["sales_stage"] == "proposal"
    assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, boss).status == 200
    assert suite.api.post(f"/v1/registrations/{reg_id}/stage", {"stage": "negotiation"}, rep).status == 200
    suite.runner.pump()
    assert store.training_records([reg_id])[reg_id]["sales_stage"] == "negotiation"
    won = suite.api.post(f"/v1/registrations/{reg_id}/won", {"amount": {"amount": "90000.00", "currency": "CNY"}}, rep)
    assert won.status == 200, won.body
    suite.runner.pump()
    assert suite.api.get(f"/v1/registrations/{reg_id}", rep).json()["sales_stage"] == "closed_won"
    assert store.keep_training_record(reg_id, now=now()) is False  # a late event after the close writes nothing
    records, labels, groups = closed_records()
    assert labels == [1] and records[0]["sales_stage"] == "negotiation"  # not closed_won: no leak of the outcome
