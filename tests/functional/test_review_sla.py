"""Review routing and the review SLA through the local stack: approvers hear about a review request, and a
review waiting past the SLA reminds the approvers and their managers once per SLA period, however often the
schedule runs."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.functional.helpers import drain, example, make_user, tap_events


@pytest.fixture
def frozen(suite):
    from chalicelib import clock

    c = clock.FrozenClock(datetime.now(UTC).replace(microsecond=0))
    clock.set_clock(c)
    return c


@pytest.fixture
def routing_env(monkeypatch):
    """Set DEALREG_ROUTING_RULES for one test (the app runs in this process and reads settings per call)."""
    from chalicelib import settings

    def use(rules: dict) -> None:
        monkeypatch.setenv("DEALREG_ROUTING_RULES", json.dumps(rules))
        settings.reset()

    yield use
    monkeypatch.delenv("DEALREG_ROUTING_RULES", raising=False)
    settings.reset()


def _people() -> dict[str, str]:
    """Team south: manager lin (reporting to director zhou), rep wang; an admin; vp and he without a team.
    Returns everyone's API key by user id."""
    from chalicelib.clock import now
    from chalicelib.domain.access import Role
    from chalicelib.store import directory

    keys = {"zhou": directory.create_user("zhou", "Zhou", Role.MANAGER, now=now()),
            "vp": directory.create_user("vp", "VP", Role.MANAGER, now=now()),
            "he": directory.create_user("he", "He", Role.MANAGER, now=now()),
            "root": make_user("root", "admin")}
    directory.create_team("south", "South", now=now())
    keys["lin"] = directory.create_user("lin", "Lin", Role.MANAGER, now=now(), team_id="south", manager_id="zhou")
    keys["wang"] = make_user("wang", "rep", team="south")
    return keys


def _submit(suite, key: str) -> str:
    answer = suite.api.post("/v1/registrations", example()["data"], key)
    assert answer.status == 202, answer.body
    suite.runner.pump()
    reg_id = answer.json()["id"]
    from chalicelib.store import registrations

    assert registrations.get(reg_id).status.value == "pending_review"
    return reg_id


def _inbox(suite, admin: str, event_type: str) -> list[str]:
    items = suite.api.get("/v1/dev/inbox?limit=200", admin).json()["items"]
    return sorted(f"{i['recipient']['kind']}:{i['recipient']['id']}" for i in items if i["event_type"] == event_type)


def _overdue_events(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "registration.review_overdue"]


def test_a_review_waiting_49_hours_reminds_approvers_and_their_manager_once_across_two_runs(suite, frozen):
    keys = _people()
    wang, admin = keys["wang"], keys["root"]
    tap = tap_events(suite)
    reg_id = _submit(suite, wang)
    drain(suite, tap)
    # GIVEN the review has waited 47 hours: within the 48 h SLA, nothing
    frozen.advance(hours=47)
    suite.runner.run_schedule("remind_overdue_reviews")
    suite.runner.pump()
    assert _overdue_events(drain(suite, tap)) == []
    # WHEN it has waited 49 hours and the schedule runs twice
    frozen.advance(hours=2)
    suite.runner.run_schedule("remind_overdue_reviews")
    suite.runner.pump()
    suite.runner.run_schedule("remind_overdue_reviews")
    suite.runner.pump()
    # THEN exactly one review_overdue event went out, naming the approver and their manager
    [evt] = _overdue_events(drain(suite, tap))
    assert evt["subject"] == reg_id and evt["level"] == 1 and evt["period"] == 1 and evt["sla_hours"] == 48
    assert (evt["approvers"], evt["notify"]) == (["lin"], ["zhou"])
    # AND each of them got one reminder in the local inbox (not the submitter)
    assert _inbox(suite, admin, "registration.review_overdue") == ["user:lin", "user:zhou"]
    # WHEN another SLA period passes: one more reminder, with its own id
    frozen.advance(hours=48)
    suite.runner.run_schedule("remind_overdue_reviews")
    suite.runner.run_schedule("remind_overdue_reviews")
    suite.runner.pump()
    [again] = _overdue_events(drain(suite, tap))
    assert again["period"] == 2 and again["id"] != evt["id"]


