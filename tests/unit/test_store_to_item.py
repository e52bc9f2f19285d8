"""``store.registrations.to_item`` stores the payload without validating it again (issue 15 item 2)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.domain.registration import new_registration
from chalicelib.store import registrations
from schemas.common import Actor
from schemas.registration import RegistrationCreate

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "opportunity.json").read_text())["data"]


def _variants():
    yield EXAMPLE
    yield {"customer": {"name": "Acme GmbH"}, "contacts": EXAMPLE["contacts"][1:], "project": EXAMPLE["project"]}
    yield {**EXAMPLE, "competitors": [], "external_ref": None,
           "customer": {**EXAMPLE["customer"], "name": "  ACME Holdings, Inc. ", "website": "https://www.acme.example/"}}


@pytest.mark.parametrize("body", list(_variants()))
def test_the_stored_payload_is_what_validating_it_again_gives(body, monkeypatch):
    reg = new_registration(RegistrationCreate.model_validate(body), reg_id="reg_t", source="partner",
                           submitter=Actor(kind="partner", id="acme"), now=datetime.now(UTC), partner_id="acme")
    calls = []
    original = RegistrationCreate.model_validate.__func__
    monkeypatch.setattr(RegistrationCreate, "model_validate",
                        classmethod(lambda cls, *a, **k: calls.append(1) or original(cls, *a, **k)))
    data = registrations.to_item(reg).data
    assert calls == []  # not validated a second time
    expected = RegistrationCreate.model_validate(reg.model_dump(include=set(RegistrationCreate.model_fields)))
    assert data == expected.model_dump(mode="json")
    assert RegistrationCreate.model_validate(data) == expected  # and it reads back
