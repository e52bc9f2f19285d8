"""Atom feeds with the CODICE extension: Spain's Plataforma de Contratación del Sector Público (PLACSP).

PLACSP syndicates every contract folder as an Atom ``entry`` whose ``cac-place-ext:ContractFolderStatus``
carries the data (CODICE, a UBL profile): buyer (``LocatedContractingParty/Party``), amounts
(``ProcurementProject/BudgetAmount``, awards in ``TenderResult``), CPV codes
(``RequiredCommodityClassification``), place (``RealizedLocation``, NUTS), the submission deadline
(``TenderingProcess/TenderSubmissionDeadlinePeriod``) and the folder status. A plain Atom reader sees a
title and a link only; this profile reads the rest and yields the same ``Tender`` as every format.

Status (``ContractFolderStatusCode``, PLACSP code list SyndicationContractFolderStatusCode): ``PRE``
anuncio previo -> planning, ``PUB`` en plazo -> open, ``EV`` pendiente de adjudicación -> closed, ``ADJ``
adjudicada / ``RES`` resuelta -> awarded, ``ANUL`` anulada -> cancelled. A resolved folder whose every
result is ``desierto`` (TenderResultCode 3, 6, 7) is closed, one withdrawn or renounced (4, 5) cancelled.
Dates without an offset are Spanish local time (``common.zone_for``: Madrid, the Canaries by NUTS ES70).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element

from connectors.errors import RecordRejectedError
from connectors.formats import xmlsafe
from connectors.formats.common import (
    build_tender,
    buyer_id,
    clean,
    combine,
    country_code,
    parse_amount,
    parse_datetime,
    zone_for,
)
from connectors.formats.sanitize import text_to_html
from connectors.formats.ted import children, first, path, text_of

_FOLDER_STATUS = {"PRE": "planning", "PUB": "tender", "EV": "closed", "ADJ": "award", "RES": "award",
                  "ANUL": "cancellation"}
_DESERTED = {"3", "6", "7"}
_WITHDRAWN = {"4", "5"}


def is_codice(body: bytes) -> bool:
    """Whether an Atom document carries the CODICE extension (PLACSP)."""
    return b"codice-place-ext" in body[:4096] or b"ContractFolderStatus" in body[:200_000]


def next_page_url(body: bytes) -> str | None:
    """The feed's ``<link rel="next">`` (PLACSP pages its syndication this way)."""
    root = xmlsafe.parse(body)
    for link in children(root, "link"):
        if link.get("rel") == "next" and link.get("href"):
            return link.get("href")
    return None


def parse_feed(body: bytes, *, source: str, defaults: dict[str, Any] | None = None) -> Iterator[Any]:
    """One ``Tender`` (or ``RecordRejectedError``) per Atom entry.

    Raises:
        UnsafeXmlError, MalformedXmlError: The whole document is unusable.
    """
    defaults = defaults or {}
    root = xmlsafe.parse(body)
    for index, entry in enumerate(children(root, "entry")):
        yield _entry(entry, index, source=source, defaults=defaults)


