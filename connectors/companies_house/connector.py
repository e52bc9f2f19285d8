"""UK Companies House public data API, ``https://api.company-information.service.gov.uk``.

Look-up: ``GET company/{company_number}`` (the companyProfile resource; 404 when there is none).
Search: ``GET search/companies?q=…&items_per_page=10`` (the companySearch resource: ``items`` in
relevance order). Authentication is HTTP Basic with the API key as the user name and an empty password.
The key comes from the config (``SecretStr``); the functions read it from Secrets Manager.
"""
from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from connectors.base import Fetched, FetchRequest, HttpUrl, Parsed, RegistryConnector
from connectors.company_records import iso_date, json_body, text, valid_ids
from connectors.errors import RecordRejectedError, loc_type_errors
from schemas.company import Company, CompanyStatus

# company_status values from Companies House's api-enumerations (constants.yml, "company_status").
_STATUS: dict[str, CompanyStatus] = {
    "active": CompanyStatus.ACTIVE,
    "open": CompanyStatus.ACTIVE,
    "registered": CompanyStatus.ACTIVE,
    "dissolved": CompanyStatus.DISSOLVED,
    "closed": CompanyStatus.DISSOLVED,
    "converted-closed": CompanyStatus.DISSOLVED,
    "removed": CompanyStatus.DISSOLVED,
    "liquidation": CompanyStatus.INACTIVE,
    "receivership": CompanyStatus.INACTIVE,
    "administration": CompanyStatus.INACTIVE,
    "insolvency-proceedings": CompanyStatus.INACTIVE,
    "voluntary-arrangement": CompanyStatus.INACTIVE,
}
_ADDRESS_PARTS = ("care_of", "po_box", "premises", "address_line_1", "address_line_2", "locality", "region",
                  "postal_code", "country")


class CompaniesHouseConfig(BaseModel):
    """Base URL and API key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: HttpUrl = "https://api.company-information.service.gov.uk/"
    api_key: SecretStr


def _address(addr: Any) -> str | None:
    if not isinstance(addr, Mapping):
        return None
    return ", ".join(v for v in (text(addr.get(k)) for k in _ADDRESS_PARTS) if v) or None


class CompaniesHouseConnector(RegistryConnector[CompaniesHouseConfig]):
    """Company profiles by company number, or a name search."""

    name: ClassVar[str] = "companies_house"
    config_model: ClassVar[type[BaseModel]] = CompaniesHouseConfig
    example_config: ClassVar[dict[str, Any]] = {
        "base_url": "https://api.company-information.service.gov.uk/",
        "api_key": "example-key-not-real",
    }
    example_request: ClassVar[FetchRequest] = FetchRequest(identifier="09876543")
    fixtures: ClassVar[tuple[str, ...]] = ("company_profile.json", "search_companies.json")
    schemes: ClassVar[tuple[str, ...]] = ("gb-coh",)
    countries: ClassVar[tuple[str, ...]] = ("GB",)
    lookup_path: ClassVar[str] = "company/{identifier}"
    search_path: ClassVar[str | None] = "search/companies?q={name}&items_per_page=10"

    def request_headers(self) -> dict[str, str]:
        """HTTP Basic: the key as the user name, empty password."""
        token = base64.b64encode(f"{self.config.api_key.get_secret_value()}:".encode()).decode()
        return {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        """A profile yields one ``Company``; a search page yields one per item, in order."""
        try:
            doc = json_body(raw)
        except RecordRejectedError as exc:
            yield exc
            return
        if isinstance(doc, Mapping) and isinstance(doc.get("items"), list):
            for index, item in enumerate(doc["items"]):
                yield self._company(item, f"items.{index}", name_key="title", address_key="address")
        elif isinstance(doc, Mapping) and "company_number" in doc:
            yield self._company(doc, "", name_key="company_name", address_key="registered_office_address")
        else:
            yield RecordRejectedError("neither a profile nor a search page",
                                      errors=[{"loc": "body", "type": "unsupported"}])

    def _company(self, doc: Any, loc: str, *, name_key: str, address_key: str) -> Parsed:
        number = text(doc.get("company_number")) if isinstance(doc, Mapping) else None
        try:
            raw_status = text(doc.get("company_status"))
            sic = [c for c in (text(x) for x in doc.get("sic_codes") or []) if c]
            return Company(
                source=self.name,
                source_id=number or "",
                name=text(doc.get(name_key)) or "",
                registry_ids=valid_ids([("gb-coh", number)]),
                status=_STATUS.get((raw_status or "").lower(), CompanyStatus.UNKNOWN),
                status_text=raw_status,
                industry=("SIC " + ", ".join(sic)) if sic else None,
                address=_address(doc.get(address_key)) or text(doc.get("address_snippet")),
                country="GB",
                established_on=iso_date(doc.get("date_of_creation")),
            )
        except (ValueError, AttributeError) as exc:
            errors = (loc_type_errors(exc) if isinstance(exc, ValidationError)
                      else [{"loc": "", "type": "model_type"}])
            prefix = f"{loc}." if loc else ""
            return RecordRejectedError(source_id=number, errors=[{"loc": prefix + e["loc"], "type": e["type"]}
                                                                 for e in errors])
