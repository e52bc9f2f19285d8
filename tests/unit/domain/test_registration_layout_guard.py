"""``new_registration`` builds a Registration as ``model_construct`` does, sharing each unset field's default among
all registrations (``domain.registration._REGISTRATION_TEMPLATE``, copied per registration). The import-time guard refuses a model where that would differ
— now also a plain mutable default (``tags: list[str] = []``), which pydantic copies per instance and the template's
copy would not (one list for every registration)."""
from __future__ import annotations

import pytest
from pydantic import Field, field_validator, model_validator

from chalicelib.domain.registration import _AUDIT_SET, _SET_HERE, _check_layout
from schemas.registration import AuditEntry, Registration, RegistrationCreate, RegistrationStatus


def test_the_current_registration_passes():
    _check_layout(Registration, _SET_HERE, validated_as=RegistrationCreate)


class _ListDefault(Registration):
    tags: list[str] = []  # noqa: RUF012 - the very thing the guard must refuse


class _DictDefault(Registration):
    extra_facts: dict[str, str] = {}  # noqa: RUF012


class _NestedMutable(Registration):
    pairs: tuple[list[str], ...] = ([],)


class _Factory(Registration):
    tags: list[str] = Field(default_factory=list)


class _Required(Registration):
    region_code: str


@pytest.mark.parametrize("model", [_ListDefault, _DictDefault, _NestedMutable, _Factory, _Required])
def test_a_default_registrations_could_not_share_is_refused(model):
    with pytest.raises(RuntimeError, match="no longer matches model_construct"):
        _check_layout(model, _SET_HERE, validated_as=RegistrationCreate)


class _Immutable(Registration):
    note: str | None = None
    labels: tuple[str, ...] = ()
    weight: float = 1.0
    urgent: bool = False
    stage_hint: RegistrationStatus = RegistrationStatus.SUBMITTED
    codes: frozenset[str] = frozenset({"a"})


def test_immutable_defaults_are_shared_safely():
    _check_layout(_Immutable, _SET_HERE, validated_as=RegistrationCreate)


def test_a_field_new_registration_sets_may_not_disappear():
    with pytest.raises(RuntimeError):
        _check_layout(Registration, _SET_HERE | {"no_such_field"}, validated_as=RegistrationCreate)


class _FieldValidated(Registration):
    @field_validator("partner_id")
    @classmethod
    def _known_partner(cls, value):
        return value


class _ModelValidated(AuditEntry):
    @model_validator(mode="after")
    def _in_order(self):
        return self


def test_a_validator_the_construction_would_skip_is_refused():
    """Review of session 8: the registration and its first audit line are built without validation; a validator
    added to either would be skipped silently. Only those the submitted payload already passed may be there."""
    with pytest.raises(RuntimeError, match="validator"):
        _check_layout(_FieldValidated, _SET_HERE, validated_as=RegistrationCreate)
    with pytest.raises(RuntimeError, match="validator"):
        _check_layout(_ModelValidated, _AUDIT_SET)
    with pytest.raises(RuntimeError, match="validator"):  # the payload's contacts rule, not passed as the payload
        _check_layout(Registration, _SET_HERE)
    _check_layout(AuditEntry, _AUDIT_SET)
