"""The workflow's operations on the state machine (pure): auto-decisions, review, withdraw, resubmit, edit,
merge patches, close, and the audit lines each produces."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import ownership, workflow
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.auto_checks import CheckReport, Finding
from chalicelib.domain.events import event_type
from chalicelib.domain.registration import new_registration
from schemas.common import Actor, PrincipalKind
from schemas.registration import RegistrationCreate, RegistrationStatus as S, Source
from tests.functional.helpers import EXAMPLE

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
WANG = Principal(kind=PrincipalKind.USER, id="wang", role=Role.REP, team_id="south")
LI = Principal(kind=PrincipalKind.USER, id="li", role=Role.REP, team_id="south")
BOSS = Principal(kind=PrincipalKind.USER, id="boss", role=Role.MANAGER, managed_team_ids=frozenset({"south"}))
ACME = Principal(kind=PrincipalKind.PARTNER, id="acme", role=Role.PARTNER)


def _reg(status: S = S.SUBMITTED, *, by: Principal = WANG):
    payload = RegistrationCreate.model_validate(EXAMPLE["data"])
    reg = new_registration(payload, reg_id="reg_1", source=Source.REP if by is WANG else Source.PARTNER,
                           submitter=by.actor, now=NOW, team_id="south",
                           partner_id=by.id if by.kind is PrincipalKind.PARTNER else None)
    return _move(reg, status) if status is not S.SUBMITTED else reg


def _move(reg, status: S, *, actor: Actor = workflow.SYSTEM, reason: str | None = "x"):
    path = {S.PENDING_REVIEW: [S.PENDING_REVIEW], S.REJECTED: [S.PENDING_REVIEW, S.REJECTED],
            S.APPROVED: [S.PENDING_REVIEW, S.APPROVED], S.WITHDRAWN: [S.WITHDRAWN], S.SUBMITTED: [S.SUBMITTED]}
    for target in path[status]:
        entry = workflow.transition(reg.audit, reg.status, target, actor=actor, now=NOW, reason=reason)
        reg = reg.model_copy(update={"status": target, "audit": [*reg.audit, entry], "version": reg.version + 1})
    return reg


def _append(reg, entry):
    status = entry.to_status or reg.status
    return reg.model_copy(update={"status": status, "audit": [*reg.audit, entry], "version": reg.version + 1})


def _report(*outcomes: str) -> CheckReport:
    return CheckReport(tuple(Finding("eligibility", o, f"detail {i}") for i, o in enumerate(outcomes)))


# --- auto-checks ---------------------------------------------------------------------------------------------------

def test_auto_decide_moves_a_submission_to_review_or_rejects_it_with_the_report():
    reg = _reg()
    passed = workflow.auto_decide(reg, _report("pass"), now=NOW)
    assert (passed.from_status, passed.to_status, passed.actor) == (S.SUBMITTED, S.PENDING_REVIEW, workflow.SYSTEM)
    assert passed.reason == "auto-checks passed: eligibility: detail 0"
    flagged = workflow.auto_decide(reg, _report("pass", "review"), now=NOW)
    assert flagged.to_status is S.PENDING_REVIEW and flagged.reason.startswith("auto-checks flagged")
    rejected = workflow.auto_decide(reg, _report("review", "reject"), now=NOW)
    assert rejected.to_status is S.REJECTED and rejected.reason == "auto-checks rejected: eligibility: detail 1"
    assert event_type(rejected) == "registration.rejected"


def test_a_recheck_in_review_keeps_it_there_with_a_checked_line_or_rejects_it():
    reg = _reg(S.PENDING_REVIEW)
    checked = workflow.auto_decide(reg, _report("review"), now=NOW)
    assert (checked.action, checked.to_status, checked.seq) == ("checked", None, 3)
    assert event_type(checked) is None  # bookkeeping: announces nothing
    assert workflow.auto_decide(reg, _report("reject"), now=NOW).to_status is S.REJECTED


@pytest.mark.parametrize("status", [S.APPROVED, S.REJECTED, S.WITHDRAWN])
def test_auto_decide_ignores_registrations_not_awaiting_checks(status):
    assert workflow.auto_decide(_reg(status), _report("reject"), now=NOW) is None


# --- review --------------------------------------------------------------------------------------------------------

def test_decisions_need_review_status_current_checks_and_someone_else():
    with pytest.raises(workflow.IllegalTransitionError):
        workflow.check_decidable(_reg(), BOSS, S.APPROVED)  # not checked yet
    with pytest.raises(workflow.IllegalTransitionError):
        workflow.check_decidable(_reg(S.APPROVED), BOSS, S.REJECTED)
    pending = _reg(S.PENDING_REVIEW)
    workflow.check_decidable(pending, BOSS, S.APPROVED)
    with pytest.raises(workflow.ForbiddenError):
        workflow.check_decidable(pending, WANG, S.APPROVED)
    edited = _append(pending, workflow.edit(pending, _changed(pending), WANG, now=NOW))
    with pytest.raises(workflow.ChecksPendingError):
        workflow.check_decidable(edited, BOSS, S.APPROVED)
    rechecked = _append(edited, workflow.auto_decide(edited, _report("pass"), now=NOW))
    workflow.check_decidable(rechecked, BOSS, S.APPROVED)


def test_reject_needs_a_reason_and_review_status():
    pending = _reg(S.PENDING_REVIEW)
    entry = workflow.reject(pending, BOSS.actor, now=NOW, reason="不在授权区域")
    assert (entry.from_status, entry.to_status, entry.actor.id, entry.reason) == (
        S.PENDING_REVIEW, S.REJECTED, "boss", "不在授权区域")
    with pytest.raises(workflow.ReasonRequiredError):
        workflow.reject(pending, BOSS.actor, now=NOW, reason=" ")
    with pytest.raises(workflow.IllegalTransitionError):
        workflow.reject(_reg(), BOSS.actor, now=NOW, reason="too early")


def test_a_recorded_approval_level_is_announced_as_escalated():
    entry = workflow.record_approval(_reg(S.PENDING_REVIEW), BOSS.actor, now=NOW, level=1, required=2, reason="ok")
    assert (entry.action, entry.to_status, entry.reason) == ("approval_recorded", None, "level 1 of 2 approved: ok")
    assert event_type(entry) == "registration.escalated"


# --- the submitter's moves -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [S.SUBMITTED, S.PENDING_REVIEW])
def test_the_submitter_withdraws_before_a_decision(status):
    entry = workflow.withdraw(_reg(status), WANG, now=NOW, reason="客户取消")
    assert (entry.from_status, entry.to_status, entry.actor.id) == (status, S.WITHDRAWN, "wang")
    with pytest.raises(workflow.ForbiddenError):
        workflow.withdraw(_reg(status), BOSS, now=NOW)


def test_withdraw_after_a_decision_is_illegal_and_partners_withdraw_their_own():
    with pytest.raises(workflow.IllegalTransitionError):
        workflow.withdraw(_reg(S.APPROVED), WANG, now=NOW)
    entry = workflow.withdraw(_reg(by=ACME), ACME, now=NOW)
    assert entry.actor == Actor(kind=PrincipalKind.PARTNER, id="acme")
    with pytest.raises(workflow.ForbiddenError):
        workflow.withdraw(_reg(by=ACME), Principal(kind=PrincipalKind.PARTNER, id="other", role=Role.PARTNER), now=NOW)


def test_resubmission_is_counted_and_bounded():
    reg = _reg(S.REJECTED)
    for _ in range(2):
        entry = workflow.resubmit(reg, WANG, now=NOW, max_resubmits=2)
        assert (entry.from_status, entry.to_status) == (S.REJECTED, S.SUBMITTED)
        reg = _rejected_again(_append(reg, entry))
    assert workflow.resubmits(reg.audit) == 2
    with pytest.raises(workflow.ResubmitLimitError):
        workflow.resubmit(reg, WANG, now=NOW, max_resubmits=2)
    with pytest.raises(workflow.IllegalTransitionError):
        workflow.resubmit(_reg(S.PENDING_REVIEW), WANG, now=NOW, max_resubmits=2)
    with pytest.raises(workflow.ForbiddenError):
        workflow.resubmit(_reg(S.REJECTED), LI, now=NOW, max_resubmits=2)


def _rejected_again(reg):
    for target in (S.PENDING_REVIEW, S.REJECTED):
        reg = _append(reg, workflow.transition(reg.audit, reg.status, target, actor=workflow.SYSTEM, now=NOW,
                                               reason="x"))
    return reg


# --- edits -----------------------------------------------------------------------------------------------------------

def _changed(reg, **project):
    data = workflow.payload_of(reg).model_dump(mode="json")
    data["project"].update(project or {"title": "华南区数据中心网络升级（二期）"})
    return RegistrationCreate.model_validate(data)


def test_merge_patch_follows_rfc_7386():
    # The examples of RFC 7386 section 3 (https://www.rfc-editor.org/rfc/rfc7386#section-3), a selection.
    assert workflow.merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert workflow.merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert workflow.merge_patch({"a": "b"}, {"a": None}) == {}
    assert workflow.merge_patch({"a": "b", "b": "c"}, {"a": None}) == {"b": "c"}
    assert workflow.merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert workflow.merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert workflow.merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert workflow.merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert workflow.merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def test_an_edit_is_an_updated_line_naming_what_changed_and_a_no_op_writes_nothing():
    reg = _reg(S.PENDING_REVIEW)
    entry = workflow.edit(reg, _changed(reg, title="二期", expected_close_date="2027-02-28"), WANG, now=NOW)
    assert (entry.action, entry.to_status, entry.actor.id) == ("updated", None, "wang")
    assert entry.reason == "changed project.expected_close_date, project.title"
    assert event_type(entry) == "registration.updated"
    assert workflow.edit(reg, workflow.payload_of(reg), WANG, now=NOW) is None


def test_edits_are_the_submitters_while_undecided_and_keep_the_external_ref():
    with pytest.raises(workflow.ForbiddenError):
        workflow.edit(_reg(), _changed(_reg()), BOSS, now=NOW)
    assert workflow.edit(_reg(S.REJECTED), _changed(_reg()), WANG, now=NOW) is not None  # fix, then resubmit
    for status in (S.APPROVED, S.WITHDRAWN):
        with pytest.raises(workflow.NotEditableError):
            workflow.edit(_reg(status), _changed(_reg()), WANG, now=NOW)
    moved = RegistrationCreate.model_validate({**EXAMPLE["data"], "external_ref": "CRM-other"})
    with pytest.raises(workflow.NotEditableError):
        workflow.edit(_reg(), moved, WANG, now=NOW)


def test_input_at_is_the_latest_submission_or_edit():
    reg = _reg(S.PENDING_REVIEW)
    assert workflow.input_at(reg) == NOW
    later = NOW + timedelta(hours=1)
    edited = _append(reg, workflow.edit(reg, _changed(reg), WANG, now=later))
    assert workflow.input_at(_append(edited, workflow.auto_decide(edited, _report("pass"), now=later + timedelta(1))))\
        == later


# --- won / lost ------------------------------------------------------------------------------------------------------

def _holding(status: S = S.APPROVED, owner: str | None = "wang") -> ownership.Holding:
    return ownership.Holding(reg_id="reg_1", status=status, version=3, last_seq=3, team_id="south",
                             owner=ownership.HolderRef("user", owner) if owner else None,
                             timers=ownership.Timers(granted_at=NOW, due_at=NOW + timedelta(days=90)))


def test_close_ends_the_holding_keeps_the_owner_and_clears_the_timers():
    change = ownership.close(_holding(), S.WON, actor=WANG.actor, now=NOW, reason="won at 1.00 CNY")
    assert (change.from_status, change.to_status, change.timers) == (S.APPROVED, S.WON, ownership.Timers())
    assert change.from_owner == change.to_owner == ownership.HolderRef("user", "wang")
    [entry] = change.audit
    assert (entry.seq, entry.action, entry.to_status) == (4, "won", S.WON)
    assert event_type(entry) == "registration.won"
    with pytest.raises(workflow.ReasonRequiredError):
        ownership.close(_holding(), S.LOST, actor=WANG.actor, now=NOW)
    with pytest.raises(ownership.WrongStatusError):
        ownership.close(_holding(S.PENDING_REVIEW, None), S.WON, actor=WANG.actor, now=NOW)
    with pytest.raises(ValueError):
        ownership.close(_holding(), S.EXPIRED, actor=WANG.actor, now=NOW)