def test_a_decided_review_is_not_reminded(suite, frozen):
    from chalicelib.store.models import RegistrationItem

    wang = _people()["wang"]
    tap = tap_events(suite)
    reg_id = _submit(suite, wang)
    # the registration leaves pending_review (as a decision would) before the SLA runs out
    item = RegistrationItem.get(reg_id)
    item.update(actions=[RegistrationItem.status.set("withdrawn")])
    frozen.advance(hours=60)
    suite.runner.run_schedule("remind_overdue_reviews")
    suite.runner.pump()
    assert _overdue_events(drain(suite, tap)) == []


def test_review_request_goes_to_the_routed_approver_and_lands_in_the_inbox(suite, frozen, routing_env):
    keys = _people()
    wang, admin = keys["wang"], keys["root"]
    amount = example()["data"]["project"]["expected_amount"]
    # GIVEN a route for this amount naming "he" (not the team's manager) as the approver
    routing_env({"routes": [{"name": "key-accounts", "min_amount": {amount["currency"]: "0"},
                             "approvers": {"team_manager": False, "roles": [], "users": ["he"]}}]})
    _submit(suite, wang)
    # THEN the review request is delivered to "he" only, in the local inbox
    assert _inbox(suite, admin, "registration.review_requested") == ["user:he"]
    [mine] = suite.api.get("/v1/dev/inbox", keys["he"]).json()["items"]
    assert mine["event_type"] == "registration.review_requested" and mine["title"].startswith("待审批：")


def test_default_routing_tells_the_team_manager(suite, frozen):
    keys = _people()
    wang, admin = keys["wang"], keys["root"]
    _submit(suite, wang)
    assert _inbox(suite, admin, "registration.review_requested") == ["user:lin"]


def test_escalation_reaches_the_second_level_and_the_decision_reaches_the_submitter(suite, frozen, routing_env):
    keys = _people()
    wang, admin, lin, vp = keys["wang"], keys["root"], keys["lin"], keys["vp"]
    currency = example()["data"]["project"]["expected_amount"]["currency"]
    routing_env({"default_second_level": {"min_amount": {currency: "0"},
                                          "approvers": {"team_manager": False, "roles": [], "users": ["vp"]}}})
    reg_id = _submit(suite, wang)
    # WHEN the team manager approves level 1
    answer = suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, lin)
    assert answer.status == 200 and answer.json()["status"] == "pending_review", answer.body
    suite.runner.pump()
    # THEN only the second-level approver is asked (not lin, who approved level 1)
    assert _inbox(suite, admin, "registration.escalated") == ["user:vp"]
    # WHEN the vp approves THEN the submitter hears the decision
    assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, vp).json()["status"] == "approved"
    suite.runner.pump()
    assert "user:wang" in _inbox(suite, admin, "registration.approved")


def test_a_manual_escalation_below_the_threshold_asks_the_configured_second_level_and_restarts_the_wait(
        suite, frozen, routing_env):
    keys = _people()
    wang, admin, lin, vp = keys["wang"], keys["root"], keys["lin"], keys["vp"]
    currency = example()["data"]["project"]["expected_amount"]["currency"]
    routing_env({"review_sla_hours": 24, "default_second_level": {  # the amount is far below: one level needed
        "min_amount": {currency: "999999999"}, "approvers": {"team_manager": False, "roles": [], "users": ["vp"]}}})
    reg_id = _submit(suite, wang)
    frozen.advance(hours=20)
    # WHEN the team manager escalates instead of deciding
    answer = suite.api.post(f"/v1/registrations/{reg_id}/escalate", {"reason": "金额接近大单门槛，请 VP 定夺"}, lin)
    assert answer.status == 200, answer.body
    assert (answer.json()["status"], answer.json()["levels_required"]) == ("pending_review", 2)
    suite.runner.pump()
    # THEN the configured second-level approver is asked, with the reason
    assert _inbox(suite, admin, "registration.escalated") == ["user:vp"]
    [told] = [i for i in suite.api.get("/v1/dev/inbox", vp).json()["items"] if i["event_type"] == "registration.escalated"]
    assert "金额接近大单门槛" in told["text"]
    # AND the SLA wait restarted at the escalation: 20 h + 10 h is not overdue, 20 h + 25 h is (level 2)
    from chalicelib.store import routing

    frozen.advance(hours=10)
    assert routing.remind_overdue(now=frozen.now()) == 0
    frozen.advance(hours=15)
    assert routing.remind_overdue(now=frozen.now()) == 1
    suite.runner.pump()
    assert _inbox(suite, admin, "registration.review_overdue") == ["user:vp"]
    # AND the escalator may not decide the level they referred up; the vp does
    assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, lin).status == 403
    assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, vp).json()["status"] == "approved"
