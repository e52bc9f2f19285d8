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
                           owner_id=owner, customer_key=f"name:p{i}", created_at=t + timedelta(seconds=i),
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
