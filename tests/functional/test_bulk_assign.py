"""Bulk assignment (issue 4): one transaction per registration with the single calls' checks, so timers and
limits hold exactly as one by one: pooled ones start fresh protection, held ones keep their timers."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.functional.ownership_world import frozen_world, granted, held, set_rules

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(suite, monkeypatch):
    yield from frozen_world(suite, monkeypatch, T0)


def _bulk(world, who: str, ids: list[str], owner: str = "li"):
    return world.post("/v1/registrations/bulk-assign", who,
                      {"registration_ids": ids, "owner": {"id": owner}, "reason": "territory change"})


def test_pooled_are_assigned_fresh_and_held_are_transferred_with_their_timers(suite, world):
    pooled = granted(world, suite, None, n=2)
    [kept] = granted(world, suite, "wang")
    due_before = world.ownership(kept)["due_at"]
    world.clock.advance(days=10)
    answer = _bulk(world, "boss", [*pooled, kept])
    assert answer.status == 200, answer.body
    body = answer.json()
    assert (body["done"], body["refused"]) == (3, 0)
    by_id = {r["registration_id"]: r for r in body["results"]}
    assert [by_id[r]["outcome"] for r in pooled] == ["assigned", "assigned"]
    assert by_id[kept]["outcome"] == "transferred"
    # The transferred one keeps its due time; the assigned ones start a fresh 90-day protection today.
    assert world.ownership(kept)["due_at"] == due_before and world.ownership(kept)["owner"] == {"kind": "user", "id": "li"}
    for r in pooled:
        view = world.ownership(r)
        assert view["owner"] == {"kind": "user", "id": "li"} and view["granted_at"].startswith("2026-01-15")
        assert view["due_at"] == by_id[r]["ownership"]["due_at"]
    assert (held("user:li"), held("user:wang")) == (3, 0)


def test_each_item_is_checked_alone_and_the_limit_stops_only_what_exceeds_it(suite, world, monkeypatch):
    set_rules(monkeypatch, holder_limits={"user:li": 2})
    ids = granted(world, suite, None, n=3)
    answer = _bulk(world, "boss", [*ids, "reg_missing"])
    body = answer.json()
    assert answer.status == 200 and (body["done"], body["refused"]) == (2, 2)
    codes = [r.get("code") for r in body["results"]]
    assert codes == [None, None, "limit_exceeded", "not_found"]
    assert "holder:user:li = 2" in body["results"][2]["message"]
    assert held("user:li") == 2 and world.ownership(ids[2])["in_pool"]


def test_only_managers_of_the_team_may_bulk_assign(suite, world):
    ids = granted(world, suite, None, n=1)
    body = _bulk(world, "wang", ids).json()
    assert (body["done"], body["results"][0]["code"]) == (0, "forbidden")
    assert world.ownership(ids[0])["in_pool"]
    invalid = world.post("/v1/registrations/bulk-assign", "boss", {"registration_ids": [], "owner": {"id": "li"},
                                                                   "reason": "x"})
    assert invalid.status == 422 and invalid.json()["errors"][0]["loc"] == "body.registration_ids"


def test_an_unknown_holder_refuses_the_whole_request(suite, world):
    ids = granted(world, suite, None, n=2)
    answer = _bulk(world, "boss", ids, owner="nobody")
    assert answer.status == 422 and answer.json()["code"] == "unknown_holder"
    assert all(world.ownership(r)["in_pool"] for r in ids)

