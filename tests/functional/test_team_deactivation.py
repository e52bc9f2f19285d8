"""Teams can be deactivated and reactivated by an admin (API, console, CLI through services.directory).

A deactivated team takes no new members (users, partners), its members get no new holdings (claim, assign,
transfer), and its managers are no longer asked to review (the route's other approvers or its fallback
decide). Its members stay active and keep what they hold. Every change is conditional and audited; team
renames and manager changes are audited admin API operations too.
"""
from __future__ import annotations

import json

import pytest

from tests.functional.ownership_world import granted, make_world


@pytest.fixture
def world(suite):
    return make_world(suite)


def test_a_deactivated_team_takes_nothing_new_and_its_members_keep_what_they_hold(suite, world):
    from chalicelib.store import routing

    held_by_wang = granted(world, suite, "wang")[0]
    pooled = granted(world, suite, None)[0]
    assert routing.team_manager_ids("south") == ["boss"]
    # only admins
    assert world.post("/v1/admin/teams/south/deactivate", "boss").status == 403
    r = world.post("/v1/admin/teams/south/deactivate", "admin")
    assert r.status == 200 and r.json() == {"id": "south", "active": False, "changed": True}
    assert world.post("/v1/admin/teams/south/deactivate", "admin").json()["changed"] is False  # already so
    assert world.post("/v1/admin/teams/nowhere/deactivate", "admin").status == 404
    # no new members
    for path, body in (("/v1/admin/users", {"name": "新人", "role": "rep", "team_id": "south"}),
                       ("/v1/admin/partners", {"name": "New Partner", "team_id": "south"})):
        r = world.post(path, "admin", body)
        assert r.status == 422 and r.json()["code"] == "team_deactivated", r.body
        assert r.json()["errors"] == [{"loc": "body.team_id", "type": "team_deactivated"}], r.body
    # no new holdings: assignment to a member, a transfer to a member (422: the caller named a deactivated team's
    # member and can name another), a member's own claim (403 team_inactive: the caller's own team, as a submission)
    r = world.post(f"/v1/registrations/{pooled}/assign", "admin", {"owner": {"id": "li"}, "reason": "x"})
    assert r.status == 422 and r.json()["code"] == "team_deactivated", r.body
    assert r.json()["errors"] == [{"loc": "body.owner.id", "type": "team_deactivated"}], r.body
    r = world.post(f"/v1/registrations/{pooled}/claim", "li")
    assert r.status == 403 and r.json()["code"] == "team_inactive", r.body
    assert r.json()["errors"] == [{"loc": "principal.team_id", "type": "team_inactive"}], r.body
    r = world.post(f"/v1/registrations/{held_by_wang}/transfer", "admin", {"owner": {"id": "li"}, "reason": "x"})
    assert r.status == 422 and r.json()["code"] == "team_deactivated"
    assert world.ownership(pooled)["in_pool"] is True
    # no reviews asked of its managers
    assert routing.team_manager_ids("south") == []
    # its members keep their keys and holdings
    assert world.ownership(held_by_wang, "wang")["owner"] == {"kind": "user", "id": "wang"}
    assert suite.api.get("/v1/registrations", world.keys["wang"]).status == 200
    # a member of another team can still be given the pooled one
    r = world.post(f"/v1/registrations/{pooled}/assign", "admin", {"owner": {"id": "zhao"}, "reason": "x"})
    assert r.status == 200, r.body
    listed = {t["id"]: t for t in suite.api.get("/v1/admin/directory", world.keys["admin"]).json()["teams"]}
    assert listed["south"]["active"] is False and listed["north"]["active"] is True
    # reactivated: everything as before
    r = world.post("/v1/admin/teams/south/reactivate", "admin")
    assert r.status == 200 and r.json() == {"id": "south", "active": True, "changed": True}
    assert routing.team_manager_ids("south") == ["boss"]
    r = world.post(f"/v1/registrations/{held_by_wang}/transfer", "admin", {"owner": {"id": "li"}, "reason": "x"})
    assert r.status == 200, r.body
    audit = suite.api.get("/v1/admin/audit", world.keys["admin"]).json()["items"]
    actions = [(e["action"], e["object"]["id"], e["actor"]["id"]) for e in audit if e["object"]["kind"] == "team"]
    assert ("team.deactivated", "south", "admin") in actions and ("team.reactivated", "south", "admin") in actions
    assert len([a for a in actions if a[0] == "team.deactivated"]) == 1  # the no-op wrote nothing


