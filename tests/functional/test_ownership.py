"""Ownership over HTTP and the scheduled jobs, on the local stack (moto over HTTP, the app over real HTTP)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.functional.helpers import drain
from tests.functional.ownership_world import granted, held, make_world, pending, publish_stream, set_rules

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock_at(suite):
    from chalicelib import clock

    frozen = clock.FrozenClock(T0)
    clock.set_clock(frozen)
    return frozen


@pytest.fixture
def rules(monkeypatch):
    from chalicelib import settings

    yield lambda **kw: set_rules(monkeypatch, **kw)
    monkeypatch.delenv("DEALREG_OWNERSHIP_RULES", raising=False)
    settings.reset()


@pytest.fixture
def world(suite, clock_at):
    return make_world(suite)


def _reg(suite, reg_id: str, who: str, world) -> dict:
    return suite.api.get(f"/v1/registrations/{reg_id}", world.keys[who]).json()


def _events_queue(suite) -> str:
    """A queue subscribed to every domain event, to see what was published."""
    sqs, sns = suite.client("sqs"), suite.client("sns")
    url = sqs.create_queue(QueueName=f"{suite.prefix}-spy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    from chalicelib import settings

    sns.subscribe(TopicArn=settings.get().events_topic_arn, Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})
    return url




def test_grant_sets_owner_protection_and_counter(suite, world):
    [reg_id] = granted(world, suite, "wang")
    view = world.ownership(reg_id)
    assert view["owner"] == {"kind": "user", "id": "wang"} and view["status"] == "approved" and not view["in_pool"]
    assert view["due_at"].startswith((T0 + timedelta(days=30)).date().isoformat())
    assert view["due_reason"] == "inactivity"
    assert held("user:wang") == 1
    reg = _reg(suite, reg_id, "wang", world)
    assert reg["owner"]["id"] == "wang" and reg["audit"][-1]["action"] == "granted"


def test_grant_over_the_limit_is_refused_and_changes_nothing(suite, world, rules):
    from chalicelib.domain.ownership import HolderRef, LimitExceededError
    from chalicelib.services import ownership as ownership_ops
    from schemas.common import Actor, PrincipalKind

    rules(holder_limits={"user:wang": 1})
    granted(world, suite, "wang")
    [reg_id] = pending(world, suite)
    before = _reg(suite, reg_id, "admin", world)
    with pytest.raises(LimitExceededError, match="holder:user:wang = 1"):
        ownership_ops.grant(reg_id, HolderRef("user", "wang"), Actor(kind=PrincipalKind.USER, id="boss"), now=T0)
    assert _reg(suite, reg_id, "admin", world) == before
    assert held("user:wang") == 1


def test_claim_from_pool_once_and_only_by_team_reps(suite, world):
    [reg_id] = granted(world, suite, None)
    assert world.ownership(reg_id)["in_pool"] is True
    assert world.post(f"/v1/registrations/{reg_id}/claim", "zhao").status == 403  # another team
    answer = world.post(f"/v1/registrations/{reg_id}/claim", "li")
    assert answer.status == 200, answer.body
    assert answer.json()["owner"] == {"kind": "user", "id": "li"}
    again = world.post(f"/v1/registrations/{reg_id}/claim", "wang")
    assert again.status == 409 and again.json()["code"] == "wrong_status"
    assert (held("user:li"), held("user:wang")) == (1, 0)


def test_release_returns_to_pool_with_cooldown_for_the_previous_owner(suite, world, clock_at):
    [reg_id] = granted(world, suite, "wang")
    assert world.post(f"/v1/registrations/{reg_id}/release", "li").status == 404  # not visible to li
    answer = world.post(f"/v1/registrations/{reg_id}/release", "wang", {"reason": "customer paused"})
    assert answer.status == 200 and answer.json()["in_pool"] is True
    assert answer.json()["previous_owner"] == {"kind": "user", "id": "wang"} and held("user:wang") == 0
    refused = world.post(f"/v1/registrations/{reg_id}/claim", "wang")
    assert refused.status == 409 and refused.json()["code"] == "cooldown"
    clock_at.advance(days=14)
    assert world.post(f"/v1/registrations/{reg_id}/claim", "wang").status == 200


def test_assign_by_manager_only_and_limit_409_names_the_limit(suite, world, rules):
    rules(role_limits={"rep": 1, "manager": 5})
    first, second = granted(world, suite, None, n=2)
    assert world.post(f"/v1/registrations/{first}/assign", "wang", {"owner": {"id": "li"}}).status == 403
    ok = world.post(f"/v1/registrations/{first}/assign", "boss", {"owner": {"id": "li"}})
    assert ok.status == 200 and ok.json()["owner"] == {"kind": "user", "id": "li"}
    before = world.ownership(second)
    full = world.post(f"/v1/registrations/{second}/assign", "boss", {"owner": {"id": "li"}})
    assert full.status == 409 and full.json()["code"] == "limit_exceeded"
    assert "role:rep = 1" in full.json()["message"]
    assert full.json()["errors"] == [{"loc": "limit.role:rep", "type": "limit_exceeded"}]
    assert world.ownership(second) == before and held("user:li") == 1
    unknown = world.post(f"/v1/registrations/{second}/assign", "boss", {"owner": {"id": "nobody"}})
    assert unknown.status == 422 and unknown.json()["code"] == "unknown_holder"


def test_transfer_keeps_the_timers_and_extension_is_capped(suite, world, clock_at):
    [reg_id] = granted(world, suite, "wang")
    due = world.ownership(reg_id)["due_at"]
    clock_at.advance(days=10)
    moved = world.post(f"/v1/registrations/{reg_id}/transfer", "boss", {"owner": {"id": "li"}, "reason": "territory"})
    assert moved.status == 200 and moved.json()["owner"] == {"kind": "user", "id": "li"} and moved.json()["due_at"] == due
    assert (held("user:wang"), held("user:li")) == (0, 1)
    assert world.post(f"/v1/registrations/{reg_id}/extend", "li", {"days": 10, "reason": "x"}).status == 403
    # follow up late in the protection so the protection (not inactivity) is what is due
    clock_at.advance(days=70)
    assert world.post(f"/v1/registrations/{reg_id}/followups", "li", {"type": "visit"}).status == 201
    view = world.ownership(reg_id)
    assert view["due_reason"] == "protection_expired"
    ext = world.post(f"/v1/registrations/{reg_id}/extend", "boss", {"days": 60, "reason": "tender delayed"})
    assert ext.status == 200 and ext.json()["extension_days"] == 60
    assert ext.json()["due_at"] > view["due_at"]
    over = world.post(f"/v1/registrations/{reg_id}/extend", "boss", {"days": 31, "reason": "again"})
    assert over.status == 409 and over.json()["code"] == "extension_limit"


def test_only_the_owners_follow_ups_move_the_due_time(suite, world, clock_at):
    [reg_id] = granted(world, suite, "wang")
    due = world.ownership(reg_id)["due_at"]
    clock_at.advance(days=20)
    by_manager = world.post(f"/v1/registrations/{reg_id}/followups", "boss", {"type": "call", "note": "checked"})
    assert by_manager.status == 201 and by_manager.json()["counted"] is False
    assert world.ownership(reg_id)["due_at"] == due
    by_owner = world.post(f"/v1/registrations/{reg_id}/followups", "wang", {"type": "meeting"})
    assert by_owner.status == 201 and by_owner.json()["counted"] is True
    assert world.ownership(reg_id)["due_at"].startswith((T0 + timedelta(days=50)).date().isoformat())
    bad = world.post(f"/v1/registrations/{reg_id}/followups", "wang", {"type": "telepathy"})
    assert bad.status == 422 and bad.json()["errors"][0]["loc"] == "body.type"
    assert world.post(f"/v1/registrations/{reg_id}/followups", "zhao", {"type": "call"}).status == 404


def test_scheduled_reclaim_takes_back_only_due_items_once_and_announces_it(suite, world, clock_at):
    spy = _events_queue(suite)
    idle, busy = granted(world, suite, "wang", n=2)
    [moved] = granted(world, suite, "li")
    clock_at.advance(days=10)
    assert world.post(f"/v1/registrations/{moved}/transfer", "boss",
                      {"owner": {"id": "wang"}, "reason": "x"}).status == 200
    clock_at.advance(days=10)
    assert world.post(f"/v1/registrations/{busy}/followups", "wang", {"type": "call"}).status == 201
    publish_stream(suite)
    drain(suite, spy)
    clock_at.advance(days=10, seconds=1)  # day 30: idle and the transferred one are due, busy is not
    suite.runner.run_schedule("reclaim_due_registrations")
    assert world.ownership(idle)["in_pool"] and world.ownership(moved)["in_pool"]
    assert world.ownership(busy)["owner"] == {"kind": "user", "id": "wang"}
    assert (held("user:wang"), held("user:li")) == (1, 0)
    audit = _reg(suite, idle, "admin", world)["audit"][-1]
    assert (audit["action"], audit["to_status"], audit["reason"], audit["actor"]) == (
        "reclaimed", "reclaimed", "inactivity", {"kind": "system", "id": "reclaim"})
    publish_stream(suite)
    events = drain(suite, spy)
    reclaimed = sorted(e["subject"] for e in events if e["type"] == "ownership.reclaimed")
    assert reclaimed == sorted([idle, moved])
    notice = next(e for e in events if e["type"] == "ownership.reclaimed")
    assert notice["notify"] == ["wang", "boss"] and notice["owner"] == {"kind": "user", "id": "wang"}
    assert sorted(e["subject"] for e in events if e["type"] == "registration.reclaimed") == sorted([idle, moved])
    # a second run reclaims nothing twice
    suite.runner.run_schedule("reclaim_due_registrations")
    publish_stream(suite)
    assert [e for e in drain(suite, spy) if "reclaimed" in e["type"]] == []
    assert held("user:wang") == 1


def test_reclaim_archives_when_configured(suite, world, clock_at, rules):
    rules(reclaim_to="archive")
    [reg_id] = granted(world, suite, "wang")
    clock_at.advance(days=31)
    suite.runner.run_schedule("reclaim_due_registrations")
    view = world.ownership(reg_id)
    assert view["status"] == "expired" and view.get("owner") is None and not view["in_pool"]
    assert world.post(f"/v1/registrations/{reg_id}/claim", "li").status == 404  # archived: not in li's sight
    assert world.post(f"/v1/registrations/{reg_id}/claim", "wang").json()["code"] == "wrong_status"
    assert world.post(f"/v1/registrations/{reg_id}/assign", "boss", {"owner": {"id": "li"}}).status == 200


def test_rule_changes_restamp_and_reclaim_never_acts_on_a_stale_due_time(suite, world, clock_at, rules):
    from infra import cli

    a, b = granted(world, suite, "wang", n=2)
    old_due = world.ownership(a)["due_at"]
    # longer inactivity: at day 31 the stored due time is stale; the reclaim re-checks and re-stamps instead
    rules(inactivity_days=60)
    clock_at.advance(days=31)
    suite.runner.run_schedule("reclaim_due_registrations")
    view = world.ownership(a)
    assert view["owner"] == {"kind": "user", "id": "wang"} and view["due_at"] > old_due
    # shorter protection: the re-stamp job brings due times forward, and the reclaim then acts on them
    rules(protection_days=20, inactivity_days=60)
    assert cli.main(["ownership", "restamp"]) == 0
    assert world.ownership(b)["due_at"].startswith((T0 + timedelta(days=20)).date().isoformat())
    assert cli.main(["ownership", "restamp"]) == 0  # finished job: nothing more to do
    suite.runner.run_schedule("reclaim_due_registrations")
    assert world.ownership(a)["in_pool"] and world.ownership(b)["in_pool"]
    assert held("user:wang") == 0


def test_warnings_seven_and_one_day_before_once_each(suite, world, clock_at):
    spy = _events_queue(suite)
    [reg_id] = granted(world, suite, "wang")
    drain(suite, spy)

    def warnings():
        suite.runner.run_schedule("warn_due_registrations")
        return [(e["days_left"], e["notify"]) for e in drain(suite, spy) if e["type"] == "ownership.warning"]

    clock_at.advance(days=22)
    assert warnings() == []
    clock_at.advance(days=1, seconds=1)  # 7 days before
    assert warnings() == [(7, ["wang", "boss"])]
    assert warnings() == []
    clock_at.advance(days=6)  # 1 day before
    assert warnings() == [(1, ["wang", "boss"])]
    assert warnings() == []
    # a follow-up moves the due time and re-arms the warnings for the new one
    assert world.post(f"/v1/registrations/{reg_id}/followups", "wang", {"type": "call"}).status == 201
    assert warnings() == []


def test_reclaim_dry_run_lists_and_writes_nothing(suite, world, clock_at, capsys):
    from infra import cli

    [reg_id] = granted(world, suite, "wang")
    clock_at.advance(days=31)
    before = world.ownership(reg_id)
    assert cli.main(["reclaim", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert reg_id in out and "inactivity" in out and "user:wang" in out
    assert world.ownership(reg_id) == before
    assert cli.main(["reclaim"]) == 0
    assert world.ownership(reg_id)["in_pool"]


def test_offboarding_moves_everything_keeps_timers_and_resumes_after_a_full_successor(
        suite, world, clock_at, rules, capsys):
    from infra import cli

    rules(holder_limits={"user:li": 2})
    ids = granted(world, suite, "wang", n=3)
    dues = {r: world.ownership(r)["due_at"] for r in ids}
    clock_at.advance(days=5)
    assert cli.main(["holders", "offboard", "wang", "--to", "li"]) == 1
    assert "holder:user:li = 2" in capsys.readouterr().err
    assert (held("user:wang"), held("user:li")) == (1, 2)
    rules(holder_limits={"user:li": 3})
    assert cli.main(["holders", "offboard", "wang", "--to", "li"]) == 0  # resumes with what is left
    assert (held("user:wang"), held("user:li")) == (0, 3)
    for r in ids:
        view = world.ownership(r)
        assert view["owner"] == {"kind": "user", "id": "li"} and view["due_at"] == dues[r]
    assert cli.main(["holders", "offboard", "li", "--to-pool"]) == 0
    assert all(world.ownership(r)["in_pool"] for r in ids) and held("user:li") == 0


def test_recount_repairs_drift(suite, world, capsys):
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.store import holders
    from infra import cli

    granted(world, suite, "wang", n=2)
    holders.set_count(HolderRef("user", "wang"), 2, 7, now=T0)
    holders.set_count(HolderRef("user", "ghost"), None, 3, now=T0)
    assert cli.main(["holders", "recount"]) == 0
    out = capsys.readouterr().out
    assert "user:wang" in out and "user:ghost" in out
    assert (held("user:wang"), held("user:ghost")) == (2, 0)


def test_lowered_limit_is_reported_then_reduced_least_active_first(suite, world, clock_at, rules, capsys):
    from infra import cli

    ids = granted(world, suite, "wang", n=3)
    clock_at.advance(days=1)
    for r in ids[1:]:
        assert world.post(f"/v1/registrations/{r}/followups", "wang", {"type": "call"}).status == 201
    rules(holder_limits={"user:wang": 2})
    assert cli.main(["holders", "over-limit"]) == 0
    assert ids[0] in capsys.readouterr().out and held("user:wang") == 3  # report only: nothing dropped
    assert cli.main(["holders", "over-limit", "--reclaim"]) == 0
    assert world.ownership(ids[0])["in_pool"] and held("user:wang") == 2
    assert _reg(suite, ids[0], "admin", world)["audit"][-1]["reason"] == "over_limit"


def test_a_retried_commit_is_recognised_as_our_own_write_not_a_lost_race(suite, world, monkeypatch):
    from chalicelib.domain import ownership as dom
    from chalicelib.store import ownership
    from schemas.common import Actor, PrincipalKind

    [reg_id] = granted(world, suite, None)
    h = ownership.holding(reg_id)
    change = dom.claim(h, dom.HolderProfile(dom.HolderRef("user", "li"), role="rep"),
                       actor=Actor(kind=PrincipalKind.USER, id="li"), now=T0, rules=dom.OwnershipRules())
    # GIVEN the SDK re-sends a committed transaction after its answer timed out (moto ignores request tokens)
    calls = []
    real_transact = ownership.models.connection().transact_write_items

    def send_twice(*args, **kwargs):
        calls.append(1)
        real_transact(*args, **kwargs)
        return real_transact(*args, **kwargs)  # the "retry": refused, since the first one committed

    monkeypatch.setattr(ownership.models.connection(), "transact_write_items", send_twice)
    ownership.commit(h, change, now=T0)  # THEN it is recognised as our own write, not a lost race
    monkeypatch.undo()
    assert calls and held("user:li") == 1 and world.ownership(reg_id)["owner"] == {"kind": "user", "id": "li"}
    # but the very same decision made by a second request (same user, same instant) lost the race
    with pytest.raises(dom.LostRaceError):
        ownership.commit(h, change, now=T0)
    assert held("user:li") == 1
