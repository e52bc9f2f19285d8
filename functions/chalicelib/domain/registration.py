"""Building a registration from what a partner or rep submitted. Pure: no I/O, time passed in."""
from __future__ import annotations

import os
from datetime import datetime
from enum import Enum
from operator import itemgetter
from typing import TypeVar

from pydantic import BaseModel

from chalicelib.domain import names
from schemas.common import Actor, RegistryScheme
from schemas.registration import (
    AuditEntry,
    Customer,
    Registration,
    RegistrationCreate,
    RegistrationStatus,
    Source,
)

# Strongest identity first: a registry id names exactly one legal entity; a name is a best effort.
_ID_PRIORITY = (RegistryScheme.USCC, RegistryScheme.LEI, RegistryScheme.GB_COH, RegistryScheme.TW_UBN,
                RegistryScheme.DUNS)


_PAYLOAD_FIELDS = tuple(RegistrationCreate.model_fields)


def new_id(prefix: str, now: datetime) -> str:
    """Time-ordered id: 12 hex digits of epoch milliseconds, then 16 random hex digits (``os.urandom``, what
    ``secrets.token_hex`` reads, without its two wrapper calls; session 9)."""
    return f"{prefix}_{int(now.timestamp() * 1000):012x}{os.urandom(8).hex()}"


def customer_key(customer: Customer) -> str:
    """The customer's identity key: its strongest registry id, else its normalised name."""
    by_scheme = {rid.scheme: rid.value for rid in customer.registry_ids}
    for scheme in _ID_PRIORITY:
        if scheme in by_scheme:
            return f"{scheme.value}:{by_scheme[scheme]}"
    return "name:" + (names.name_key(customer.name) or customer.name.strip().casefold())


def new_registration(
    payload: RegistrationCreate,
    *,
    reg_id: str,
    source: Source,
    submitter: Actor,
    now: datetime,
    partner_id: str | None = None,
    team_id: str | None = None,
) -> Registration:
    """A freshly submitted registration, with the first audit line.

    ``payload`` was validated when the request was parsed: the registration is built from its validated parts,
    not validated a second time (issue 15 item 2: that doubled the intake's CPU). What is added here comes from
    our own code, typed; ``source`` is taken as its enum either way. Built as ``Registration.model_construct``
    builds it (the same ``__dict__``, field order and ``model_fields_set``), without its per-field search for
    aliases and defaults (issue 15 item 2, session 7: two thirds of this function's CPU).
    """
    values = _REGISTRATION_TEMPLATE.copy()  # every field in field order, at its default
    values.update(zip(_PAYLOAD_FIELDS, _payload_values(payload.__dict__), strict=True))
    values.update(
        id=reg_id,
        status=RegistrationStatus.SUBMITTED,
        source=source if type(source) is Source else Source(source),  # the enum's call runs Python code
        submitter=submitter,
        partner_id=partner_id,
        team_id=team_id,
        customer_key=customer_key(payload.customer),
        created_at=now,
        updated_at=now,
        version=1,
        audit=[_submitted_line(now, submitter)],
    )
    return _built(Registration, values, _SET_HERE)


_Model = TypeVar("_Model", bound=BaseModel)


def _built(model: type[_Model], values: dict, fields_set: frozenset[str]) -> _Model:
    """An instance of ``model`` with ``values`` as its ``__dict__`` (every field, in field order) and ``fields_set``
    set, as ``model_construct`` and validation leave it (the templates' guard, :func:`_check_layout`, keeps that
    true)."""
    made = model.__new__(model)
    object.__setattr__(made, "__dict__", values)
    object.__setattr__(made, "__pydantic_fields_set__", set(fields_set))
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


_payload_values = itemgetter(*_PAYLOAD_FIELDS)
_AUDIT_SET = frozenset(("seq", "at", "actor", "action", "to_status"))
_AUDIT_TEMPLATE = {name: field.default for name, field in AuditEntry.model_fields.items()}


def _submitted_line(now: datetime, submitter: Actor) -> AuditEntry:
    """``AuditEntry(seq=1, at=now, actor=submitter, action="submitted", to_status=SUBMITTED)``: for a datetime and
    an Actor (what our code passes) validation keeps each value as it is, so the entry is built as validation
    builds it (the same ``__dict__`` in field order, the same fields set) without running it (issue 15 item 2,
    session 8: ~20k instructions per webhook); anything else is validated."""
    if type(now) is not datetime or type(submitter) is not Actor:
        return AuditEntry(seq=1, at=now, actor=submitter, action="submitted", to_status=RegistrationStatus.SUBMITTED)
    values = _AUDIT_TEMPLATE.copy()
    values.update(seq=1, at=now, actor=submitter, action="submitted", to_status=RegistrationStatus.SUBMITTED)
    return _built(AuditEntry, values, _AUDIT_SET)


# What ``new_registration`` sets, and every other field of a Registration with its (plain) default, in field order.
_SET_HERE = frozenset((*_PAYLOAD_FIELDS, "id", "status", "source", "submitter", "partner_id", "team_id",
                       "customer_key", "created_at", "updated_at", "version", "audit"))


def _shareable(value: object) -> bool:
    """A default every registration may share (immutable): pydantic copies any other default per instance, and
    the templates below do not — a ``[]`` or ``{}`` default would be one list for all registrations."""
    if value is None or isinstance(value, (str, bytes, int, float, Enum)):  # bool is an int
        return True
    return isinstance(value, (tuple, frozenset)) and all(_shareable(v) for v in value)


def _validators(model: type) -> set[str]:
    """The names of a model's field and model validators (v2 and v1 style)."""
    found = model.__pydantic_decorators__  # type: ignore[attr-defined]
    return {*found.field_validators, *found.model_validators, *found.validators, *found.root_validators}


def _check_layout(model: type, set_here: frozenset[str], validated_as: type | None = None) -> None:
    """Refuse a ``model`` that its template would build differently from ``model_construct`` (checked at import: a
    model change fails loudly instead of building a different object): a field set here is gone, a post-init hook
    or extra fields, a field left to its default that is required, has a default factory or a default that is
    not immutable (:func:`_shareable`) — or a validator the template would skip: only those the values already
    passed as ``validated_as`` (the submitted payload's model) may be on it."""
    fields = model.model_fields  # type: ignore[attr-defined]
    if not _validators(model) <= (_validators(validated_as) if validated_as else set()):
        raise RuntimeError(f"{model.__name__} changed: it has a validator new_registration's construction would skip")
    if (not set(fields) >= set_here or model.__pydantic_post_init__  # type: ignore[attr-defined]
            or model.model_config.get("extra") == "allow"  # type: ignore[attr-defined]
            or any(name not in set_here and (f.is_required() or f.default_factory is not None
                                             or not _shareable(f.default)) for name, f in fields.items())):
        raise RuntimeError(f"{model.__name__} changed: new_registration's construction no longer matches "
                           "model_construct")


_check_layout(Registration, _SET_HERE, validated_as=RegistrationCreate)
_check_layout(AuditEntry, _AUDIT_SET)
# Every field with its (plain) default, in field order; new_registration copies it and sets _SET_HERE's values (an
# update keeps a key's place), which is what ``Registration.model_construct`` builds for exactly those fields.
_REGISTRATION_TEMPLATE = {name: field.default for name, field in Registration.model_fields.items()}
