"""The approval workflow through the local stack: auto-checks after the dedup verdict, review decisions,
withdraw, edit, resubmit, won/lost, illegal moves, the stalled-submission sweep and redelivery."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.functional.helpers import EXAMPLE, drain, make_user, tap_events


@pytest.fixture
def keys(suite) -> dict[str, str]:
    """Team ``south`` (manager ``boss``, reps ``wang``, ``li``), team ``north`` (manager ``nboss``), an admin."""
    return {"boss": make_user("boss", "manager", "south"), "wang": make_user("wang", "rep", "south"),
            "li": make_user("li", "rep", "south"), "nboss": make_user("nboss", "manager", "north"),
            "admin": make_user("admin", "admin")}


def _rules(monkeypatch, name: str, doc: dict) -> None:
    from chalicelib import settings

    monkeypatch.setenv(name, json.dumps(doc))
    settings.reset()


_seq = iter(range(1, 10_000))


def _data(**project) -> dict:
    data = copy.deepcopy(EXAMPLE["data"])
    n = next(_seq)
    data["customer"] = {"name": f"广州测试客户{n}号有限公司", "country": "CN", "region": "广东省广州市",
                        "industry": "制造业"}
    data["external_ref"] = f"WF-{n}"
    data["project"].update(project)
    return data


def _submit(suite, key: str, data: dict | None = None, *, pump: bool = True) -> str:
    answer = suite.api.post("/v1/registrations", data or _data(), key)
    assert answer.status == 202, answer.body
    if pump:
        suite.runner.pump()
    return answer.json()["id"]


def _get(suite, reg_id: str, key: str) -> dict:
    answer = suite.api.get(f"/v1/registrations/{reg_id}", key)
    assert answer.status == 200, answer.body
    return answer.json()


def _post(suite, reg_id: str, op: str, key: str, body: dict | None = None):
    return suite.api.post(f"/v1/registrations/{reg_id}/{op}", body if body is not None else {}, key)


def _patch(suite, reg_id: str, key: str, patch: dict, headers: dict | None = None):
    return suite.api.request("PATCH", f"/v1/registrations/{reg_id}", patch,
                             headers={"Authorization": f"Bearer {key}", **(headers or {})})


def _held(key: str) -> int:
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.store import holders

    return holders.held_count(HolderRef.parse(key))


# --- auto-checks -------------------------------------------------------------------------------------------------

def test_checks_wait_for_the_dedup_verdict_then_the_team_manager_approves(suite, keys):
    reg_id = _submit(suite, keys["wang"], pump=False)
    # GIVEN only the stream has run (dedup has not judged yet) THEN the workflow has not moved it
    sum(s.poll() for s in suite.runner.streams)
    assert _get(suite, reg_id, keys["wang"])["status"] == "submitted"
    # WHEN dedup and the workflow run THEN it is in review, checked by the system with a report
    suite.runner.pump()
    reg = _get(suite, reg_id, keys["wang"])
    assert reg["status"] == "pending_review"
    line = reg["audit"][-1]
    assert line["actor"] == {"kind": "system", "id": "workflow"}
    assert (line["from_status"], line["to_status"]) == ("submitted", "pending_review")
    assert line["reason"].startswith("auto-checks passed") and "dedup: clear" in line["reason"]
    # WHEN the team's manager approves THEN it is approved, owned by the submitting rep, counted
    answer = _post(suite, reg_id, "approve", keys["boss"], {"reason": "looks right"})
    assert answer.status == 200, answer.body
    assert answer.json()["status"] == "approved" and answer.json()["owner"]["id"] == "wang"
    reg = _get(suite, reg_id, keys["wang"])
    assert reg["audit"][-1]["actor"] == {"kind": "user", "id": "boss"}
    assert reg["audit"][-1]["reason"] == "looks right"
    assert _held("user:wang") == 1


def test_a_blocking_dedup_rule_auto_rejects_your_own_duplicate_with_the_reason(suite, keys):
    data = _data()
    first = _submit(suite, keys["wang"], data)
    # WHEN the same rep registers the same customer again (same name: rule same_name, action block)
    second = _submit(suite, keys["wang"], {**data, "external_ref": "WF-again"})
    # THEN the second is rejected by the system, the reason naming the first and the rule
    reg = _get(suite, second, keys["wang"])
    assert reg["status"] == "rejected"
    line = reg["audit"][-1]
    assert line["actor"]["kind"] == "system" and line["from_status"] == "submitted"
    assert first in line["reason"] and "(rule same_name)" in line["reason"]
    assert _get(suite, first, keys["wang"])["status"] == "pending_review"


def test_a_conflict_goes_to_review_with_the_evidence(suite, keys):
    data = _data()
    first = _submit(suite, keys["wang"], data)
    assert _post(suite, first, "approve", keys["boss"]).status == 200
    # WHEN another rep registers the customer wang holds
    other = _submit(suite, keys["li"], {**data, "external_ref": "WF-li"})
    # THEN it goes to review (not rejected), the audit line's staff evidence naming the holder and the holding
    reg = _get(suite, other, keys["li"])
    assert reg["status"] == "pending_review"
    assert "conflict held by wang" in reg["audit"][-1]["evidence"] and first in reg["audit"][-1]["evidence"]
    assert "wang" not in reg["audit"][-1]["reason"] and "protected" in reg["audit"][-1]["reason"]


def test_eligibility_and_required_fields_reject_with_every_reason(suite, keys, monkeypatch):
    from chalicelib.clock import now

    _rules(monkeypatch, "DEALREG_WORKFLOW_RULES", {
        "required_fields": ["customer.website", "contacts.email"],
        "eligibility": {"min_expected_amount": {"CNY": "5000000"}, "max_close_months": 3,
                        "allowed_industries": ["金融"], "allowed_regions": ["北京市"]}})
    # more than 3 months ahead of whatever today is (the example's fixed 2027-03-31 stops being so on 2026-12-31)
    reg_id = _submit(suite, keys["wang"], _data(expected_close_date=(now().date() + timedelta(days=200)).isoformat()))
    reg = _get(suite, reg_id, keys["wang"])
    assert reg["status"] == "rejected"
    reason = reg["audit"][-1]["reason"]
    assert reason.startswith("auto-checks rejected")
    for part in ("missing customer.website", "below the minimum 5000000 CNY", "months ahead",
                 "industry 制造业", "region 广东省广州市"):
        assert part in reason
    assert "contacts.email" not in reason  # one contact has an email: the list path is filled


def test_ineligible_can_be_configured_to_go_to_review_instead(suite, keys, monkeypatch):
    _rules(monkeypatch, "DEALREG_WORKFLOW_RULES", {"eligibility": {"allowed_regions": ["北京市"]},
                                                   "on_ineligible": "review"})
    reg_id = _submit(suite, keys["wang"])
    reg = _get(suite, reg_id, keys["wang"])
    assert reg["status"] == "pending_review"
    assert reg["audit"][-1]["reason"].startswith("auto-checks flagged for review: eligibility: region")


def test_a_submission_without_a_verdict_goes_to_review_after_the_wait(suite, keys):
    from chalicelib import clock

    frozen = clock.FrozenClock(datetime.now(UTC).replace(microsecond=0))
    clock.set_clock(frozen)
    reg_id = _submit(suite, keys["wang"], pump=False)
    # GIVEN the dedup handler never delivers (its queue is lost) and the stream has run
    sum(s.poll() for s in suite.runner.streams)
    sqs = suite.client("sqs")
    sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=f"{suite.prefix}-dedup")["QueueUrl"])
    suite.runner.pump()
    assert _get(suite, reg_id, keys["wang"])["status"] == "submitted"
    # WHEN the sweep runs before the wait is over THEN nothing moves
    frozen.advance(minutes=29)
    suite.runner.run_schedule("advance_stalled_submissions")
    assert _get(suite, reg_id, keys["wang"])["status"] == "submitted"
    # WHEN it runs after the wait THEN the registration is in review, marked as unchecked by dedup
    frozen.advance(minutes=2)
    suite.runner.run_schedule("advance_stalled_submissions")
    reg = _get(suite, reg_id, keys["wang"])
    assert reg["status"] == "pending_review"
    assert "dedup verdict unavailable" in reg["audit"][-1]["reason"]
    # AND a second sweep changes nothing
    suite.runner.run_schedule("advance_stalled_submissions")
    assert _get(suite, reg_id, keys["wang"])["version"] == reg["version"]


def test_a_redelivered_verdict_event_changes_nothing(suite, keys):
    url = tap_events(suite)
    reg_id = _submit(suite, keys["wang"])
    checked = [e for e in drain(suite, url) if e["type"] == "registration.dedup_checked"]
    assert [e["id"] for e in checked] == [f"{reg_id}:dedup:1"]
    before = _get(suite, reg_id, keys["wang"])
    # WHEN the workflow queue receives the same event again
    sqs = suite.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=f"{suite.prefix}-workflow")["QueueUrl"],
                     MessageBody=json.dumps(checked[0]))
    suite.runner.pump()
    # THEN the registration is as it was
    assert _get(suite, reg_id, keys["wang"]) == before


# --- review decisions ----------------------------------------------------------------------------------------------

def test_illegal_transitions_answer_409_and_change_nothing(suite, keys):
    pending = _submit(suite, keys["wang"])
    approved = _submit(suite, keys["wang"])
    assert _post(suite, approved, "approve", keys["boss"]).status == 200
    submitted = _submit(suite, keys["wang"], pump=False)  # not yet checked
    cases = [(submitted, "approve", "boss", {}), (submitted, "reject", "boss", {"reason": "no"}),
             (approved, "approve", "boss", {}), (approved, "reject", "boss", {"reason": "no"}),
             (approved, "withdraw", "wang", {}), (pending, "resubmit", "wang", {}),
             (pending, "won", "wang", {"amount": {"amount": "1.00", "currency": "CNY"}}),
             (pending, "lost", "wang", {"reason": "price"})]
    for reg_id, op, who, body in cases:
        before = _get(suite, reg_id, keys["admin"])
        answer = _post(suite, reg_id, op, keys[who], body)
        assert answer.status == 409, (op, answer.body)
        assert _get(suite, reg_id, keys["admin"]) == before, op


def test_reject_needs_a_reason_and_only_allowed_approvers_decide(suite, keys):
    reg_id = _submit(suite, keys["wang"])
    before = _get(suite, reg_id, keys["admin"])
    assert suite.api.post(f"/v1/registrations/{reg_id}/reject", {}).status == 401  # authentication first
    assert _post(suite, reg_id, "reject", keys["boss"], {}).status == 422
    assert _post(suite, reg_id, "reject", keys["boss"], {"reason": "  "}).status == 422
    # The submitter may read it but not decide it; another team's manager does not even see it.
    assert _post(suite, reg_id, "approve", keys["wang"]).status == 403
    assert _post(suite, reg_id, "reject", keys["nboss"], {"reason": "x"}).status == 404
    assert _get(suite, reg_id, keys["admin"]) == before
    answer = _post(suite, reg_id, "reject", keys["boss"], {"reason": "客户信息不完整"})
    assert answer.status == 200 and answer.json()["status"] == "rejected"
    line = _get(suite, reg_id, keys["wang"])["audit"][-1]
    assert (line["from_status"], line["to_status"], line["reason"]) == ("pending_review", "rejected", "客户信息不完整")
    assert line["actor"] == {"kind": "user", "id": "boss"}


def test_a_named_approver_route_refuses_the_team_manager_with_403(suite, keys, monkeypatch):
    make_user("director", "manager")
    _rules(monkeypatch, "DEALREG_ROUTING_RULES", {"routes": [
        {"name": "guangdong", "regions": ["广东省"], "approvers": {"team_manager": False, "roles": [],
                                                                  "users": ["director"]}}]})
    reg_id = _submit(suite, keys["wang"])
    before = _get(suite, reg_id, keys["admin"])
    assert _post(suite, reg_id, "approve", keys["boss"]).status == 403
    assert _get(suite, reg_id, keys["admin"]) == before


def test_two_levels_above_the_threshold_escalate_then_approve(suite, keys, monkeypatch):
    director = make_user("director", "manager")
    _rules(monkeypatch, "DEALREG_ROUTING_RULES", {"default_second_level": {
        "min_amount": {"CNY": "1000000"}, "approvers": {"team_manager": False, "roles": [], "users": ["director"]}}})
    url = tap_events(suite)
    reg_id = _submit(suite, keys["wang"])
    # WHEN the team manager approves level 1 THEN it stays in review, level 1 recorded and announced
    answer = _post(suite, reg_id, "approve", keys["boss"])
    assert answer.status == 200, answer.body
    assert (answer.json()["status"], answer.json()["levels_required"], answer.json()["levels_done"]) == (
        "pending_review", 2, 1)
    suite.runner.pump()
    escalated = [e for e in drain(suite, url) if e["type"] == "registration.escalated"]
    assert len(escalated) == 1 and escalated[0]["reason"].startswith("level 1 of 2 approved")
    # AND the level-1 approver cannot decide level 2; the director can
    assert _post(suite, reg_id, "approve", keys["boss"]).status == 403
    answer = _post(suite, reg_id, "approve", director)
    assert answer.status == 200 and answer.json()["status"] == "approved"


def test_a_reviewer_escalates_and_only_a_second_level_approver_decides(suite, keys):
    url = tap_events(suite)
    reg_id = _submit(suite, keys["wang"])
    drain(suite, url)
    # WHEN the team manager escalates (no second level configured: admins decide it)
    answer = _post(suite, reg_id, "escalate", keys["boss"], {"reason": "客户与北区有交叉，请上级裁决"})
    assert answer.status == 200, answer.body
    assert (answer.json()["status"], answer.json()["levels_required"], answer.json()["levels_done"]) == (
        "pending_review", 2, 0)
    reg = _get(suite, reg_id, keys["admin"])
    line = reg["audit"][-1]
    assert (line["action"], line["level"], line["actor"]) == ("escalated", 2, {"kind": "user", "id": "boss"})
    assert line["reason"] == "escalated from level 1 to level 2: 客户与北区有交叉，请上级裁决"
    suite.runner.pump()
    [event] = [e for e in drain(suite, url) if e["type"] == "registration.escalated"]
    assert event["reason"] == line["reason"] and event["actor"] == {"kind": "user", "id": "boss"}
    # THEN the escalator decides nothing more of it, the top level cannot go higher, an admin decides it
    assert _post(suite, reg_id, "approve", keys["boss"]).status == 403
    assert _post(suite, reg_id, "escalate", keys["boss"], {"reason": "again"}).status == 403
    top = _post(suite, reg_id, "escalate", keys["admin"], {"reason": "higher"})
    assert top.status == 409 and top.json()["code"] == "no_higher_level"
    answer = _post(suite, reg_id, "approve", keys["admin"])
    assert answer.status == 200 and answer.json()["status"] == "approved"
    assert _post(suite, reg_id, "escalate", keys["admin"], {"reason": "late"}).status == 409  # decided


def test_escalate_needs_a_reason_a_valid_level_and_a_reviewer(suite, keys):
    reg_id = _submit(suite, keys["wang"])
    before = _get(suite, reg_id, keys["admin"])
    for body, loc, kind in (({}, "body.reason", "missing"), ({"reason": "  "}, "body.reason", "too_short"),
                            ({"reason": "x", "level": 3}, "body.level", "less_than_equal"),
                            ({"reason": "x", "level": "two"}, "body.level", "int_parsing"),
                            ({"reason": "x", "extra": 1}, "body.extra", "extra_forbidden")):
        answer = _post(suite, reg_id, "escalate", keys["boss"], body)
        assert answer.status == 422, (body, answer.body)
        assert {"loc": loc, "type": kind} in answer.json()["errors"], answer.json()
        assert set(answer.json()) == {"code", "message", "errors"}
    # the submitter, a rep of the team, another team's manager: refused before the body is read
    for who in ("wang", "li", "nboss"):
        assert _post(suite, reg_id, "escalate", keys[who], {"reason": "x"}).status in (403, 404), who
    assert suite.api.post(f"/v1/registrations/{reg_id}/escalate", {"reason": "x"}).status == 401
    assert _get(suite, reg_id, keys["admin"]) == before


def test_escalate_racing_a_decision_loses_nothing(suite, keys, monkeypatch):
    """Both orders, made deterministic: the other writer lands between this request's read and its write."""
    from chalicelib import clock
    from chalicelib.domain import workflow
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.services import ownership
    from chalicelib.store import registrations
    from schemas.common import Actor, PrincipalKind

    admin = Actor(kind=PrincipalKind.USER, id="admin")
    # 1. an approval lands first: the escalation answers 409 and writes nothing
    first = _submit(suite, keys["wang"])
    write = registrations.append_audit

    def approve_first(reg, entry, *, now):
        ownership.grant(reg.id, HolderRef("user", "wang"), admin, now=clock.now())
        return write(reg, entry, now=now)

    monkeypatch.setattr(registrations, "append_audit", approve_first)
    answer = _post(suite, first, "escalate", keys["boss"], {"reason": "x"})
    monkeypatch.setattr(registrations, "append_audit", write)
    assert answer.status == 409 and answer.json()["code"] == "conflict"
    reg = _get(suite, first, keys["admin"])
    assert reg["status"] == "approved" and "escalated" not in [a["action"] for a in reg["audit"]]
    # 2. an escalation lands first: the approval answers 409 and the escalation stands
    second = _submit(suite, keys["wang"])
    grant = ownership.grant

    def escalate_first(reg, owner, actor, *, now, reason=None):
        current = registrations.get(reg.id)
        assert write(current, workflow.escalate(current, admin, now=now, reason="y", level=1), now=now)
        return grant(reg, owner, actor, now=now, reason=reason)

    monkeypatch.setattr(ownership, "grant", escalate_first)
    answer = _post(suite, second, "approve", keys["boss"])
    monkeypatch.setattr(ownership, "grant", grant)
    assert answer.status == 409, answer.body
    reg = _get(suite, second, keys["admin"])
    assert reg["status"] == "pending_review" and [a["action"] for a in reg["audit"]][-1] == "escalated"
    assert _held("user:wang") == 1  # only the first one's approval holds


