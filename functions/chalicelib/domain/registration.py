"""Building a registration from what a partner or rep submitted. Pure: no I/O, time passed in."""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

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
    first = _AUDIT_LINE(seq=1, at=now, actor=submitter, action="submitted", to_status=RegistrationStatus.SUBMITTED)
    given = payload.__dict__
    return _REGISTRATION(
        **{name: given[name] for name in _PAYLOAD_FIELDS},
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


class _Constructor:
    """``cls.model_construct(**values)`` for values of exactly the fields ``set_here`` (the rest take their plain
    defaults): the same ``__dict__`` in field order, ``model_fields_set``, no extra or private state, from a template
    copied in C instead of model_construct's per-field search for aliases and defaults (issue 15 item 2, session 7).
    Refuses at import a model it could not build that way (a default factory, a required field left out, ...)."""

    def __init__(self, cls: Any, set_here: frozenset[str]) -> None:
        fields = cls.model_fields
        left = [field for name, field in fields.items() if name not in set_here]
        if (not set(fields) >= set_here or cls.__pydantic_post_init__ or cls.model_config.get("extra") == "allow"
                or any(field.is_required() or field.default_factory is not None for field in left)):
            raise RuntimeError(f"{cls.__name__} changed: it can no longer be built as model_construct builds it")
        self.cls, self.set_here = cls, set_here
        self.template = {name: None if name in set_here else field.default for name, field in fields.items()}

    def __call__(self, **values: Any) -> Any:
        built = self.template.copy()  # field order kept: every key is already there
        built.update(values)
        if len(values) != len(self.set_here) or len(built) != len(self.template):
            raise TypeError(f"{self.cls.__name__}: exactly {sorted(self.set_here)} are set here")
        obj = self.cls.__new__(self.cls)
        object.__setattr__(obj, "__dict__", built)
        object.__setattr__(obj, "__pydantic_fields_set__", set(self.set_here))
        object.__setattr__(obj, "__pydantic_extra__", None)
        object.__setattr__(obj, "__pydantic_private__", None)
        return obj


_REGISTRATION = _Constructor(Registration, frozenset((
    *_PAYLOAD_FIELDS, "id", "status", "source", "submitter", "partner_id", "team_id", "customer_key", "created_at",
    "updated_at", "version", "audit")))
# The first audit line, from our own typed values (validating it was a quarter of this function's CPU).
_AUDIT_LINE = _Constructor(AuditEntry, frozenset(("seq", "at", "actor", "action", "to_status")))