def test_an_approver_cannot_name_a_deactivated_teams_member_as_owner_yet_the_submitter_still_gets_theirs(
        suite, world):
    """Approving with an explicit owner is a new holding for that owner: refused (422 at body.owner.id) for a
    member of a deactivated team. Approving without one still gives a member their own earlier submission."""
    from tests.functional.ownership_world import pending

    north = pending(world, suite, 1, rep="zhao", team="north")[0]
    own = pending(world, suite, 1, rep="wang", team="south")[0]
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200
    r = world.post(f"/v1/registrations/{north}/approve", "admin", {"owner": {"id": "li"}, "reason": "x"})
    assert r.status == 422 and r.json()["code"] == "team_deactivated", r.body
    assert r.json()["errors"] == [{"loc": "body.owner.id", "type": "team_deactivated"}]
    assert suite.api.get(f"/v1/registrations/{north}", world.keys["admin"]).json()["status"] == "pending_review"
    r = world.post(f"/v1/registrations/{north}/approve", "admin", {"owner": {"id": "zhao"}, "reason": "x"})
    assert r.status == 200, r.body  # an active team's member can be named
    assert world.ownership(north)["owner"] == {"kind": "user", "id": "zhao"}
    r = world.post(f"/v1/registrations/{own}/approve", "admin", {"reason": "x"})
    assert r.status == 200, r.body  # no owner named: the submitter keeps their own registration
    assert world.ownership(own)["owner"] == {"kind": "user", "id": "wang"}


def test_team_updates_are_audited_conditional_api_operations(suite, world, monkeypatch):
    from chalicelib.clock import now
    from chalicelib.store import directory

    api, admin = suite.api, world.keys["admin"]
    r = api.request("PATCH", "/v1/admin/teams/south", json.dumps({"name": "华南区", "add_manager": "li"}).encode(),
                    headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    assert r.status == 200, r.body
    assert r.json() == {"id": "south", "name": "华南区", "manager_ids": ["boss", "li"],
                        "active": True}

    def patch(body, key=admin):
        return api.request("PATCH", "/v1/admin/teams/south", json.dumps(body).encode(),
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})

    assert patch({"name": "x"}, world.keys["boss"]).status == 403
    assert patch({}).status == 422
    r = patch({"add_manager": "nobody"})
    assert r.status == 422 and r.json()["errors"][0]["loc"] == "body.add_manager"
    r = patch({"remove_manager": "zhao"})
    assert r.status == 422 and r.json()["errors"][0] == {"loc": "body.remove_manager", "type": "not_a_manager"}
    assert patch({"remove_manager": "boss"}).json()["manager_ids"] == ["li"]
    detail = [e["detail"] for e in api.get("/v1/admin/audit", admin).json()["items"] if e["action"] == "team.updated"]
    assert {"name": "华南区", "add_manager": "li"} in detail and {"remove_manager": "boss"} in detail
    # a write on a stale read changes nothing: 409
    stale = directory.get_team("south")
    assert patch({"territory": "广东"}).status == 200
    monkeypatch.setattr(directory, "get_team", lambda team_id: stale)
    with pytest.raises(directory.ConflictError):
        directory.set_active("team", "south", False, now=now())
    monkeypatch.undo()
    assert directory.get_team("south").active == "yes" and directory.get_team("south").territory == "广东"


def test_the_cli_and_the_console_deactivate_and_reactivate_a_team(suite, world, capsys):
    import re

    from infra.cli import main
    from tests.functional.console_client import ConsoleClient

    assert main(["teams", "deactivate", "north"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": "north", "active": False}
    c = ConsoleClient(suite.api.base, lang="zh-CN")
    c.login(world.keys["admin"])
    page = c.get("/console/admin")[2]
    assert re.search(r'<tr data-id="north" data-active="false">', page)
    assert c.post("/console/admin/dir/teams/north/reactivate", {"csrf": c.csrf(page)})[0] == 303
    page = c.get("/console/admin")[2]
    assert re.search(r'<tr data-id="north" data-active="true">', page)
    # deactivation from the console needs the confirmation box, like a user's
    assert c.post("/console/admin/dir/teams/south/deactivate", {"csrf": c.csrf(page)})[0] == 400
    assert c.post("/console/admin/dir/teams/south/deactivate", {"csrf": c.csrf(page), "confirm": "yes"})[0] == 303
    from chalicelib.services.directory import audit
    from chalicelib.store import directory

    assert directory.get_team("south").active == "no" and directory.get_team("north").active == "yes"
    actors = {e["actor"]["id"] for e in audit() if e["object"] == {"kind": "team", "id": "north"}}
    assert actors == {"cli", "admin"}
