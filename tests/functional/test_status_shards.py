"""Sharded status indexes and the holders' ByActiveIndex (issue 15 item 6) on the local stack: listings, the
pool, reclaim, warnings, review SLA reminders and holding-limit enforcement answer what the single-key
indexes answered, with 3 shards and pages that cross shards; the backfill stamps old items (resumable,
idempotent); the over-limit job makes no Scan."""
from __future__ import annotations

import collections
from datetime import UTC, datetime

import pytest

from tests.functional.ownership_world import granted, held, make_world, pending, set_rules

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SHARDS = 3


@pytest.fixture
def clock_at(suite):
    from chalicelib import clock

    frozen = clock.FrozenClock(T0)
    clock.set_clock(frozen)
    return frozen


@pytest.fixture
def shards(suite, monkeypatch):
    from chalicelib import settings

    monkeypatch.setenv("DEALREG_STATUS_SHARDS", str(SHARDS))
    settings.reset()
    yield SHARDS
    monkeypatch.delenv("DEALREG_STATUS_SHARDS")
    monkeypatch.delenv("DEALREG_OWNERSHIP_RULES", raising=False)
    settings.reset()


@pytest.fixture
def world(suite, clock_at, shards):
    return make_world(suite)


def _stored(status: str) -> list[dict]:
    """The registrations of ``status`` straight from the table (a scan: the oracle), newest first."""
    from chalicelib.store.models import RegistrationItem

    rows = [i for i in RegistrationItem.scan(RegistrationItem.status == status)]
    return sorted(({"id": i.id, "created_at": i.created_at, "shard": i.status_shard} for i in rows),
                  key=lambda r: r["created_at"], reverse=True)


def _pages(suite, path: str, key: str, limit: int) -> tuple[list[str], int]:
    ids, cursor, pages = [], None, 0
    while True:
        sep = "&" if "?" in path else "?"
        answer = suite.api.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""), key)
        assert answer.status == 200, answer.body
        body = answer.json()
        ids += [r["id"] for r in body["items"]]
        pages += 1
        cursor = body.get("next_cursor")
        if not cursor:
            return ids, pages


def _spread(suite, world, clock_at, n: int, owner: str | None) -> list[str]:
    ids = []
    for _ in range(n):
        ids += granted(world, suite, owner)
        clock_at.advance(seconds=1)  # distinct creation times: the oracle's order is then the only order
    return ids


def _until_every_shard(status: str, make, at_least: int) -> list[str]:
    """At least ``at_least`` registrations from ``make()``, and more until every shard holds one of ``status``
    (ids are random: 7 of them miss one of 3 shards about one time in six)."""
    ids: list[str] = []
    while len(ids) < at_least or {r["shard"] for r in _stored(status)} != {f"{status}#{n}" for n in range(SHARDS)}:
        assert len(ids) < 60, "registration ids do not spread over the shards"
        ids += make()
    return ids


def test_admin_list_and_pool_page_across_shards_newest_first(suite, world, clock_at):
    approved = _until_every_shard("approved", lambda: _spread(suite, world, clock_at, 1, "wang"), 10)
    pooled = _spread(suite, world, clock_at, 7, None)
    want = _stored("approved")
    assert {r["shard"] for r in want} == {f"approved#{n}" for n in range(SHARDS)}  # spread over every shard
    got, pages = _pages(suite, "/v1/registrations?status=approved", world.keys["admin"], 3)
    assert got == [r["id"] for r in want] and sorted(got) == sorted(approved)
    assert pages >= 4
    got, _ = _pages(suite, "/v1/pool", world.keys["admin"], 2)
    assert got == [r["id"] for r in _stored("reclaimed")] and sorted(got) == sorted(pooled)
    bad = suite.api.get("/v1/pool?cursor=eyJ4Ijp7IlMiOiJjcmVhdGVkfGFwcHJvdmVkIn19", world.keys["admin"])
    assert bad.status == 422  # a cursor of the approved listing is not one of the pool's


def test_reclaim_and_warnings_page_across_shards(suite, world, clock_at):
    from chalicelib.services import ownership as ownership_ops

    due = _spread(suite, world, clock_at, 9, "wang")
    clock_at.advance(days=23, seconds=1)  # 7 days before the 30-day protection ends
    sent = ownership_ops.warning_run(now=clock_at.now())
    assert sent == 9
    assert ownership_ops.warning_run(now=clock_at.now()) == 0  # stamped: once each
    clock_at.advance(days=8)
    report = ownership_ops.reclaim_run(now=clock_at.now(), page_size=2)  # pages of 2 across 3 shards
    assert sorted(line["id"] for line in report.reclaimed) == sorted(due)
    assert report.complete and held("user:wang") == 0
    assert ownership_ops.reclaim_run(now=clock_at.now(), page_size=2).reclaimed == []


