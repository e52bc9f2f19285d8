"""A deactivated team's managers are no longer told of its registrations and holdings.

Deactivating a team stops asking its managers to review (test_team_deactivation.py); the notices that reach them
*as the team's managers* — a ``team:<id>`` recipient (claims, transfers, reclaims, withdrawals, …) and the
``notify`` of ownership notices (expiring, reclaimed, over the limit) — are not sent either. As with deliveries to
a deactivated user or partner, operators see them: each is recorded ``skipped`` with the reason ``team_inactive``
(``GET /v1/admin/notifications/skipped``, ``dealreg notifications list-skipped``). A manager told for their own
part (they hold it, they submitted it, they decide it) still is; reactivation tells the managers again.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.functional.ownership_world import granted, make_world


@pytest.fixture
def world(suite):
    return make_world(suite)


def _deliveries(event_id: str) -> dict[str, tuple[str, str | None, str | None]]:
    """recipient -> (state, reason, inbox owner) of the event's deliveries."""
    from chalicelib.store.models import DeliveryItem

    return {d.recipient: (d.state, d.last_error, d.inbox_of) for d in DeliveryItem.scan()
            if d.event_id == event_id}


def _warning(reg_id: str, owner: str, notify: list[str], team: str = "south"):
    from chalicelib.clock import now
    from schemas.common import Actor, PrincipalKind
    from schemas.events import OwnershipWarning

    at = now()
    return OwnershipWarning(id=f"{reg_id}:warn:{owner}:{len(notify)}", occurred_at=at, subject=reg_id,
                            actor=Actor(kind=PrincipalKind.SYSTEM, id="reclaim"),
                            owner=Actor(kind=PrincipalKind.USER, id=owner), team_id=team, notify=notify,
                            due_at=at + timedelta(days=3), reason="inactivity", days_left=3)


def test_a_transfer_in_a_deactivated_team_is_not_sent_to_its_manager_but_listed_as_skipped(suite, world):
    api = suite.api
    held = granted(world, suite, "wang")[0]
    suite.runner.pump()
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200
    r = world.post(f"/v1/registrations/{held}/transfer", "admin", {"owner": {"id": "zhao"}, "reason": "离职交接"})
    assert r.status == 200, r.body
    suite.runner.pump()
    from chalicelib.store.models import DeliveryItem

    event_id = next(d.event_id for d in DeliveryItem.scan()
                    if d.event_type == "registration.transferred" and d.recipient == "user:zhao")
    told = _deliveries(event_id)
    assert told["user:zhao"][0] != "skipped" and told["user:wang"][0] != "skipped"  # the new and previous holder
    assert told["user:boss"] == ("skipped", "team_inactive", None)  # not sent, never in an inbox
    skipped = api.get("/v1/admin/notifications/skipped", world.keys["admin"]).json()["items"]
    assert [(s["recipient"], s["reason"], s["event_type"]) for s in skipped] == [
        ({"kind": "user", "id": "boss"}, "team_inactive", "registration.transferred")]
    inbox = api.get("/v1/notifications", world.keys["boss"]).json()["items"]
    assert all(n.get("event_type", n.get("type")) != "registration.transferred" for n in inbox), inbox


def test_ownership_notices_skip_only_those_told_as_the_deactivated_teams_managers(suite, world):
    from chalicelib.clock import now
    from chalicelib.services.notification_outbox import fan_out

    held = granted(world, suite, "wang")[0]
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200
    # "expiring" to the holder and the team's manager: the holder is told, the manager's copy is skipped
    evt = _warning(held, "wang", ["wang", "boss"])
    fan_out(evt, now=now())
    told = _deliveries(evt.id)
    assert told["user:wang"][0] == "pending" and told["user:boss"] == ("skipped", "team_inactive", None)
    # a manager who holds it himself is told as the holder
    evt = _warning(held, "boss", ["boss"])
    fan_out(evt, now=now())
    assert _deliveries(evt.id)["user:boss"][0] == "pending"
    # fanning the same event out again creates nothing more (the skipped record keeps its id)
    again = _warning(held, "wang", ["wang", "boss"])
    assert fan_out(again, now=now()) == []
    # another team's notices are untouched; after reactivation the manager is told again
    other = _warning(held, "zhao", ["zhao", "boss"], team="north")
    fan_out(other, now=now())
    assert _deliveries(other.id)["user:boss"][0] == "pending"
    assert world.post("/v1/admin/teams/south/reactivate", "admin").status == 200
    evt = _warning(held, "li", ["li", "boss"])
    fan_out(evt, now=now())
    assert _deliveries(evt.id)["user:boss"][0] == "pending"


