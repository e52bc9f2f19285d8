"""Pipeline stages (issue 18): configured stages, the audited stage move and its event, through the API
and the console."""
from __future__ import annotations

import json

import pytest

from tests.functional.helpers import EXAMPLE, drain, make_user, tap_events


@pytest.fixture
def held(suite):
    """An approved registration rep ``rita`` holds in team ``channel`` (manager ``boss``); rep ``ralph``."""
    boss = make_user("boss", "manager", "channel")
    rita, ralph = make_user("rita", "rep", "channel"), make_user("ralph", "rep", "channel")
    reg_id = suite.api.post("/v1/registrations", EXAMPLE["data"], rita).json()["id"]
    suite.runner.pump()
    assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, boss).status == 200
    suite.runner.pump()
    return {"id": reg_id, "boss": boss, "rita": rita, "ralph": ralph}


def test_stages_are_configured_in_order_with_probabilities(suite, held):
    answer = suite.api.get("/v1/pipeline/stages", held["rita"])
    assert answer.status == 200
    stages = answer.json()["stages"]
    assert [s["key"] for s in stages] == ["lead", "qualification", "needs_analysis", "proposal", "negotiation"]
    assert [float(s["probability"]) for s in stages] == sorted(float(s["probability"]) for s in stages)
    assert suite.api.get("/v1/pipeline/stages").status == 401


def test_owner_moves_the_stage_audited_and_announced_others_are_refused(suite, held):
    reg_id, api = held["id"], suite.api
    tap = tap_events(suite)
    # the example is at "proposal"; another rep may not move it, the same stage is refused, bad input is 422
    assert api.post(f"/v1/registrations/{reg_id}/stage", {"stage": "negotiation"}, held["ralph"]).status in (403, 404)
    assert api.post(f"/v1/registrations/{reg_id}/stage", {"stage": "proposal"}, held["rita"]).status == 409
    bad = api.post(f"/v1/registrations/{reg_id}/stage", {"stage": "closing"}, held["rita"])
    assert bad.status == 422 and bad.json()["errors"][0]["loc"] == "body.stage"
    moved = api.post(f"/v1/registrations/{reg_id}/stage", {"stage": "negotiation", "reason": "报价已确认"}, held["rita"])
    assert moved.status == 200, moved.body
    reg = api.get(f"/v1/registrations/{reg_id}", held["rita"]).json()
    assert reg["sales_stage"] == "negotiation" and reg["status"] == "approved"
    line = reg["audit"][-1]
    assert line["action"] == "stage_changed" and line["actor"]["id"] == "rita"
    assert line["reason"] == "proposal -> negotiation: 报价已确认"
    suite.runner.pump()
    events = [e for e in drain(suite, tap) if e["type"] == "registration.stage_changed"]
    assert len(events) == 1 and events[0]["from_stage"] == "proposal" and events[0]["to_stage"] == "negotiation"
    # the team's manager may move it too
    assert api.post(f"/v1/registrations/{reg_id}/stage", {"stage": "needs_analysis"}, held["boss"]).status == 200


def test_a_pending_registration_has_no_stage_moves(suite):
    rita = make_user("rita", "rep", "channel")
    reg_id = suite.api.post("/v1/registrations", EXAMPLE["data"], rita).json()["id"]
    answer = suite.api.post(f"/v1/registrations/{reg_id}/stage", {"stage": "negotiation"}, rita)
    assert answer.status in (403, 409)


def test_configured_stages_replace_the_defaults(suite, held, monkeypatch):
    from chalicelib import settings

    config = {"stages": [{"key": "lead", "name_zh": "线索", "name_en": "Lead", "probability": "0.1"},
                         {"key": "proposal", "name_zh": "方案", "name_en": "Proposal", "probability": "0.5"}]}
    monkeypatch.setenv("DEALREG_PIPELINE_STAGES", json.dumps(config))
    settings.reset()
    assert [s["key"] for s in suite.api.get("/v1/pipeline/stages", held["rita"]).json()["stages"]] == ["lead", "proposal"]
    refused = suite.api.post(f"/v1/registrations/{held['id']}/stage", {"stage": "negotiation"}, held["rita"])
    assert refused.status == 409 and "not configured" in refused.json()["message"]
    monkeypatch.delenv("DEALREG_PIPELINE_STAGES")
    settings.reset()


def test_the_console_moves_the_stage_with_the_api_rules(suite, held):
    from tests.functional.console_client import ConsoleClient

    c = ConsoleClient(suite.api.base)
    c.login(held["rita"])
    _, _, page = c.get(f"/console/registrations/{held['id']}")
    assert 'id="stage-move"' in page and '<option value="proposal" selected>' in page
    status, headers, _ = c.post(f"/console/registrations/{held['id']}/act",
                                {"csrf": c.csrf(page), "op": "stage", "stage": "negotiation"})
    assert status == 303 and "m=done" in headers["location"]
    _, _, page = c.get(f"/console/registrations/{held['id']}")
    assert '<option value="negotiation" selected>' in page
    other = ConsoleClient(suite.api.base)
    other.login(held["ralph"])
    _, _, page = other.get("/console/registrations")
    status, headers, _ = other.post(f"/console/registrations/{held['id']}/act",
                                    {"csrf": other.csrf(page), "op": "stage", "stage": "lead"})
    assert status == 303 and "e=" in headers["location"]