def test_review_sla_reminders_reach_every_shard(suite, world, clock_at):
    from chalicelib.store import routing

    def one() -> list[str]:
        clock_at.advance(seconds=1)
        return pending(world, suite)

    ids = _until_every_shard("pending_review", one, 7)
    clock_at.advance(hours=49)  # past the 48 h SLA
    assert routing.remind_overdue(now=clock_at.now()) == len(ids)
    assert routing.remind_overdue(now=clock_at.now()) == 0


def _count_calls(suite):
    from chalicelib.store import models

    calls: collections.Counter[tuple[str, str]] = collections.Counter()

    def record(model, params, **_):
        calls[(model.name, (params.get("TableName") or "-").removeprefix(f"{suite.prefix}-"))] += 1

    client = models.connection().client
    client.meta.events.register("before-parameter-build.dynamodb", record)
    return calls, lambda: client.meta.events.unregister("before-parameter-build.dynamodb", record)


def test_holding_limits_are_enforced_without_a_scan(suite, world, clock_at, monkeypatch):
    from chalicelib.services import ownership as ownership_ops

    wang = _spread(suite, world, clock_at, 4, "wang")
    _spread(suite, world, clock_at, 2, "li")
    _spread(suite, world, clock_at, 1, "zhao")
    set_rules(monkeypatch, role_limits={"rep": 2, "manager": 50, "admin": 5}, default_limit=5,
              over_limit="reclaim")
    calls, stop = _count_calls(suite)
    try:
        rows = ownership_ops.over_limit(now=clock_at.now(), reclaim=True)
    finally:
        stop()
    assert [(r["holder"], r["held"], len(r["reclaimed"])) for r in rows] == [("user:wang", 4, 2)]
    assert set(rows[0]["reclaimed"]) <= set(wang) and held("user:wang") == 2
    assert not [c for c in calls if c[0] == "Scan"], calls
    assert calls[("Query", "holders")] == SHARDS  # one query per load shard
    # the scheduled job, through the runner (its IAM checked from use): nothing more to take
    suite.runner.run_schedule("enforce_holding_limits")
    assert held("user:wang") == 2


def test_over_limit_reads_only_holders_above_the_smallest_limit(suite, world, clock_at, monkeypatch):
    from chalicelib.store import holders

    _spread(suite, world, clock_at, 3, "wang")
    _spread(suite, world, clock_at, 1, "li")
    assert holders.above(2) == [("user:wang", 3)]
    assert holders.above(0) == [("user:li", 1), ("user:wang", 3)]
    assert holders.above(3) == []


def _unstamp() -> None:
    """Remove the shard attributes, as on items written before this release."""
    from chalicelib.store.models import HolderItem, RegistrationItem

    for item in RegistrationItem.scan():
        RegistrationItem._get_connection().update_item(item.id, actions=[RegistrationItem.status_shard.remove()])
    for item in HolderItem.scan():
        HolderItem._get_connection().update_item(item.pk, actions=[HolderItem.load_shard.remove()])


def test_backfill_stamps_old_items_resumes_and_is_idempotent(suite, world, clock_at, capsys):
    from chalicelib.services import ownership as ownership_ops, status_shards
    from chalicelib.store import holders
    from chalicelib.store.models import RegistrationItem
    from infra import cli

    due = _spread(suite, world, clock_at, 6, "wang")
    waiting = pending(world, suite, 2)
    _unstamp()
    clock_at.advance(days=31)
    assert ownership_ops.reclaim_run(now=clock_at.now(), dry_run=True).reclaimed == []  # invisible unstamped
    assert holders.above(0) == []

    first = status_shards.backfill(now=clock_at.now(), page_size=3, max_pages=2)  # interrupted
    assert not first["done"] and first["read"] == 6 and first["stamped"] == 6
    assert cli.main(["status-shards", "backfill", "--page-size", "3"]) == 0  # resumes from the checkpoint
    state = holders.checkpoint(f"status-shards-{SHARDS}")
    assert state is not None and state["done"] and state["read"] == 8 + 1 and state["stamped"] == 8 + 1
    assert '"done": true' in capsys.readouterr().out
    for item in RegistrationItem.scan():
        assert item.status_shard is not None and item.status_shard.startswith(f"{item.status}#")
    assert sorted(h["id"] for h in ownership_ops.reclaim_run(now=clock_at.now(), dry_run=True).reclaimed) == \
        sorted(due)
    assert holders.above(0) == [("user:wang", 6)]
    assert len(waiting) == 2

    done = status_shards.backfill(now=clock_at.now())  # finished: not repeated
    assert done == state
    again = status_shards.backfill(now=clock_at.now(), again=True)
    assert again["done"] and again["read"] == 9 and again["stamped"] == 0  # idempotent: nothing rewritten