# --- the submitter's moves -----------------------------------------------------------------------------------------

def test_the_submitter_withdraws_before_a_decision(suite, keys):
    reg_id = _submit(suite, keys["wang"])
    assert _post(suite, reg_id, "withdraw", keys["boss"]).status == 403  # the manager is not the submitter
    answer = _post(suite, reg_id, "withdraw", keys["wang"], {"reason": "客户取消项目"})
    assert answer.status == 200 and answer.json()["status"] == "withdrawn"
    line = _get(suite, reg_id, keys["wang"])["audit"][-1]
    assert (line["from_status"], line["to_status"], line["reason"]) == ("pending_review", "withdrawn", "客户取消项目")
    assert _post(suite, reg_id, "withdraw", keys["wang"]).status == 409


def test_an_edit_in_review_reruns_the_checks_before_anyone_decides(suite, keys, monkeypatch):
    _rules(monkeypatch, "DEALREG_WORKFLOW_RULES", {"eligibility": {"min_expected_amount": {"CNY": "100000"}}})
    url = tap_events(suite)
    reg_id = _submit(suite, keys["wang"])
    drain(suite, url)
    version = _get(suite, reg_id, keys["wang"])["version"]
    # A stale If-Match, an unknown field and an invalid result are refused without a write
    assert _patch(suite, reg_id, keys["wang"], {"sales_stage": "negotiation"}, {"If-Match": '"1"'}).status == 412
    assert _patch(suite, reg_id, keys["wang"], {"external_ref": "other"}).status == 422
    bad = _patch(suite, reg_id, keys["wang"], {"project": {"expected_amount": {"amount": "-1"}}})
    assert bad.status == 422 and bad.json()["errors"][0]["loc"].startswith("body.project.expected_amount")
    assert _patch(suite, reg_id, keys["boss"], {"sales_stage": "negotiation"}).status == 403
    assert _get(suite, reg_id, keys["wang"])["version"] == version
    # WHEN the submitter edits it (merge patch) THEN the payload changes and an "updated" line says what
    answer = _patch(suite, reg_id, keys["wang"], {"sales_stage": "negotiation", "customer": {"industry": None}},
                    {"If-Match": f'"{version}"'})
    assert answer.status == 200, answer.body
    reg = answer.json()
    assert reg["sales_stage"] == "negotiation" and "industry" not in reg["customer"]
    assert reg["customer"]["region"] == "广东省广州市"  # merged, not replaced
    assert reg["audit"][-1]["action"] == "updated"
    assert reg["audit"][-1]["reason"] == "changed customer.industry, sales_stage"
    # AND nobody decides before the re-check has run
    assert _post(suite, reg_id, "approve", keys["boss"]).json()["code"] == "checks_pending"
    suite.runner.pump()
    events = drain(suite, url)
    assert [e["type"] for e in events if e["type"] in ("registration.updated", "registration.dedup_checked")] == [
        "registration.updated", "registration.dedup_checked"]
    reg = _get(suite, reg_id, keys["wang"])
    assert reg["status"] == "pending_review" and reg["audit"][-1]["action"] == "checked"
    # WHEN an edit makes it ineligible THEN the re-check rejects it
    assert _patch(suite, reg_id, keys["wang"],
                  {"project": {"expected_amount": {"amount": "5000.00", "currency": "CNY"}}}).status == 200
    suite.runner.pump()
    reg = _get(suite, reg_id, keys["wang"])
    assert reg["status"] == "rejected" and "below the minimum" in reg["audit"][-1]["reason"]


