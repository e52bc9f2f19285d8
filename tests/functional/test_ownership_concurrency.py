"""Ownership under concurrency, over real HTTP against the local stack (issue 4, item 5).

Every request goes through the app's HTTP server to moto's server; the only guard is each operation's one
conditional transaction, so these tests fail if a check were done by reading first and writing later.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.functional.helpers import make_user
from tests.functional.ownership_world import (
    granted,
    held,
    make_world,
    post_retrying as _post,
    race as _race,
    set_rules,
)

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(suite, monkeypatch):
    from chalicelib import clock, settings

    # The stand-in serialises every request through one lock, so 100 racing requests queue behind each other:
    # the app's DynamoDB client waits its turn instead of timing out into a 503 (tests/conftest.py's
    # PATIENT_READ_TIMEOUT; the 5 s production timeout is about a real outage, not this queue).
    clock.set_clock(clock.FrozenClock(T0))
    yield make_world(suite)
    monkeypatch.undo()
    settings.reset()


def _owned_count(owner: str) -> int:
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.store import ownership

    total, start = 0, None
    while True:
        page, start = ownership.held_by(HolderRef("user", owner), start=start)
        total += len(page)
        if start is None:
            return total


def test_fifty_threads_claiming_one_pool_registration_make_exactly_one_owner(suite, world):
    reps = [f"rep{i}" for i in range(10)]
    for rep in reps:
        world.keys[rep] = make_user(rep, "rep", "south")
    [reg_id] = granted(world, suite, None)
    answers = _race([lambda r=reps[i % 10]: _post(world, f"/v1/registrations/{reg_id}/claim", r)
                     for i in range(50)])
    statuses = Counter(a.status for a in answers)
    # one winner; every other claimer is told it lost (409, as the README promises), never 404
    assert statuses == {200: 1, 409: 49}, statuses
    winner = next(a.json()["owner"] for a in answers if a.status == 200)
    assert world.ownership(reg_id)["owner"] == winner
    counts = {rep: held(f"user:{rep}") for rep in reps}
    assert sum(counts.values()) == 1 and winner["kind"] == "user" and counts[winner["id"]] == 1
    reg = suite.api.get(f"/v1/registrations/{reg_id}", world.keys["admin"]).json()
    assert [a["action"] for a in reg["audit"]].count("claimed") == 1


def test_rep_with_limit_five_racing_a_hundred_claims_gets_exactly_five(suite, world, monkeypatch):
    set_rules(monkeypatch, holder_limits={"user:li": 5})
    ids = granted(world, suite, None, n=100)
    answers = _race([lambda r=r: _post(world, f"/v1/registrations/{r}/claim", "li") for r in ids])
    statuses = Counter(a.status for a in answers)
    assert statuses == {200: 5, 409: 95}, statuses
    refusals = {a.json()["code"] for a in answers if a.status == 409}
    assert refusals == {"limit_exceeded"}
    assert held("user:li") == 5 and _owned_count("li") == 5
    won = {r for r, a in zip(ids, answers, strict=True) if a.status == 200}
    assert all(world.ownership(r).get("owner") == {"kind": "user", "id": "li"} for r in won)


def test_claims_racing_a_reclaim_run_leave_a_consistent_state(suite, world):
    from chalicelib import clock

    ids = granted(world, suite, "wang", n=10)
    clock.set_clock(clock.FrozenClock(T0.replace(month=3, day=10)))  # past every due time
    claimers = ["li", "boss"]
    done = threading.Event()

    def reclaim():
        suite.runner.run_schedule("reclaim_due_registrations")
        done.set()
        return None

    def claim_until_won(reg_id: str, who: str):
        last = None
        while True:
            finished = done.is_set()  # one more try after the reclaim finished
            last = _post(world, f"/v1/registrations/{reg_id}/claim", who)
            if last.status == 200 or finished:
                return last

    calls = [reclaim] + [lambda r=r, i=i: claim_until_won(r, claimers[i % 2]) for i, r in enumerate(ids)]
    answers = _race(calls)[1:]
    assert held("user:wang") == 0 and _owned_count("wang") == 0
    owners = Counter()
    for reg_id, answer in zip(ids, answers, strict=True):
        view = world.ownership(reg_id)
        assert view["status"] in ("approved", "reclaimed")
        if view["status"] == "approved":
            owners[f"{view['owner']['kind']}:{view['owner']['id']}"] += 1
            assert answer.status == 200 and answer.json()["owner"] == view["owner"]
        else:
            assert view["in_pool"] and answer.status != 200
        reg = suite.api.get(f"/v1/registrations/{reg_id}", world.keys["admin"]).json()
        seqs = [a["seq"] for a in reg["audit"]]
        assert seqs == list(range(1, len(seqs) + 1))
    assert {k: held(k) for k in ("user:li", "user:boss")} == {k: owners.get(k, 0) for k in ("user:li", "user:boss")}


def test_follow_up_landing_during_a_reclaim_run_keeps_the_deal(suite, world, monkeypatch):
    from chalicelib import clock
    from chalicelib.store import ownership

    kept, gone = granted(world, suite, "wang", n=2)
    clock.set_clock(clock.FrozenClock(T0.replace(month=3, day=10)))
    real_due_page = ownership.due_page
    posted = []

    def due_page_then_follow_up(**kw):
        page = real_due_page(**kw)  # the run has read the due items...
        if not posted:  # ...and the owner's follow-up lands before it writes
            posted.append(world.post(f"/v1/registrations/{kept}/followups", "wang", {"type": "visit"}))
        return page

    monkeypatch.setattr(ownership, "due_page", due_page_then_follow_up)
    suite.runner.run_schedule("reclaim_due_registrations")
    assert posted[0].status == 201 and posted[0].json()["counted"] is True
    assert world.ownership(kept)["owner"] == {"kind": "user", "id": "wang"}
    assert world.ownership(gone)["in_pool"]
    assert held("user:wang") == 1


def test_follow_ups_racing_a_reclaim_run_either_keep_the_deal_or_lose_cleanly(suite, world):
    from chalicelib import clock

    ids = granted(world, suite, "wang", n=12)
    clock.set_clock(clock.FrozenClock(T0.replace(month=3, day=10)))

    def reclaim():
        suite.runner.run_schedule("reclaim_due_registrations")

    calls = [reclaim] + [lambda r=r: _post(world, f"/v1/registrations/{r}/followups", "wang", {"type": "call"})
                         for r in ids]
    answers = _race(calls)[1:]
    kept = 0
    for reg_id, answer in zip(ids, answers, strict=True):
        view = world.ownership(reg_id)
        if answer.status == 201 and answer.json()["counted"]:
            # the follow-up committed while wang held it, so the reclaim's conditional write lost
            assert view["owner"] == {"kind": "user", "id": "wang"}
            kept += 1
        else:
            # the reclaim won: the follow-up was recorded without effect, or lost its race (409)
            assert answer.status in (201, 409) and view["in_pool"]
    assert held("user:wang") == kept == _owned_count("wang")
