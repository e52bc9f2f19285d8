"""Building a registration from what a partner or rep submitted. Pure: no I/O, time passed in."""
from __future__ import annotations

import secrets
from datetime import datetime

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
    """Time-ordered id: 12 hex digits of epoch milliseconds, then 16 random hex digits."""
    return f"{prefix}_{int(now.timestamp() * 1000):012x}{secrets.token_hex(8)}"


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
    first = AuditEntry(seq=1, at=now, actor=submitter, action="submitted", to_status=RegistrationStatus.SUBMITTED)
    given = payload.__dict__
    values = {name: given[name] for name in _PAYLOAD_FIELDS}
    values.update(
        id=reg_id,
        status=RegistrationStatus.SUBMITTED,
        source=Source(source),
        submitter=submitter,
        partner_id=partner_id,
        team_id=team_id,
        customer_key=customer_key(payload.customer),
        created_at=now,
        updated_at=now,
        version=1,
        audit=[first],
    )
    return _construct(values)


# What ``new_registration`` sets, and every other field of a Registration with its (plain) default, in field order.
_SET_HERE = frozenset((*_PAYLOAD_FIELDS, "id", "status", "source", "submitter", "partner_id", "team_id",
                       "customer_key", "created_at", "updated_at", "version", "audit"))
_LAYOUT = tuple((name, name in _SET_HERE, field.default) for name, field in Registration.model_fields.items())
if (not set(Registration.model_fields) >= _SET_HERE or Registration.__pydantic_post_init__
        or Registration.model_config.get("extra") == "allow"
        or any(not set_here and (field.is_required() or field.default_factory is not None)
               for (_, set_here, _), field in zip(_LAYOUT, Registration.model_fields.values(), strict=True))):
    raise RuntimeError("Registration changed: new_registration's construction no longer matches model_construct")


def _construct(values: dict) -> Registration:
    """``Registration.model_construct(**values)`` for exactly the fields in ``_SET_HERE``."""
    reg = Registration.__new__(Registration)
    object.__setattr__(reg, "__dict__", {name: values[name] if set_here else default
                                         for name, set_here, default in _LAYOUT})
    object.__setattr__(reg, "__pydantic_fields_set__", set(_SET_HERE))
    object.__setattr__(reg, "__pydantic_extra__", None)
    object.__setattr__(reg, "__pydantic_private__", None)
    return reg