def test_resubmission_is_bounded(suite, keys, monkeypatch):
    _rules(monkeypatch, "DEALREG_WORKFLOW_RULES", {"max_resubmits": 1})
    reg_id = _submit(suite, keys["wang"])
    assert _post(suite, reg_id, "reject", keys["boss"], {"reason": "金额有误"}).status == 200
    # The submitter fixes it and resubmits: it goes through the checks again
    assert _patch(suite, reg_id, keys["wang"],
                  {"project": {"expected_amount": {"amount": "3500000.00", "currency": "CNY"}}}).status == 200
    assert _post(suite, reg_id, "resubmit", keys["boss"]).status == 403
    answer = _post(suite, reg_id, "resubmit", keys["wang"], {"reason": "金额已更正"})
    assert answer.status == 200 and answer.json()["status"] == "submitted"
    suite.runner.pump()
    assert _get(suite, reg_id, keys["wang"])["status"] == "pending_review"
    assert _post(suite, reg_id, "reject", keys["boss"], {"reason": "仍有问题"}).status == 200
    before = _get(suite, reg_id, keys["wang"])
    answer = _post(suite, reg_id, "resubmit", keys["wang"])
    assert answer.status == 409 and answer.json()["code"] == "resubmit_limit"
    assert _get(suite, reg_id, keys["wang"]) == before