def test_over_limit_notices_name_the_holders_team():
    from chalicelib.domain.notifications import event_team, reaches_team_managers, told_in_person

    evt = {"type": "ownership.over_limit", "owner": {"kind": "user", "id": "wang"}, "team_id": "south",
           "notify": ["wang", "boss"]}
    assert event_team(evt) == "south" and reaches_team_managers(evt)
    assert told_in_person(evt) == ["user:wang"]
    conflict = {"type": "registration.conflict_detected", "registration": {"team_id": "south"},
                "holder": {"kind": "user", "id": "zhao"}, "notify": ["zhao", "boss"]}
    assert not reaches_team_managers(conflict)  # its notify names people for their own part (holder, managers)


def test_a_delivery_planned_before_the_deactivation_is_skipped_at_send_time_with_its_reason(suite, world):
    """A notice planned while the team was active (a digest or retry still pending, or simply not yet sent) is
    checked again when it is sent: the copy for its manager told only as the team's manager is recorded ``skipped``
    (``team_inactive``) and listed for operators, never sent; the holder's copy is sent."""
    from chalicelib.clock import now
    from chalicelib.services.notification_outbox import deliver_due, fan_out

    held = granted(world, suite, "wang")[0]
    evt = _warning(held, "wang", ["wang", "boss"])
    fan_out(evt, now=now())
    assert {r: s[0] for r, s in _deliveries(evt.id).items()} == {"user:wang": "pending", "user:boss": "pending"}
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200
    report = deliver_due(now=now() + timedelta(days=2), limit=1000)  # any digest hour has come
    told = _deliveries(evt.id)
    # not sent; its in-app entry, shown since it was planned while the team was active, stays (the review of
    # session 8: a skip removing it made a notice the manager may have read disappear)
    assert told["user:boss"] == ("skipped", "team_inactive", "user:boss"), told
    assert told["user:wang"][0] == "sent", told
    assert report.skipped >= 1 and report.sent >= 1
    skipped = suite.api.get("/v1/admin/notifications/skipped", world.keys["admin"]).json()["items"]
    assert ({"kind": "user", "id": "boss"}, "team_inactive", "ownership.warning") in [
        (s["recipient"], s["reason"], s["event_type"]) for s in skipped]
    # planned while active, sent after a reactivation: the manager is told
    assert world.post("/v1/admin/teams/south/reactivate", "admin").status == 200
    later = _warning(held, "li", ["li", "boss"])
    fan_out(later, now=now())
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200
    assert world.post("/v1/admin/teams/south/reactivate", "admin").status == 200
    deliver_due(now=now() + timedelta(days=2), limit=1000)
    assert _deliveries(later.id)["user:boss"][0] == "sent"


def test_the_conflict_notice_names_no_manager_of_a_deactivated_team(suite):
    """The dedup conflict event's ``notify`` names the holder, their own manager and the managers of the holder's
    team — not those of a deactivated team (``store.routing.team_manager_ids``)."""
    from chalicelib.clock import now
    from chalicelib.domain.access import Role
    from chalicelib.store import directory
    from tests.functional.helpers import drain, make_partner, make_user, post_webhook, tap_events
    from tests.functional.test_dedup import _body, _hold

    tap = tap_events(suite, "team-dedup-tap")
    make_user("boss", "admin")
    make_user("wang", "manager", team="south")
    make_user("zhou", "manager", team="south")
    directory.create_user("li", "li", Role.REP, now=now(), team_id="south", manager_id="wang")
    assert directory.get_team("south").manager_ids == ["wang", "zhou"]
    acme_secret, _ = make_partner("acme")
    beta_secret, _ = make_partner("beta")
    held = post_webhook(suite.api, "acme", acme_secret, _body("深圳市腾讯计算机系统有限公司",
                                                             uscc="91440300708461136T", ref="a1")).json()["id"]
    suite.runner.pump()
    _hold(held, "li")
    directory.set_active("team", "south", False, now=now())
    post_webhook(suite.api, "beta", beta_secret, _body("腾讯计算机系统有限公司（深圳）", ref="b1"))
    suite.runner.pump()
    conflicts = [e for e in drain(suite, tap) if e["type"] == "registration.conflict_detected"]
    assert len(conflicts) == 1 and conflicts[0]["notify"] == ["li", "wang"], conflicts  # li's own manager, not zhou
