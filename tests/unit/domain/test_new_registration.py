"""``new_registration`` builds the registration from the validated payload without validating it again, and the
result is the registration validating it again gave (issue 15 item 2)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.domain.registration import new_registration
from schemas.common import Actor
from schemas.registration import AuditEntry, Registration, RegistrationCreate, RegistrationStatus, Source

EXAMPLE = json.loads((Path(__file__).resolve().parents[3] / "examples" / "opportunity.json").read_text())["data"]
NOW = datetime(2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC)


def _variants():
    yield EXAMPLE
    yield {"customer": {"name": "Acme GmbH"}, "contacts": EXAMPLE["contacts"][1:], "project": EXAMPLE["project"]}
    yield {**EXAMPLE, "competitors": [], "external_ref": None,
           "customer": {**EXAMPLE["customer"], "name": "  ACME Holdings, Inc. ", "website": "https://www.acme.example/",
                        "registry_ids": [{"scheme": "uscc", "value": " 91440300708461136t "}]},
           "project": {**EXAMPLE["project"], "expected_amount": {"amount": 1200.5, "currency": "EUR"}}}


def _as_main_built_it(payload: RegistrationCreate, submitter: Actor, source: Source, **kw) -> Registration:
    """What main did: dump the payload and validate the whole registration again."""
    from chalicelib.domain.registration import customer_key

    first = AuditEntry(seq=1, at=NOW, actor=submitter, action="submitted", to_status=RegistrationStatus.SUBMITTED)
    return Registration(**payload.model_dump(), id="reg_t", status=RegistrationStatus.SUBMITTED, source=source,
                        submitter=submitter, customer_key=customer_key(payload.customer), created_at=NOW,
                        updated_at=NOW, version=1, audit=[first], **kw)


@pytest.mark.parametrize("body", list(_variants()))
def test_the_registration_is_what_validating_again_gave_and_is_not_validated_again(body, monkeypatch):
    payload = RegistrationCreate.model_validate(body)
    submitter = Actor(kind="partner", id="acme")
    expected = _as_main_built_it(payload, submitter, Source.PARTNER, partner_id="acme", team_id="channel")
    validated: list[object] = []
    original = Registration.__init__
    monkeypatch.setattr(Registration, "__init__", lambda self, **kw: validated.append(kw) or original(self, **kw))
    reg = new_registration(payload, reg_id="reg_t", source=Source.PARTNER, submitter=submitter, now=NOW,
                           partner_id="acme", team_id="channel")
    assert validated == []  # built, not validated a second time
    assert reg == expected
    assert reg.model_fields_set == expected.model_fields_set
    assert reg.model_dump(mode="json") == expected.model_dump(mode="json")
    assert reg.model_dump_json() == expected.model_dump_json()
    assert Registration.model_validate(reg.model_dump()) == reg  # and it reads back as it is


def test_the_source_is_its_enum_even_when_given_as_text():
    reg = new_registration(RegistrationCreate.model_validate(EXAMPLE), reg_id="reg_t", source="rep",  # type: ignore[arg-type]
                           submitter=Actor(kind="user", id="wang"), now=NOW)
    assert reg.source is Source.REP
    assert reg.customer_key == "uscc:91440300708461136T"


@pytest.mark.parametrize("body", list(_variants()))
def test_the_registration_is_exactly_what_model_construct_builds(body, monkeypatch):
    """Session 7: built without ``model_construct``'s per-field search, yet the same object it builds: the same
    ``__dict__`` in the same field order, the same fields set, no extra, no private state; and a new set each."""
    from chalicelib.domain.registration import customer_key

    payload = RegistrationCreate.model_validate(body)
    submitter = Actor(kind="partner", id="acme")
    kw = {"reg_id": "reg_t", "source": Source.PARTNER, "submitter": submitter, "now": NOW, "partner_id": "acme",
          "team_id": None}
    first = AuditEntry(seq=1, at=NOW, actor=submitter, action="submitted", to_status=RegistrationStatus.SUBMITTED)
    expected = Registration.model_construct(
        **{name: getattr(payload, name) for name in RegistrationCreate.model_fields}, id="reg_t",
        status=RegistrationStatus.SUBMITTED, source=Source.PARTNER, submitter=submitter, partner_id="acme",
        team_id=None, customer_key=customer_key(payload.customer), created_at=NOW, updated_at=NOW, version=1,
        audit=[first])
    monkeypatch.setattr(Registration, "model_construct", classmethod(lambda cls, **kw: pytest.fail("searched")))
    reg, again = new_registration(payload, **kw), new_registration(payload, **kw)
    assert type(reg) is Registration
    assert list(reg.__dict__.items()) == list(expected.__dict__.items())
    assert reg.__pydantic_fields_set__ == expected.__pydantic_fields_set__
    assert reg.__pydantic_fields_set__ is not again.__pydantic_fields_set__
    assert (reg.__pydantic_extra__, reg.__pydantic_private__) == (expected.__pydantic_extra__,
                                                                  expected.__pydantic_private__)
    assert reg.model_dump_json() == expected.model_dump_json()
    assert reg.model_dump(exclude_unset=True) == expected.model_dump(exclude_unset=True)


def test_the_first_audit_line_is_what_validation_builds_without_validating(monkeypatch):
    """Session 8: the ``submitted`` line is built from a template, the same object validation builds (the same
    ``__dict__`` in field order with the very values passed, the same fields set, no extra, no private state) for
    2,000 generated times (aware at any offset, naive, any microsecond) and submitters; a value of another type is
    still validated; and new_registration validates no audit line (fails if that cost comes back)."""
    import random
    from datetime import timedelta, timezone

    from chalicelib.domain.registration import _submitted_line

    rng = random.Random(152)
    for _ in range(2_000):
        tz = rng.choice((UTC, None, timezone(timedelta(minutes=rng.randint(-1439, 1439)))))
        now = datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                       rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999_999), tzinfo=tz)
        submitter = Actor(kind=rng.choice(("partner", "user", "system")), id=f"id{rng.getrandbits(20)}")
        expected = AuditEntry(seq=1, at=now, actor=submitter, action="submitted",
                              to_status=RegistrationStatus.SUBMITTED)
        line = _submitted_line(now, submitter)
        assert type(line) is AuditEntry
        assert list(line.__dict__.items()) == list(expected.__dict__.items())
        assert line.at is expected.at is now and line.actor is expected.actor is submitter
        assert line.__pydantic_fields_set__ == expected.__pydantic_fields_set__
        assert (line.__pydantic_extra__, line.__pydantic_private__) == (None, None) == (
            expected.__pydantic_extra__, expected.__pydantic_private__)
        assert line == expected and line.model_dump_json() == expected.model_dump_json()
    # not a datetime: validated as before (a text time is parsed; a wrong value refused)
    parsed = _submitted_line("2026-12-06T10:00:00Z", Actor(kind="user", id="wang"))  # type: ignore[arg-type]
    assert parsed.at == datetime(2026, 12, 6, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        _submitted_line("not a time", Actor(kind="user", id="wang"))  # type: ignore[arg-type]

    monkeypatch.setattr(AuditEntry, "__init__", lambda self, **kw: pytest.fail("audit line validated"))
    reg = new_registration(RegistrationCreate.model_validate(EXAMPLE), reg_id="reg_t", source=Source.PARTNER,
                           submitter=Actor(kind="partner", id="acme"), now=NOW, partner_id="acme")
    assert reg.audit[0].at is NOW and reg.audit[0].seq == 1


def test_a_new_id_is_the_millisecond_stamp_and_sixteen_random_hex_digits(monkeypatch):
    """``new_id`` reads its 8 random bytes from ``os.urandom`` (what ``secrets.token_hex`` read; session 9)."""
    import os
    import re
    from datetime import UTC, datetime

    from chalicelib.domain import registration

    at = datetime(2026, 12, 6, 23, 0, 0, 123456, tzinfo=UTC)
    ids = {registration.new_id("reg", at) for _ in range(1_000)}
    assert len(ids) == 1_000
    stamp = f"{int(at.timestamp() * 1000):012x}"
    assert all(re.fullmatch(f"reg_{stamp}[0-9a-f]{{16}}", i) for i in ids)
    monkeypatch.setattr(os, "urandom", lambda n: bytes(range(n)))
    assert registration.new_id("reg", at) == f"reg_{stamp}0001020304050607"
