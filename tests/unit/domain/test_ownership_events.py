"""Ownership moves become their own domain events (issue 4), derived from the audit lines like every other."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import events, notifications
from schemas.common import Actor, PrincipalKind
from schemas.registration import AuditEntry, Registration, RegistrationStatus as S
from tests.unit.domain.test_workflow_events_access import _reg

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MGR = Actor(kind=PrincipalKind.USER, id="mgr-1")


def _held(owner: str, seq_after: int = 0) -> Registration:
    reg = _reg()
    audit = list(reg.audit)
    for _ in range(seq_after):
        audit.append(AuditEntry(seq=len(audit) + 1, at=NOW, actor=MGR, action="noted"))
    return reg.model_copy(update={"status": S.APPROVED, "owner": Actor(kind=PrincipalKind.USER, id=owner), "team_id": "south", "audit": audit})


def _append(reg: Registration, **entry) -> Registration:
    line = AuditEntry(seq=reg.audit[-1].seq + 1, at=NOW + timedelta(minutes=1), actor=MGR, **entry)
    return reg.model_copy(update={"audit": [*reg.audit, line], "version": reg.version + 1})


@pytest.mark.parametrize("entry, expected", [
    ({"action": "transferred", "reason": "user:wang -> user:li"}, "registration.transferred"),
    ({"action": "offboarded", "reason": "offboarding user:wang -> user:li"}, "registration.transferred"),
    ({"action": "offboarded", "reason": "offboarding user:wang", "from_status": S.APPROVED,
      "to_status": S.RECLAIMED}, "registration.reclaimed"),
    ({"action": "extended", "reason": "+30 days"}, "registration.extended"),
    ({"action": "claimed", "from_status": S.RECLAIMED, "to_status": S.APPROVED}, "registration.claimed"),
    ({"action": "assigned", "from_status": S.RECLAIMED, "to_status": S.APPROVED}, "registration.assigned"),
    ({"action": "granted", "from_status": S.PENDING_REVIEW, "to_status": S.APPROVED}, "registration.approved"),
    ({"action": "followed_up"}, None),
])
def test_each_ownership_line_maps_to_one_event_type(entry, expected):
    assert events.event_type(AuditEntry(seq=9, at=NOW, actor=MGR, **entry)) == expected


def test_a_transfer_event_names_the_previous_owner_and_reaches_both_owners_and_the_team():
    old = _held("wang")
    new = _append(old, action="transferred", reason="user:wang -> user:li").model_copy(update={"owner": Actor(kind=PrincipalKind.USER, id="li")})
    [evt] = events.events_for_change(old, new)
    assert (evt.type, evt.previous_owner, evt.registration.owner) == (
        "registration.transferred", Actor(kind=PrincipalKind.USER, id="wang"), Actor(kind=PrincipalKind.USER, id="li"))
    data = evt.model_dump(mode="json")
    assert data["previous_owner"] == {"kind": "user", "id": "wang"} and "previous_owner_id" not in data
    assert data["registration"]["owner"] == {"kind": "user", "id": "li"} and "owner_id" not in data["registration"]
    assert evt.id == f"{new.id}:{new.audit[-1].seq}"
    refs = notifications.audience(evt.model_dump(mode="json"))
    assert refs == ["user:li", "user:wang", "team:south"]


def test_an_extension_reaches_the_owner_only():
    old = _held("wang")
    [evt] = events.events_for_change(old, _append(old, action="extended", reason="+30 days"))
    assert notifications.audience(evt.model_dump(mode="json")) == ["user:wang"]
    assert "+30 days" in notifications.render(evt.model_dump(mode="json"), "en").text


def test_a_version_1_message_still_in_a_queue_reads_as_version_2():
    """Events published before the {kind, id} shape (issue 12 item 16) may sit in a queue or a DLQ at a
    deploy: they parse, with the parties as objects, instead of failing into the DLQ for ever."""
    from schemas.events import EVENT_ADAPTER

    snap = {"id": "reg_1", "status": "approved", "source": "partner", "submitter": {"kind": "partner", "id": "acme"},
            "partner_id": "acme", "owner_id": "acme", "team_id": "south", "customer_key": "k",
            "customer_name": "腾讯", "project_title": "云", "expected_amount": "1", "currency": "CNY", "version": 3}
    base = {"occurred_at": NOW.isoformat(), "subject": "reg_1", "actor": {"kind": "user", "id": "boss"}}
    moved = EVENT_ADAPTER.validate_python({
        **base, "id": "reg_1:4", "type": "registration.transferred",
        "registration": {**snap, "owner_id": "li"}, "previous_owner_id": "acme"})
    assert moved.registration.owner == Actor(kind=PrincipalKind.USER, id="li")
    assert moved.previous_owner == Actor(kind=PrincipalKind.PARTNER, id="acme")
    approved = EVENT_ADAPTER.validate_python({**base, "id": "reg_1:3", "type": "registration.approved",
                                              "registration": snap})
    assert approved.registration.owner == Actor(kind=PrincipalKind.PARTNER, id="acme")
    conflict = EVENT_ADAPTER.validate_python({
        **base, "id": "reg_2:conflict", "type": "registration.conflict_detected", "registration": snap,
        "conflict_with": ["reg_9"], "holder_id": "beta", "recipients": ["partner:beta"], "notify": ["lin"]})
    assert conflict.holder == Actor(kind=PrincipalKind.PARTNER, id="beta")
    assert conflict.recipients == [Actor(kind=PrincipalKind.PARTNER, id="beta")]
    by_rep = EVENT_ADAPTER.validate_python({
        **base, "id": "reg_3:conflict", "type": "registration.conflict_detected", "registration": snap,
        "conflict_with": ["reg_9"], "holder_id": "wang", "notify": ["wang"]})
    assert by_rep.holder == Actor(kind=PrincipalKind.USER, id="wang")
    warning = EVENT_ADAPTER.validate_python({
        **base, "id": "reg_1:warn:x:7", "type": "ownership.warning", "owner": "user:wang", "due_at": NOW.isoformat(),
        "reason": "inactivity", "days_left": 7})
    assert warning.owner == Actor(kind=PrincipalKind.USER, id="wang")
    # what is written is version 2 only
    for evt in (moved, approved, conflict, warning):
        text = evt.model_dump_json()
        assert "owner_id" not in text and "holder_id" not in text and '"user:' not in text, text
