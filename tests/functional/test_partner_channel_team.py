"""A partner's channel team: its managers review (and may read) the partner's registrations."""
from __future__ import annotations

from tests.functional.helpers import drain, example, make_user, post_webhook, tap_events


def test_a_partner_registration_is_reviewed_by_its_channel_teams_managers(suite):
    from chalicelib.clock import now
    from chalicelib.store import directory
    from infra import cli

    cm_key = make_user("cm", "manager", team="channel")
    other_key = make_user("north-boss", "manager", team="north")
    assert cli.main(["partners", "create", "Acme", "--id", "acme", "--team", "nowhere"]) == 2  # unknown team
    secret, _ = directory.create_partner("acme", "Acme", now=now(), team_id="channel")
    tap = tap_events(suite)
    reg_id = post_webhook(suite.api, "acme", secret, example()).json()["id"]
    suite.runner.pump()
    reg = suite.api.get(f"/v1/registrations/{reg_id}", cm_key).json()
    assert (reg["team_id"], reg["status"]) == ("channel", "pending_review")
    review = [e for e in drain(suite, tap) if e["type"] == "registration.review_requested"]
    assert [e["registration"]["team_id"] for e in review] == ["channel"]
    # Another team's manager neither sees nor decides it; the channel manager approves it to the partner.
    assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {"reason": "ok"}, other_key).status in (403, 404)
    approved = suite.api.post(f"/v1/registrations/{reg_id}/approve", {"reason": "ok"}, cm_key)
    assert approved.status == 200 and approved.json()["owner"]["id"] == "acme"
