"""Duplicate and conflict detection (撞单): the verdict, and the live pre-check's request and answers."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from schemas.common import Actor, Strict
from schemas.registration import Customer, Email, Phone


class DedupOutcome(StrEnum):
    """``clear``: no other registration of this customer. ``may_claim``: the same customer, nobody holds it.
    ``duplicate``: you already have it. ``conflict``: another owner holds it (review with the evidence)."""

    CLEAR = "clear"
    MAY_CLAIM = "may_claim"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


class RuleAction(StrEnum):
    BLOCK = "block"
    FLAG = "flag"
    ALLOW_WITH_ALERT = "allow_with_alert"


class DuplicateCandidate(Strict):
    """A customer that resembles the one checked, with the evidence."""

    customer_key: str
    name: str
    score: float = Field(ge=0, le=100, description="Name similarity, 0-100")
    rule: str | None = Field(default=None, description="The strongest matching rule that fired")
    action: RuleAction | None = None
    matched_fields: list[str] = Field(default_factory=list)
    registration_ids: list[str] = Field(default_factory=list, description="Active registrations of this customer")


class DedupVerdict(Strict):
    """The duplicate/conflict verdict on a registration, or a pre-check's answer for staff."""

    registration_id: str | None = None
    outcome: DedupOutcome
    duplicate: bool = Field(description="True for duplicate or conflict: the customer is already registered")
    conflict: bool
    action: RuleAction | None = None
    rule: str | None = None
    duplicate_of: str | None = None
    conflict_with: list[str] = Field(default_factory=list)
    holder: Actor | None = Field(default=None, description="Who holds the conflicting registration (staff only)")
    earlier: list[str] = Field(default_factory=list, description="Earlier active registrations nobody holds yet")
    first_claim: bool | None = None
    candidates: list[DuplicateCandidate] = Field(default_factory=list)
    computed_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _stored_before_holder(cls, data: Any) -> Any:
        # Verdicts stored before the holder became {kind, id} carry a bare ``holder_id`` whose kind is unknown:
        # it is dropped rather than guessed (``conflict_with`` still names the registrations).
        if isinstance(data, dict) and "holder_id" in data:
            data = {k: v for k, v in data.items() if k != "holder_id"}
        return data


class DuplicateCheckRequest(Strict):
    """``POST /v1/duplicates/check``: the customer (as in a registration) and, optionally, the products."""

    customer: Customer
    products: list[str] = Field(default_factory=list, max_length=50)
    contact_emails: list[Email] = Field(default_factory=list, max_length=20)
    contact_phones: list[Phone] = Field(default_factory=list, max_length=20)


class DedupAnswer(Strict):
    """The answer of ``POST /v1/duplicates/check`` and ``GET /v1/registrations/{id}/verdict``.

    ``answer`` is all a partner learns (``verdict`` is left out for partners), so a partner's answer is the
    same bytes whoever holds the deal and whatever its details. Staff also get the ``verdict`` with the
    candidates and the rule that fired.
    """

    answer: Literal["free", "yours", "protected"]
    verdict: DedupVerdict | None = None
