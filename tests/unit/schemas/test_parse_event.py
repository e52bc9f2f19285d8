"""``schemas.events.parse_event``: the queue functions' parser gives what the union adapter gives."""
from __future__ import annotations

import json
import typing

import pytest
from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, EVENT_TYPES, DomainEvent, parse_event

BASE = {"id": "reg_1:1", "subject": "reg_1", "occurred_at": "2026-01-01T00:00:00Z",
        "actor": {"kind": "system", "id": "t"},
        "registration": {"id": "reg_1", "status": "submitted", "source": "partner",
                         "submitter": {"kind": "partner", "id": "acme"}, "customer_key": "k",
                         "customer_name": "深圳市腾讯计算机系统有限公司", "project_title": "x",
                         "expected_amount": "3800000.00", "currency": "CNY", "version": 1}}


def test_every_type_it_accepts_is_one_of_the_union():
    union = typing.get_args(typing.get_args(DomainEvent)[0])
    assert set(EVENT_TYPES.values()) == set(union)


@pytest.mark.parametrize(("kind", "extra"), [
    ("registration.submitted", {}), ("registration.approved", {"to_status": "approved"}),
    ("registration.stage_changed", {"from_stage": "lead", "to_stage": "qualification"}),
])
def test_same_event_as_the_union_adapter(kind, extra):
    body = json.dumps({**BASE, "type": kind, **extra})
    got = parse_event(body)
    assert type(got) is type(EVENT_ADAPTER.validate_json(body))
    assert got == EVENT_ADAPTER.validate_json(body)


@pytest.mark.parametrize("body", [
    "not json", "[]", json.dumps({**BASE, "type": "no.such.event"}), json.dumps(BASE),
    json.dumps({**BASE, "type": "registration.submitted", "nonsense": True}),
    json.dumps({**BASE, "type": "registration.submitted", "occurred_at": "yesterday"}),
])
def test_refuses_what_the_union_adapter_refuses(body):
    with pytest.raises(ValueError):
        EVENT_ADAPTER.validate_json(body)
    with pytest.raises(ValueError):
        parse_event(body)


def test_a_bad_shape_is_pydantics_error_with_its_paths():
    with pytest.raises(ValidationError) as err:
        parse_event(json.dumps({**BASE, "type": "registration.submitted", "nonsense": True}))
    assert [e["loc"] for e in err.value.errors()] == [("nonsense",)]
