"""Ownership moves and the daily holding-limit job announce themselves as domain events (issue 4)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.functional.helpers import drain, tap_events
from tests.functional.ownership_world import frozen_world, granted, held, publish_stream, set_rules

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(suite, monkeypatch):
    yield from frozen_world(suite, monkeypatch, T0)


def test_transfer_and_extension_are_announced_with_who_held_it(suite, world):
    [reg_id] = granted(world, suite, "wang")
    publish_stream(suite)
    tap = tap_events(suite)
    assert world.post(f"/v1/registrations/{reg_id}/transfer", "boss",
                      {"owner": {"id": "li"}, "reason": "territory"}).status == 200
    assert world.post(f"/v1/registrations/{reg_id}/extend", "boss", {"days": 10, "reason": "tender delayed"}).status == 200
    publish_stream(suite)
    events = [e for e in drain(suite, tap) if e["subject"] == reg_id]
    assert [e["type"] for e in events] == ["registration.transferred", "registration.extended"]
    moved, extended = events
    wang, li = {"kind": "user", "id": "wang"}, {"kind": "user", "id": "li"}
    assert (moved["previous_owner"], moved["registration"]["owner"], moved["reason"]) == (wang, li, "territory")
    assert (extended["registration"]["owner"], extended["actor"]["id"], extended["reason"]) == (li, "boss", "tender delayed")
    assert not {"owner_id", "previous_owner_id"} & {*moved, *moved["registration"]}  # events v2 (issue 12 item 16)


def test_the_daily_limit_job_reports_then_reclaims_per_the_rule(suite, world, monkeypatch):
    ids = granted(world, suite, "wang", n=3)
    world.clock.advance(hours=1)
    for r in ids[1:]:  # ids[0] is the least recently active
        assert world.post(f"/v1/registrations/{r}/followups", "wang", {"type": "call"}).status == 201
    publish_stream(suite)
    tap = tap_events(suite)
    set_rules(monkeypatch, holder_limits={"user:wang": 2})
    suite.runner.run_schedule("enforce_holding_limits")
    suite.runner.run_schedule("enforce_holding_limits")
    reports = [e for e in drain(suite, tap) if e["type"] == "ownership.over_limit"]
    # Reported, nothing dropped; the same day's runs carry the same event id, so the outbox tells people once.
    assert len(reports) == 2 and reports[0]["id"] == reports[1]["id"] == "over_limit:user:wang:2026-01-05"
    assert (reports[0]["held"], reports[0]["value"], reports[0]["reclaimed"]) == (3, 2, [])
    assert reports[0]["excess"] == [ids[0]] and set(reports[0]["notify"]) == {"wang", "boss"}
    assert held("user:wang") == 3

    set_rules(monkeypatch, holder_limits={"user:wang": 2}, over_limit="reclaim")
    suite.runner.run_schedule("enforce_holding_limits")
    [report] = [e for e in drain(suite, tap) if e["type"] == "ownership.over_limit"]
    assert report["reclaimed"] == [ids[0]] and held("user:wang") == 2
    view = world.ownership(ids[0])
    assert view["in_pool"] and view.get("owner") is None and view["previous_owner"] == {"kind": "user", "id": "wang"}
    suite.runner.run_schedule("enforce_holding_limits")  # at the limit now: nothing to report or take
    assert [e for e in drain(suite, tap) if e["type"] == "ownership.over_limit"] == []


def test_a_partner_over_its_limit_is_reported_to_its_channel_managers(suite, world, monkeypatch):
    from chalicelib.clock import now
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.services import ownership as ownership_ops
    from chalicelib.store import directory
    from schemas.common import Actor, PrincipalKind
    from tests.functional.ownership_world import pending

    directory.create_partner("acme", "Acme", now=now(), team_id="south")  # boss manages "south"
    for reg_id in pending(world, suite, 2):
        ownership_ops.grant(reg_id, HolderRef("partner", "acme"), Actor(kind=PrincipalKind.USER, id="boss"), now=now())
    publish_stream(suite)
    tap = tap_events(suite)
    set_rules(monkeypatch, holder_limits={"partner:acme": 1})
    suite.runner.run_schedule("enforce_holding_limits")
    [report] = [e for e in drain(suite, tap) if e["type"] == "ownership.over_limit"]
    assert (report["owner"], report["held"], report["notify"]) == ({"kind": "partner", "id": "acme"}, 2, ["boss"])

