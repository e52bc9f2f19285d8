"""A company as a business registry knows it (工商信息), normalised across providers.

Every registry connector (GLEIF, UK Companies House, Chinese enterprise-information providers) yields
``Company`` records, so the enrichment handler, the look-up API and the dedup engine see one shape.
``status`` is our normalised reading of the registry's own status text (kept verbatim in
``status_text``); :data:`REVIEW_STATUSES` are the ones a sales desk must look at before approving.
"""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.common import CountryCode, RegistryId, Strict

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class CompanyStatus(StrEnum):
    """Normalised registry status.

    ``dissolved`` covers 注销 and UK "dissolved"/"closed"; ``revoked`` is 吊销 (licence revoked by the
    regulator, the company not yet deregistered); ``lapsed``/``retired`` are GLEIF registration
    statuses (LEI not renewed / entity gone); ``inactive`` is any other "not trading" state
    (liquidation, administration, GLEIF entity INACTIVE).
    """

    ACTIVE = "active"
    DISSOLVED = "dissolved"
    REVOKED = "revoked"
    LAPSED = "lapsed"
    RETIRED = "retired"
    INACTIVE = "inactive"
    UNKNOWN = "unknown"


REVIEW_STATUSES: frozenset[CompanyStatus] = frozenset(
    {CompanyStatus.DISSOLVED, CompanyStatus.REVOKED, CompanyStatus.LAPSED, CompanyStatus.RETIRED}
)
"""Statuses that raise a review flag on a registration's customer."""


class Company(Strict):
    """One company record from one registry.

    ``source`` is the connector name and ``source_id`` the registry's own key (LEI, company number,
    provider key), so the record is stable across fetches. ``registry_ids`` holds only identifiers that
    passed our validation (``schemas.identifiers``); a provider's malformed id is dropped, not trusted.
    """

    source: str
    source_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    registry_ids: list[RegistryId] = Field(default_factory=list)
    status: CompanyStatus = CompanyStatus.UNKNOWN
    status_text: Text | None = Field(default=None, description="The registry's status, verbatim")
    legal_representative: Text | None = Field(default=None, description="法定代表人 / officer of record")
    registered_capital: Text | None = Field(default=None, description="注册资本 as published, e.g. '185000万元'")
    industry: Text | None = None
    address: Text | None = None
    country: CountryCode | None = None
    established_on: date | None = None

    @property
    def needs_review(self) -> bool:
        """True when the status is one of :data:`REVIEW_STATUSES`."""
        return self.status in REVIEW_STATUSES


class CompanyLookupResponse(Strict):
    """Answer of ``GET /v1/companies/lookup``.

    ``company`` is the match (by id, or the one name-search candidate above the threshold);
    ``candidates`` the ranked search results when looking up by name; ``cached`` whether the answer
    came from the cache without calling a registry.
    """

    query: str
    found: bool
    company: Company | None = None
    candidates: list[Company] = Field(default_factory=list)
    score: float | None = Field(default=None, description="Name-match score 0-100 of `company` (name look-ups)")
    cached: bool = False
    checked_at: datetime


class CompanyLookupQuery(BaseModel):
    """``GET /v1/companies/lookup`` query parameters: exactly one of ``id`` and ``name`` (checked by the route)."""

    model_config = ConfigDict(extra="ignore", defer_build=True, json_schema_extra={
        "oneOf": [{"required": ["id"], "not": {"required": ["name"]}},
                  {"required": ["name"], "not": {"required": ["id"]}}]})

    id: str | None = Field(default=None, max_length=100,
                           description="USCC, LEI or UK company number (optionally 'scheme:value'); "
                                       "exactly one of id, name")
    name: str | None = Field(default=None, max_length=200,
                             description="Company name; accepted only above the configured match threshold")
    country: str | None = Field(default=None, max_length=8,
                                description="ISO 3166-1 alpha-2 country to search first (name look-ups)")

