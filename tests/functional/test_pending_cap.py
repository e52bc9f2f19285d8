"""The pending cap (issue 4): a submitter may have at most ``pending_cap`` registrations awaiting a decision.

Enforced by the intake transaction itself (a conditional counter on the submitter's holder item), so racing
submissions cannot exceed it; decisions free a slot in the same transaction that records them.
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.functional.ownership_world import make_world, post_retrying, race, set_rules

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(suite, monkeypatch):
    from chalicelib import clock, settings

    clock.set_clock(clock.FrozenClock(T0))
    set_rules(monkeypatch, pending_cap=3)
    yield make_world(suite)
    monkeypatch.delenv("DEALREG_OWNERSHIP_RULES", raising=False)
    settings.reset()


def _submitted_by(rep: str) -> list[dict]:
    from chalicelib.store.models import RegistrationItem

    return [i for i in RegistrationItem.by_submitter.query(rep)]


def _pending(rep: str) -> int:
    from chalicelib.store import holders
    from schemas.common import Actor, PrincipalKind

    return holders.pending_count(Actor(kind=PrincipalKind.USER, id=rep))


def _to_review(reg_id: str):
    from chalicelib.domain.workflow import transition
    from chalicelib.store import registrations
    from schemas.common import Actor, PrincipalKind
    from schemas.registration import RegistrationStatus as S

    reg = registrations.get(reg_id)
    entry = transition(reg.audit, reg.status, S.PENDING_REVIEW, actor=Actor(kind=PrincipalKind.SYSTEM, id="t"), now=T0)
    assert registrations.apply_transition(reg, entry, now=T0)
    return registrations.get(reg_id)


def test_the_submission_beyond_the_cap_is_refused_with_409_naming_it_and_nothing_is_stored(suite, world):
    for _ in range(3):
        world.submit("wang")
    answer = world.api.post("/v1/registrations", world.body(), world.keys["wang"])
    assert answer.status == 409, answer.body
    assert answer.json()["code"] == "pending_cap" and "pending_cap = 3" in answer.json()["message"]
    assert answer.json()["errors"] == [{"loc": "limit.pending_cap", "type": "limit_exceeded"}]  # names the limit
    assert len(_submitted_by("wang")) == 3 and _pending("wang") == 3
    # The cap is per submitter: another rep is not affected.
    world.submit("li")
    assert _pending("li") == 1


def test_an_idempotent_replay_at_the_cap_returns_the_first_answer(suite, world):
    body = world.body()
    first = world.api.post("/v1/registrations", body, world.keys["wang"], headers={"Idempotency-Key": "k-1"})
    world.submit("wang")
    world.submit("wang")
    again = world.api.post("/v1/registrations", body, world.keys["wang"], headers={"Idempotency-Key": "k-1"})
    assert (first.status, again.status) == (202, 202) and again.json() == first.json()
    assert _pending("wang") == 3


def test_racing_submissions_never_exceed_the_cap(suite, world):
    # The racers queue behind the stand-in's one lock: the app's client waits its turn (tests/conftest.py,
    # PATIENT_READ_TIMEOUT).
    bodies = [world.body() for _ in range(16)]
    answers = race([lambda b=b: _submit(world, b) for b in bodies])
    assert sorted(a.status for a in answers) == [202] * 3 + [409] * 13, answers
    assert len(_submitted_by("wang")) == 3 and _pending("wang") == 3


def _submit(world, body: dict):
    return post_retrying(world, "/v1/registrations", "wang", body)


def test_decisions_free_a_slot_and_a_resubmission_needs_one(suite, world):
    from chalicelib.domain.errors import PendingCapError
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.domain.workflow import transition
    from chalicelib.services import ownership as ownership_ops
    from chalicelib.store import registrations
    from schemas.common import Actor, PrincipalKind
    from schemas.registration import RegistrationStatus as S

    boss = Actor(kind=PrincipalKind.USER, id="boss")
    ids = [world.submit("wang") for _ in range(3)]
    # Approval (ownership grant) frees a slot in its own transaction; the owner is the submitter here, so the
    # one holder item moves both counters at once.
    ownership_ops.grant(_to_review(ids[0]), HolderRef("user", "wang"), boss, now=T0)
    assert _pending("wang") == 2
    # A rejection frees one too.
    reg = _to_review(ids[1])
    assert registrations.apply_transition(reg, transition(reg.audit, reg.status, S.REJECTED, actor=boss, now=T0,
                                                          reason="incomplete"), now=T0)
    assert _pending("wang") == 1
    world.submit("wang")
    world.submit("wang")
    assert _pending("wang") == 3
    # A resubmission re-enters review, so it needs a free slot: refused, and nothing changed.
    rejected = registrations.get(ids[1])
    back = transition(rejected.audit, rejected.status, S.SUBMITTED, actor=Actor(kind=PrincipalKind.USER, id="wang"),
                      now=T0)
    with pytest.raises(PendingCapError):
        registrations.apply_transition(rejected, back, now=T0)
    assert registrations.get(ids[1]).status is S.REJECTED and _pending("wang") == 3


def test_recount_repairs_a_drifted_pending_counter(suite, world, capsys):
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.store import holders
    from infra import cli

    world.submit("wang")
    world.submit("wang")
    assert holders.set_count(HolderRef("user", "wang"), 2, 9, now=T0, counter="pending")
    assert cli.main(["holders", "recount"]) == 0
    assert "user:wang (pending)" in capsys.readouterr().out
    assert _pending("wang") == 2
