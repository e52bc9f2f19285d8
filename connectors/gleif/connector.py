"""GLEIF: the Global LEI Index, ``https://api.gleif.org/api/v1`` (JSON:API, no API key).

Look-up: ``GET lei-records/{lei}`` answers one ``data`` object (404 when there is no such LEI).
Search: ``GET lei-records?filter[fulltext]=…&page[size]=10`` answers a page whose ``data`` is a list,
in GLEIF's relevance order, with ``meta.pagination`` and ``links``.

Status: a lapsed or retired LEI *registration* (not renewed, or the entity ceased) and an INACTIVE
*entity* both matter to a sales desk, so both are read; see :func:`gleif_status`.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from connectors.base import Fetched, FetchRequest, HttpUrl, Parsed, RegistryConnector
from connectors.company_records import dig, iso_date, json_body, text, valid_ids
from connectors.errors import RecordRejectedError, loc_type_errors
from schemas.company import Company, CompanyStatus

# GLEIF registration authority codes whose "registeredAs" is an identifier we validate
# (GLEIF Registration Authorities List: RA000585 = UK Companies House).
_RA_SCHEMES = {"RA000585": "gb-coh"}


class GleifConfig(BaseModel):
    """Where the GLEIF API lives (no key needed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: HttpUrl = "https://api.gleif.org/api/v1/"


def gleif_status(registration: str | None, entity: str | None) -> CompanyStatus:
    """Normalise GLEIF's registration status (ISSUED, LAPSED, RETIRED…) and entity status (ACTIVE…).

    Args:
        registration: ``attributes.registration.status``.
        entity: ``attributes.entity.status``.

    Returns:
        retired / lapsed from the registration first (they are the stronger signal), then inactive
        from the entity, active for an issued LEI of an active entity, unknown otherwise.
    """
    reg = (registration or "").upper()
    ent = (entity or "").upper()
    if reg in ("RETIRED", "MERGED"):
        return CompanyStatus.RETIRED
    if reg == "LAPSED":
        return CompanyStatus.LAPSED
    if ent == "INACTIVE" or reg in ("ANNULLED", "DUPLICATE"):
        return CompanyStatus.INACTIVE
    if ent == "ACTIVE" and reg in ("ISSUED", "PENDING_TRANSFER", "PENDING_ARCHIVAL"):
        return CompanyStatus.ACTIVE
    return CompanyStatus.UNKNOWN


class GleifConnector(RegistryConnector[GleifConfig]):
    """LEI records by LEI, or a full-text name search."""

    name: ClassVar[str] = "gleif"
    config_model: ClassVar[type[BaseModel]] = GleifConfig
    example_config: ClassVar[dict[str, Any]] = {"base_url": "https://api.gleif.org/api/v1/"}
    example_request: ClassVar[FetchRequest] = FetchRequest(identifier="984500DEA1E9F1X7A272")
    fixtures: ClassVar[tuple[str, ...]] = (
        "lei_record_issued.json",
        "lei_record_lapsed.json",
        "search_page.json",
    )
    # Identifier schemes this registry answers for, and the countries whose name searches it serves first
    # (empty: any country). Read by the enrichment handler to route look-ups.
    schemes: ClassVar[tuple[str, ...]] = ("lei",)
    countries: ClassVar[tuple[str, ...]] = ()
    lookup_path: ClassVar[str] = "lei-records/{identifier}"
    search_path: ClassVar[str | None] = "lei-records?filter%5Bfulltext%5D={name}&page%5Bsize%5D=10"

    def request_headers(self) -> dict[str, str]:
        """JSON:API media type, as GLEIF documents."""
        return {"Accept": "application/vnd.api+json"}

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        """One ``Company`` per LEI record in ``data`` (an object for a look-up, a list for a search)."""
        try:
            doc = json_body(raw)
        except RecordRejectedError as exc:
            yield exc
            return
        data = doc.get("data") if isinstance(doc, dict) else None
        entries = data if isinstance(data, list) else [data] if isinstance(data, dict) else None
        if entries is None:
            yield RecordRejectedError("no JSON:API data", errors=[{"loc": "data", "type": "missing"}])
            return
        for index, entry in enumerate(entries):
            yield self._company(entry, index)

    def _company(self, entry: Any, index: int) -> Parsed:
        attrs = dig(entry, "attributes") or {}
        lei = text(dig(attrs, "lei")) or text(dig(entry, "id"))
        entity = dig(attrs, "entity") or {}
        legal = dig(entity, "legalAddress") or {}
        reg_status = text(dig(attrs, "registration.status"))
        ent_status = text(dig(entity, "status"))
        registered_as = text(dig(entity, "registeredAs"))
        scheme = _RA_SCHEMES.get(text(dig(entity, "registeredAt.id")) or "")
        lines = [t for x in (dig(legal, "addressLines") or []) if (t := text(x))]
        address = ", ".join([*lines, *(v for v in (text(legal.get("city")), text(legal.get("postalCode"))) if v)])
        try:
            return Company(
                source=self.name,
                source_id=lei or "",
                name=text(dig(entity, "legalName.name")) or "",
                registry_ids=valid_ids([("lei", lei), (scheme, registered_as) if scheme else ("lei", None)]),
                status=gleif_status(reg_status, ent_status),
                status_text=f"registration {reg_status or '-'}, entity {ent_status or '-'}",
                address=address or None,
                country=text(legal.get("country")),
                established_on=iso_date(dig(entity, "creationDate")),
            )
        except ValueError as exc:
            errors = (loc_type_errors(exc) if isinstance(exc, ValidationError)
                      else [{"loc": "", "type": "value_error"}])
            return RecordRejectedError(source_id=lei, errors=[{"loc": f"data.{index}.{e['loc']}", "type": e["type"]}
                                                              for e in errors])