def test_backfill_restamps_after_the_shard_count_is_lowered(suite, world, clock_at, monkeypatch):
    from chalicelib import settings
    from chalicelib.services import ownership as ownership_ops, status_shards
    from chalicelib.store.status_index import shard_of

    due = _spread(suite, world, clock_at, 8, "wang")
    assert any(shard_of(r, SHARDS) == 2 for r in due)
    monkeypatch.setenv("DEALREG_STATUS_SHARDS", "2")
    settings.reset()
    clock_at.advance(days=31)
    before = ownership_ops.reclaim_run(now=clock_at.now(), dry_run=True).reclaimed
    assert len(before) < len(due)  # items stamped "#2" are out of range until restamped
    state = status_shards.backfill(now=clock_at.now())
    moved = [r for r in due if shard_of(r, SHARDS) != shard_of(r, 2)]
    holder_moved = shard_of("holder#user:wang", SHARDS) != shard_of("holder#user:wang", 2)
    assert state["done"] and state["stamped"] == len(moved) + holder_moved
    assert sorted(h["id"] for h in ownership_ops.reclaim_run(now=clock_at.now(), dry_run=True).reclaimed) == \
        sorted(due)


def test_a_stamp_never_overwrites_a_concurrent_status_move(suite, world, clock_at, monkeypatch):
    from chalicelib.store import status_index
    from chalicelib.store.models import RegistrationItem

    [reg_id] = granted(world, suite, "wang")
    RegistrationItem._get_connection().update_item(reg_id, actions=[RegistrationItem.status_shard.remove()])
    real_scan = RegistrationItem.scan

    def scan_then_move(*args, **kwargs):  # the registration moves between the backfill's read and its stamp
        rows = list(real_scan(*args, **kwargs))
        RegistrationItem._get_connection().update_item(reg_id, actions=status_index.stamp(reg_id, "reclaimed"))
        result = iter(rows)
        return type("R", (), {"__iter__": lambda self: result, "last_evaluated_key": None})()

    monkeypatch.setattr(RegistrationItem, "scan", scan_then_move)
    counts, _ = status_index.backfill_page("registrations", None)
    assert counts["raced"] == 1 and counts["stamped"] == 0
    assert RegistrationItem.get(reg_id).status_shard == status_index.shard_key("reclaimed", reg_id)


def test_the_upgrade_path_reads_the_single_key_indexes_until_the_backfill_then_the_shards(
        suite, world, clock_at, monkeypatch):
    """README "Sharded status indexes": items written before the release (no shard attributes) stay visible
    while DEALREG_STATUS_INDEX=single; after the backfill the sharded reads answer the same."""
    from chalicelib import settings
    from chalicelib.services import ownership as ownership_ops, status_shards
    from chalicelib.store import holders

    due = _spread(suite, world, clock_at, 7, "wang")
    _unstamp()  # as written by the previous release
    monkeypatch.setenv("DEALREG_STATUS_INDEX", "single")
    settings.reset()
    clock_at.advance(days=31)

    def answers() -> tuple:
        listed, _ = _pages(suite, "/v1/registrations?status=approved", world.keys["admin"], 3)
        reclaim = sorted(r["id"] for r in ownership_ops.reclaim_run(now=clock_at.now(), dry_run=True).reclaimed)
        return listed, reclaim, holders.above(1)

    single = answers()
    assert single[0] == [r["id"] for r in _stored("approved")] and single[1] == sorted(due)
    assert single[2] == [("user:wang", 7)]
    _, cursor = ownership_ops.store.due_page(until=clock_at.now(), limit=2)
    assert status_shards.backfill(now=clock_at.now())["done"]
    monkeypatch.delenv("DEALREG_STATUS_INDEX")
    settings.reset()
    assert answers() == single
    with pytest.raises(ValueError, match="another listing"):  # a single-mode cursor means nothing now
        ownership_ops.store.due_page(until=clock_at.now(), limit=2, start=cursor)