# --- won / lost ----------------------------------------------------------------------------------------------------

def test_won_and_lost_close_the_holding_and_release_the_counter(suite, keys):
    won, lost = _submit(suite, keys["wang"]), _submit(suite, keys["wang"])
    for reg_id in (won, lost):
        assert _post(suite, reg_id, "approve", keys["boss"]).status == 200
    assert _held("user:wang") == 2
    assert _post(suite, won, "won", keys["wang"], {}).status == 422  # the amount is required
    answer = _post(suite, won, "won", keys["wang"], {"amount": {"amount": "3650000.00", "currency": "CNY"}})
    assert answer.status == 200 and answer.json()["status"] == "won"
    assert _held("user:wang") == 1
    assert _post(suite, lost, "lost", keys["wang"], {}).status == 422  # the reason is required
    answer = _post(suite, lost, "lost", keys["boss"], {"reason": "竞争对手报价更低"})  # the team's manager
    assert answer.status == 200 and answer.json()["status"] == "lost"
    assert _held("user:wang") == 0
    reg = _get(suite, won, keys["wang"])
    assert reg["owner"]["id"] == "wang"  # kept as a matter of record
    assert reg["audit"][-1]["reason"] == "won at 3650000.00 CNY"
    # the won amount is a field and the sales stage follows (issue 12 item 15)
    assert reg["won_amount"] == {"amount": 3650000, "currency": "CNY"} and reg["sales_stage"] == "closed_won"
    assert _get(suite, lost, keys["wang"])["sales_stage"] == "closed_lost"
    own = _get(suite, won, keys["admin"])
    assert _post(suite, won, "lost", keys["wang"], {"reason": "x"}).status == 409
    assert _get(suite, won, keys["admin"]) == own