def _entry(entry: Element, index: int, *, source: str, defaults: dict[str, Any]) -> Any:
    entry_id = clean(text_of(first(entry, "id")), 500)
    link = next((ln.get("href") for ln in children(entry, "link") if ln.get("href")), None)
    folder = first(entry, "ContractFolderStatus")
    project = first(folder, "ProcurementProject")
    party = first(folder, "LocatedContractingParty/Party")
    title = clean(text_of(first(entry, "title")), 1000) or clean(text_of(first(project, "Name")), 1000)
    if not entry_id:
        return RecordRejectedError("entry without id", errors=[{"loc": f"entries.{index}.id", "type": "missing"}],
                                   reason="invalid_tender")

    buyer = None
    name = clean(text_of(first(party, "PartyName/Name")))
    if name:
        ids = {i.get("schemeName"): clean(text_of(i), 100) for i in path(party, "PartyIdentification/ID")}
        scheme = "ES-NIF" if ids.get("NIF") else "ES-DIR3" if ids.get("DIR3") else None
        ident = buyer_id(ids.get("NIF") or ids.get("DIR3"))
        buyer = {"name": name, "id": ident, "scheme": scheme if ident else None}
    country = country_code(text_of(first(party, "PostalAddress/Country/IdentificationCode"))) or \
        country_code(text_of(first(project, "RealizedLocation/Address/Country/IdentificationCode"))) or \
        defaults.get("country")
    nuts = clean(text_of(first(project, "RealizedLocation/CountrySubentityCode")), 20)
    region = nuts or clean(text_of(first(project, "RealizedLocation/CountrySubentity")), 200)
    tz = zone_for(country, nuts) or defaults.get("timezone") or "Europe/Madrid"

    status = _status(folder)
    value, currency = _value(folder, project, status)
    cpvs = [f"cpv:{text_of(c)}" for c in path(project, "RequiredCommodityClassification/ItemClassificationCode")
            if text_of(c)]
    for lot in path(folder, "ProcurementProjectLot"):
        cpvs += [f"cpv:{text_of(c)}" for c in path(lot, "ProcurementProject/RequiredCommodityClassification/"
                                                        "ItemClassificationCode") if text_of(c)]
    period = first(folder, "TenderingProcess/TenderSubmissionDeadlinePeriod")
    deadline = combine(text_of(first(period, "EndDate")), text_of(first(period, "EndTime")), tz=tz, end_of_day=True)
    kind = "tender"
    if deadline is None:
        period = first(folder, "TenderingProcess/ParticipationRequestReceptionPeriod")
        deadline = combine(text_of(first(period, "EndDate")), text_of(first(period, "EndTime")), tz=tz,
                           end_of_day=True)
        kind = "participation"
    summary = text_of(first(entry, "summary")) or ""
    folder_id = clean(text_of(first(folder, "ContractFolderID")), 200)
    url = link if isinstance(link, str) and link.startswith(("http://", "https://")) else None
    fields = {
        "source": source,
        "source_id": entry_id,
        "title": title,
        "status": status,
        "buyer": buyer,
        "country": country,
        "region": region,
        "categories": cpvs,
        "value": value,
        "currency": currency,
        "published": parse_datetime(text_of(first(entry, "updated")), tz=tz),
        "deadline": deadline,
        "deadline_kind": kind if deadline is not None else None,
        "procedure": clean(text_of(first(folder, "TenderingProcess/ProcedureCode")), 200),
        "url": url,
        "text": text_to_html(summary),
        "language": defaults.get("language") or "es",
        "project_code": folder_id,
        "refs": [f"url:{url}"] if url else [],
    }
    built = build_tender(fields)
    if isinstance(built, RecordRejectedError):
        built.errors = [{"loc": f"entries.{index}.{e['loc']}", "type": e["type"]} for e in built.errors]
    return built


def _status(folder: Element | None) -> str:
    code = (text_of(first(folder, "ContractFolderStatusCode")) or "").strip().upper()
    status = _FOLDER_STATUS.get(code, "tender")
    if status == "award":
        results = {(text_of(first(r, "ResultCode")) or "").strip() for r in path(folder, "TenderResult")}
        results.discard("")
        if results and results <= _DESERTED | _WITHDRAWN:
            return "cancellation" if results <= _WITHDRAWN else "closed"
    return status


def _value(folder: Element | None, project: Element | None, status: str) -> tuple[Any, str | None]:
    """Awarded: the sum of the awarded amounts before tax (one per result); else the budget before tax."""
    candidates: list[list[Element | None]] = []
    if status == "award":
        candidates.append([first(r, "AwardedTenderedProject/LegalMonetaryTotal/TaxExclusiveAmount")
                           for r in path(folder, "TenderResult")])
        candidates.append([first(r, "AwardedTenderedProject/LegalMonetaryTotal/PayableAmount")
                           for r in path(folder, "TenderResult")])
    for name in ("TaxExclusiveAmount", "EstimatedOverallContractAmount", "TotalAmount"):
        candidates.append([first(project, f"BudgetAmount/{name}")])
    for group in candidates:
        total, currency = None, None
        for el in group:
            if el is None:
                continue
            amount = parse_amount(text_of(el))
            cur = el.get("currencyID")
            if amount is None or not cur or (currency and cur != currency):
                continue
            total, currency = (total or 0) + amount, cur
        if total is not None:
            return total, currency
    return None, None
