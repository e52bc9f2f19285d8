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
                             "owner_id": None, "team_id": "channel", "customer_key": "k", "customer_name": "腾讯",
                             "project_title": "beta's project", "expected_amount": "1", "currency": "CNY",
                             "version": 1},
            "conflict_with": ["reg_acme1"], "holder_id": "acme", "notify": ["northboss"], "recipients": [],
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
                "registration": {**evt["registration"], "owner_id": "lihold"}, "previous_owner_id": "beta",
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
