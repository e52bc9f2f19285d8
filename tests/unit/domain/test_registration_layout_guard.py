"""``new_registration`` builds a Registration as ``model_construct`` does, sharing each unset field's default among
all registrations (``domain.registration._REGISTRATION_TEMPLATE``, copied per registration). The import-time guard refuses a model where that would differ
— now also a plain mutable default (``tags: list[str] = []``), which pydantic copies per instance and the template's
copy would not (one list for every registration)."""
from __future__ import annotations

import pytest
from pydantic import Field

from chalicelib.domain.registration import _SET_HERE, _check_layout
from schemas.registration import Registration, RegistrationStatus


def test_the_current_registration_passes():
    _check_layout(Registration, _SET_HERE)


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
        _check_layout(model, _SET_HERE)


class _Immutable(Registration):
    note: str | None = None
    labels: tuple[str, ...] = ()
    weight: float = 1.0
    urgent: bool = False
    stage_hint: RegistrationStatus = RegistrationStatus.SUBMITTED
    codes: frozenset[str] = frozenset({"a"})


def test_immutable_defaults_are_shared_safely():
    _check_layout(_Immutable, _SET_HERE)


def test_a_field_new_registration_sets_may_not_disappear():
    with pytest.raises(RuntimeError):
        _check_layout(Registration, _SET_HERE | {"no_such_field"})
