"""Pure domain rules: the state machine, event derivation and who sees what."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import access, events, workflow
from chalicelib.domain.access import ListForbiddenError, Principal, Role, list_plan
from chalicelib.domain.registration import customer_key, new_id, new_registration
from schemas.common import Actor, PrincipalKind
from schemas.registration import RegistrationCreate, RegistrationStatus as S, Source
from tests.functional.helpers import EXAMPLE

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
PARTNER = Actor(kind=PrincipalKind.PARTNER, id="acme")
SYSTEM = Actor(kind=PrincipalKind.SYSTEM, id="workflow")


def _reg(**kw):
    payload = RegistrationCreate.model_validate(EXAMPLE["data"])
    return new_registration(payload, reg_id="reg_1", source=Source.PARTNER, submitter=PARTNER, now=NOW,
                            partner_id="acme", **kw)


def test_every_status_has_a_row_and_terminal_states_go_nowhere():
    assert set(workflow.ALLOWED) == set(S)
    for terminal in (S.WITHDRAWN, S.WON, S.LOST):
        for target in S:
            with pytest.raises(workflow.IllegalTransitionError):
                workflow.transition([], terminal, target, actor=SYSTEM, now=NOW, reason="x")


def test_transition_builds_the_next_audit_line_and_requires_reasons():
    reg = _reg()
    entry = workflow.transition(reg.audit, S.SUBMITTED, S.PENDING_REVIEW, actor=SYSTEM, now=NOW)
    assert (entry.seq, entry.from_status, entry.to_status) == (2, S.SUBMITTED, S.PENDING_REVIEW)
    with pytest.raises(workflow.ReasonRequiredError):
        workflow.transition(reg.audit, S.PENDING_REVIEW, S.REJECTED, actor=SYSTEM, now=NOW, reason="  ")
    with pytest.raises(workflow.IllegalTransitionError):
        workflow.transition(reg.audit, S.SUBMITTED, S.APPROVED, actor=SYSTEM, now=NOW)


def test_events_are_derived_only_from_new_audit_entries():
    old = _reg()
    assert [e.type for e in events.events_for_change(None, old)] == ["registration.submitted"]
    assert events.events_for_change(old, old) == []
    entry = workflow.transition(old.audit, S.SUBMITTED, S.PENDING_REVIEW, actor=SYSTEM, now=NOW + timedelta(1))
    new = old.model_copy(update={"status": S.PENDING_REVIEW, "audit": [*old.audit, entry], "version": 2})
    out = events.events_for_change(old, new)
    assert [(e.type, e.id, e.from_status) for e in out] == [
        ("registration.review_requested", "reg_1:2", S.SUBMITTED)]
    assert out[0].registration.status == S.PENDING_REVIEW


def test_customer_key_prefers_registry_ids_then_the_normalised_name():
    reg = _reg()
    assert reg.customer_key == "uscc:91440300708461136T"
    bare = RegistrationCreate.model_validate({**EXAMPLE["data"], "customer": {"name": "Siemens AG"}})
    assert customer_key(bare.customer).startswith("name:")
    other = RegistrationCreate.model_validate({**EXAMPLE["data"], "customer": {"name": "SIEMENS  Aktiengesellschaft"}})
    assert customer_key(bare.customer) == customer_key(other.customer)


def test_ids_are_time_ordered():
    assert new_id("reg", NOW) < new_id("reg", NOW + timedelta(milliseconds=1))


REP = Principal(kind=PrincipalKind.USER, id="rep-1", role=Role.REP, team_id="south")
MANAGER = Principal(kind=PrincipalKind.USER, id="mgr-1", role=Role.MANAGER, team_id="south",
                    managed_team_ids=frozenset({"south"}))
ADMIN = Principal(kind=PrincipalKind.USER, id="admin", role=Role.ADMIN)
ACME = Principal(kind=PrincipalKind.PARTNER, id="acme", role=Role.PARTNER)
GLOBEX = Principal(kind=PrincipalKind.PARTNER, id="globex", role=Role.PARTNER)


def test_read_visibility_by_role():
    partner_reg = _reg(team_id="south")
    assert access.can_read(ACME, partner_reg) and not access.can_read(GLOBEX, partner_reg)
    assert access.can_read(MANAGER, partner_reg) and access.can_read(ADMIN, partner_reg)
    assert not access.can_read(REP, partner_reg)
    owned = partner_reg.model_copy(update={"owner": Actor(kind="user", id="rep-1")})
    assert access.can_read(REP, owned)


def test_list_plans_never_leave_the_callers_partition():
    assert list_plan(ACME, owner=None, status="submitted", team=None) == access.ListPlan("by_submitter", "acme")
    with pytest.raises(ListForbiddenError):
        list_plan(ACME, owner="rep-1", status=None, team=None)
    with pytest.raises(ListForbiddenError):
        list_plan(REP, owner="rep-2", status=None, team=None)
    with pytest.raises(ListForbiddenError):
        list_plan(MANAGER, owner=None, status=None, team="north")
    assert list_plan(MANAGER, owner=None, status=None, team=None) == access.ListPlan("by_team", "south")
    assert list_plan(REP, owner="rep-1", status=None, team=None) == access.ListPlan("by_owner", "rep-1")
    assert list_plan(ADMIN, owner=None, status="approved", team=None) == access.ListPlan("by_status", "approved")
