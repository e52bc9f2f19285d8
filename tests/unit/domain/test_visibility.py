"""domain.visibility (issue 12 item 1) and the admin's unfiltered list plan (item 16), pure."""
from __future__ import annotations

from chalicelib.domain import access, visibility
from chalicelib.domain.visibility import Viewer
from schemas.common import PrincipalKind

BETA = Viewer("partner", "beta")
STAFF = Viewer("user", "chief")


def _conflict_event() -> dict:
    return {"id": "reg_beta1:conflict", "type": "registration.conflict_detected", "subject": "reg_beta1",
            "occurred_at": "2026-12-01T00:00:00Z", "actor": {"kind": "system", "id": "dedup"},
            "registration": {"id": "reg_beta1", "status": "submitted", "source": "partner",
                             "submitter": {"kind": "partner", "id": "beta"}, "partner_id": "beta",
                             "owner": None, "team_id": "channel", "customer_key": "k", "customer_name": "腾讯",
                             "project_title": "beta's project", "expected_amount": "1", "currency": "CNY",
                             "version": 1},
            "conflict_with": ["reg_acme1"], "holder": {"kind": "partner", "id": "acme"},
            "notify": ["northboss"], "recipients": [{"kind": "partner", "id": "acme"}],
            "rule": "same_name"}


def test_a_holder_partner_sees_a_conflict_without_the_new_submitters_identity():
    seen = visibility.event(Viewer("partner", "acme"), _conflict_event())
    text = repr(seen)
    for secret in ("reg_beta1", "beta", "channel", "northboss", "beta's project"):
        assert secret not in text, secret
    assert seen["conflict_with"] == ["reg_acme1"] and seen["registration"]["customer_name"] == "腾讯"
    assert seen["id"] == visibility.opaque("reg_beta1:conflict")  # stable: receivers can deduplicate


def test_staff_see_events_whole_and_a_partner_never_sees_staff_lists_or_other_owners():
    evt = _conflict_event()
    assert visibility.event(STAFF, evt) == evt
    transfer = {"id": "reg_beta1:9", "type": "registration.transferred", "subject": "reg_beta1",
                "actor": {"kind": "user", "id": "chief"}, "reason": "to lihold",
                "registration": {**evt["registration"], "owner": {"kind": "user", "id": "lihold"}},
                "previous_owner": {"kind": "partner", "id": "beta"},
                "notify": ["chief"]}
    seen = visibility.event(BETA, transfer)
    assert "lihold" not in repr(seen) and "chief" not in repr(seen)
    assert seen["registration"]["id"] == "reg_beta1"  # its own registration keeps its id


def test_the_closed_answer_and_refusals():
    assert [visibility.closed_answer(o) for o in ("conflict", "duplicate", "may_claim", "clear")] == [
        "protected", "yours", "free", "free"]
    assert visibility.refusal(BETA, "wrong_status", "already held by user:li") == visibility.GENERIC_REFUSALS[
        "wrong_status"]
    assert visibility.refusal(STAFF, "wrong_status", "already held by user:li") == "already held by user:li"


def test_an_admin_without_filters_lists_everything():
    admin = access.Principal(kind=PrincipalKind.USER, id="root", role=access.Role.ADMIN)
    assert access.list_plan(admin, owner=None, status=None, team=None) == access.ListPlan("all", "")
    assert access.list_plan(admin, owner=None, status="approved", team=None) == access.ListPlan("by_status",
                                                                                                 "approved")


# --- staff free text (issue 12, weak point): a reason reaches a partner only when staff share it -------------

def _rejected(reason: str, *, shared: bool | None) -> object:
    from datetime import UTC, datetime

    from schemas.common import Actor
    from schemas.registration import AuditEntry
    from tests.unit.domain.test_workflow_events_access import _reg

    reg = _reg()  # submitted by partner acme
    at = datetime(2026, 3, 2, tzinfo=UTC)
    lines = [*reg.audit,
             AuditEntry(seq=len(reg.audit) + 1, at=at, actor=Actor(kind="partner", id="acme"), action="noted",
                        reason="our own note"),
             AuditEntry(seq=len(reg.audit) + 2, at=at, actor=Actor(kind="system", id="checks"), action="checked",
                        reason="customer protected"),
             AuditEntry(seq=len(reg.audit) + 3, at=at, actor=Actor(kind="user", id="boss"),
                        action="status_changed", from_status="pending_review", to_status="rejected",
                        reason=reason, shared=shared)]
    return reg.model_copy(update={"audit": lines})


