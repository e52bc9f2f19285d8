"""Small value types used across the public payloads."""
from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas import identifiers

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Strict(BaseModel):
    """Base for public payloads: unknown fields are refused so typos surface as 422, not silent loss."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Money(Strict):
    """An amount in an ISO 4217 currency. Decimal, never float, so amounts survive storage exactly."""

    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
    currency: CurrencyCode


class RegistryScheme(StrEnum):
    """Identifier schemes for companies (org-id.guide style codes)."""

    USCC = "uscc"  # China: 统一社会信用代码 (GB 32100-2015)
    LEI = "lei"  # ISO 17442 Legal Entity Identifier
    GB_COH = "gb-coh"  # UK Companies House number
    TW_UBN = "tw-ubn"  # Taiwan 統一編號
    DUNS = "duns"
    OTHER = "other"


class RegistryId(Strict):
    """A typed company identifier, e.g. ``{"scheme": "uscc", "value": "91350100M000100Y43"}``."""

    scheme: RegistryScheme
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _check_value(self) -> RegistryId:
        # Model-level so a bad id is reported at the item's loc (``...registry_ids.N``) as ``value_error``;
        # InvalidIdentifierError is a ValueError whose message starts with the reason.
        self.value = identifiers.validate(self.scheme, self.value)
        return self


class PrincipalKind(StrEnum):
    PARTNER = "partner"
    USER = "user"
    SYSTEM = "system"


class Actor(Strict):
    """Who did something: a partner system, a person, or the system itself (a scheduled job, a handler)."""

    kind: PrincipalKind
    id: str