# --- races and edits before the checks ---------------------------------------------------------------------------

def test_racing_approvers_one_wins_the_other_gets_409(suite, keys):
    from tests.functional.ownership_world import race

    reg_id = _submit(suite, keys["wang"])
    answers = race([lambda who=who: _post(suite, reg_id, "approve", keys[who]) for who in ("boss", "admin")])
    assert sorted(a.status for a in answers) == [200, 409]
    reg = _get(suite, reg_id, keys["wang"])
    assert reg["status"] == "approved" and [a["to_status"] for a in reg["audit"]].count("approved") == 1
    assert _held("user:wang") == 1


def test_an_edit_before_the_verdict_is_the_version_the_checks_see(suite, keys, monkeypatch):
    _rules(monkeypatch, "DEALREG_WORKFLOW_RULES", {"eligibility": {"min_expected_amount": {"CNY": "100000"}}})
    reg_id = _submit(suite, keys["wang"], pump=False)
    # GIVEN the edit lands before dedup has judged the submission
    assert _patch(suite, reg_id, keys["wang"],
                  {"project": {"expected_amount": {"amount": "500.00", "currency": "CNY"}}}).status == 200
    suite.runner.pump()
    # THEN the checks ran once, on the edited version, and rejected it
    reg = _get(suite, reg_id, keys["wang"])
    assert reg["status"] == "rejected" and "500.00 CNY is below the minimum" in reg["audit"][-1]["reason"]
    assert [a["action"] for a in reg["audit"]] == ["submitted", "updated", "status_changed"]