def test_a_partner_reads_a_managers_reason_only_when_it_was_shared():
    acme = Viewer("partner", "acme")
    secret = "已由华为渠道商 Acme Holdings 报备"
    withheld = visibility.registration(acme, _rejected(secret, shared=None))
    assert secret not in repr(withheld) and withheld.audit[-1].reason is None
    # its own text and the system's (ours, naming nobody) stay readable
    assert [a.reason for a in withheld.audit[-3:-1]] == ["our own note", "customer protected"]
    shared = visibility.registration(acme, _rejected("客户资料不全，请补充联系人", shared=True))
    assert shared.audit[-1].reason == "客户资料不全，请补充联系人"
    # staff read every reason
    assert visibility.registration(STAFF, _rejected(secret, shared=None)).audit[-1].reason == secret


def test_a_partner_event_carries_a_managers_reason_only_when_it_was_shared():
    evt = {**_conflict_event(), "id": "reg_beta1:7", "type": "registration.rejected",
           "actor": {"kind": "user", "id": "chief"}, "reason": "Acme already has this customer"}
    assert "reason" not in visibility.event(BETA, evt)
    assert visibility.event(BETA, {**evt, "reason_shared": True})["reason"] == "Acme already has this customer"
    assert visibility.event(STAFF, evt)["reason"] == "Acme already has this customer"
    own = {**evt, "actor": {"kind": "partner", "id": "beta"}, "type": "registration.withdrawn", "reason": "mine"}
    assert visibility.event(BETA, own)["reason"] == "mine"


def test_a_partner_keeps_its_own_party_objects_and_loses_everyone_elses():
    """Events name parties as {kind, id} (issue 12 item 16); redaction compares kind and id."""
    warning = {"id": "reg_beta1:warn:x:7", "type": "ownership.warning", "subject": "reg_beta1",
               "actor": {"kind": "system", "id": "reclaimer"}, "owner": {"kind": "partner", "id": "beta"},
               "team_id": "channel", "notify": ["northboss"], "due_at": "2026-12-08T00:00:00Z",
               "reason": "protection_expired", "days_left": 7}
    assert visibility.event(BETA, warning)["owner"] == {"kind": "partner", "id": "beta"}
    assert "owner" not in visibility.event(Viewer("partner", "acme"), warning)
    # a user who happens to have the partner's id is not the partner
    as_user = {**warning, "owner": {"kind": "user", "id": "beta"}}
    assert "owner" not in visibility.event(BETA, as_user)
    own = {**_conflict_event(), "type": "registration.approved", "id": "reg_beta1:3"}
    own["registration"] = {**own["registration"], "owner": {"kind": "partner", "id": "beta"}}
    assert visibility.event(BETA, own)["registration"]["owner"] == {"kind": "partner", "id": "beta"}
    held_by_rep = {**own, "registration": {**own["registration"], "owner": {"kind": "user", "id": "lihold"}}}
    assert "owner" not in visibility.event(BETA, held_by_rep)["registration"]


def test_a_partner_never_sees_a_team_id_not_even_its_own_channel_teams():
    """The vendor's org structure is internal: its own registration's events, an ownership notice about its own
    holding and its registration read carry no ``team_id`` for a partner; staff keep it."""
    import json
    from datetime import UTC, datetime
    from pathlib import Path

    from chalicelib.domain.registration import new_registration
    from schemas.common import Actor
    from schemas.registration import RegistrationCreate, Source

    own = {**_conflict_event(), "type": "registration.approved", "id": "reg_beta1:3", "team_id": "channel"}
    seen = visibility.event(BETA, own)
    assert "channel" not in repr(seen) and "team_id" not in seen and "team_id" not in seen["registration"]
    warning = {"id": "w", "type": "ownership.warning", "subject": "reg_beta1", "actor": {"kind": "system", "id": "r"},
               "owner": {"kind": "partner", "id": "beta"}, "team_id": "channel", "days_left": 3}
    assert "team_id" not in visibility.event(BETA, warning)
    assert visibility.event(STAFF, own)["registration"]["team_id"] == "channel"
    example = json.loads((Path(__file__).resolve().parents[3] / "examples" / "opportunity.json").read_text())
    payload = RegistrationCreate.model_validate(example["data"])
    reg = new_registration(payload, reg_id="reg_beta1", source=Source.PARTNER, partner_id="beta", team_id="channel",
                           submitter=Actor(kind=PrincipalKind.PARTNER, id="beta"), now=datetime(2026, 12, 1, tzinfo=UTC))
    assert visibility.registration(BETA, reg).team_id is None
    assert visibility.registration(STAFF, reg).team_id == "channel"
