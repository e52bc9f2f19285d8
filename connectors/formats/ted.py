"""TED notices: the older ``TED_EXPORT`` schema (R2.0.8/R2.0.9, forms F01-F25) and eForms (UBL 2.3).

One notice per document. Elements are matched by local name, so the schema version in the namespace
does not matter. TED dates without an offset (``DT_DATE_FOR_SUBMISSION``: "Local time") are the buyer's
local time: its country's zone (``common.zone_for``), Brussels only when the country is unknown.

Mapping, in short (field names are the TED/eForms element names):

- id: TED ``DOC_ID`` (``150049-2018``); eForms notice id + version. refs: OJ S number, eForms procedure id
  (``ContractFolderID``), and for changes the notice they change.
- status: TED ``TD_DOCUMENT_TYPE`` (0/P/B prior information -> planning, 7/J/R/V award, 2/K additional
  information -> amendment, else tender); eForms root element / ``NoticeTypeCode`` / ``efac:Changes``
  (a change with reason ``cancel`` -> cancellation).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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

BRUSSELS = "Europe/Brussels"
_TED_STATUS = {
    "0": "planning", "P": "planning", "B": "planning", "I": "planning",
    "7": "award", "J": "award", "R": "award", "V": "award", "M": "award",
    "2": "amendment", "K": "amendment",
}
_EFORMS_ROOT_STATUS = {
    "ContractNotice": "tender",
    "ContractAwardNotice": "award",
    "PriorInformationNotice": "planning",
}


def children(el: Element, name: str) -> Iterator[Element]:
    """Direct children with local name ``name``."""
    for child in el:
        if isinstance(child.tag, str) and xmlsafe.local(child.tag) == name:
            yield child


def path(el: Element | None, spec: str) -> list[Element]:
    """All elements reached by ``A/B/C`` (local names, direct children); ``//X`` searches descendants."""
    if el is None:
        return []
    if spec.startswith("//"):
        name = spec[2:]
        return [e for e in el.iter() if isinstance(e.tag, str) and xmlsafe.local(e.tag) == name]
    current = [el]
    for step in spec.split("/"):
        current = [c for e in current for c in children(e, step)]
    return current


def first(el: Element | None, spec: str) -> Element | None:
    found = path(el, spec)
    return found[0] if found else None


def text_of(el: Element | None) -> str | None:
    """All text inside ``el`` (paragraphs joined by newlines), or ``None``."""
    if el is None:
        return None
    parts = [" ".join(t.split()) for t in el.itertext()]
    joined = "\n".join(p for p in parts if p)
    return joined or None


def parse_notice(body: bytes, *, source: str, fallback_id: str) -> Iterator[Any]:
    """Yield one ``Tender`` (or one ``RecordRejectedError``) for a TED or eForms XML document.

    Raises:
        UnsafeXmlError, MalformedXmlError: The whole document is unusable (a per-source error).
    """
    root = xmlsafe.parse(body)
    name = xmlsafe.local(root.tag)
    if name == "TED_EXPORT":
        yield _ted_export(root, source=source, fallback_id=fallback_id)
    elif name in _EFORMS_ROOT_STATUS:
        yield _eforms(root, source=source)
    else:
        yield RecordRejectedError(
            "not a TED notice", errors=[{"loc": "root", "type": "unsupported_document"}], reason="unsupported"
        )


# -- TED_EXPORT ---------------------------------------------------------------------------------------


def _ted_export(root: Element, *, source: str, fallback_id: str) -> Any:
    """A TED_EXPORT document (R2.0.8/R2.0.9) as a ``Tender``, read from its original-language form."""
    doc_id = root.get("DOC_ID") or fallback_id
    coded = first(root, "CODED_DATA_SECTION")
    notice = first(coded, "NOTICE_DATA")
    codif = first(coded, "CODIF_DATA")
    original = _original_form(root)
    form_lang = original.get("LG") if original is not None else None

    buyer = _ted_buyer(original)
    iso = first(notice, "ISO_COUNTRY")
    country = country_code(iso.get("VALUE")) if iso is not None else None
    ca_nuts = [e.get("CODE") for e in path(notice, "CA_CE_NUTS") if e.get("CODE")]
    # Forms say "Local time": the buyer's, from its country (and NUTS region where a country spans zones).
    tz = zone_for(buyer.get("country") or country, ca_nuts[0] if ca_nuts else None) or BRUSSELS

    cpvs = [f"cpv:{e.get('CODE')}" for e in path(notice, "ORIGINAL_CPV") if e.get("CODE")]
    perf_nuts = [e.get("CODE") for e in path(first(original, "OBJECT_CONTRACT"), "//NUTS") if e.get("CODE")]
    value, currency = _ted_value(first(original, "OBJECT_CONTRACT"))
    if value is None:
        value, currency = _ted_award_value(original, notice)
    uris = path(notice, "URI_LIST/URI_DOC")
    url = next((text_of(u) for u in uris if u.get("LG") == "EN"), None) or (text_of(uris[0]) if uris else None)
    return build_tender({
        "source": source,
        "source_id": doc_id,
        "title": _ted_title(root, original, form_lang),
        "status": _ted_status(codif, original),
        "buyer": {"name": buyer["name"], "id": buyer_id(buyer.get("id"))} if buyer.get("name") else None,
        "country": country,
        "region": (perf_nuts or ca_nuts or [None])[0],
        "categories": cpvs,
        "value": value,
        "currency": currency,
        "published": parse_datetime(text_of(first(coded, "REF_OJS/DATE_PUB")), tz=BRUSSELS),
        "deadline": _ted_deadline(codif, original, tz),
        "procedure": clean(text_of(first(codif, "PR_PROC")), 200),
        "url": url,
        "text": text_to_html(_ted_description(original) or ""),
        "language": form_lang,
        "refs": _ted_refs(doc_id, notice, original),
    })


def _original_form(root: Element) -> Element | None:
    """The form in the notice's original language (``CATEGORY="ORIGINAL"``), else the first form."""
    form_list = [f for s in path(root, "FORM_SECTION") for f in s if isinstance(f.tag, str)]
    return next((f for f in form_list if f.get("CATEGORY") == "ORIGINAL"), form_list[0] if form_list else None)


def _ted_status(codif: Element | None, original: Element | None) -> str:
    """The process status from the document type, overridden by the corrigendum and modification forms."""
    doc_type = first(codif, "TD_DOCUMENT_TYPE")
    status = _TED_STATUS.get(doc_type.get("CODE", "") if doc_type is not None else "", "tender")
    form_name = xmlsafe.local(original.tag) if original is not None else ""
    if form_name.startswith("F14"):
        return "amendment"  # F14 is the corrigendum form
    if form_name.startswith("F20"):
        return "award"  # F20 modifies a contract already awarded: the process is past its award
    return status


def _ted_title(root: Element, original: Element | None, form_lang: str | None) -> str | None:
    title = clean(text_of(first(original, "OBJECT_CONTRACT/TITLE")), 1000) or clean(
        text_of(first(original, "//TITLE_CONTRACT")), 1000)  # R2.0.8 (defence forms F16-F18)
    if title is None:
        # Some forms (F14 corrigenda) have no object title; the OJ title block names the subject, in the
        # form's own language (the block lists every EU language, Bulgarian first).
        title = _translated_title(root, form_lang)
    return title


def _ted_description(original: Element | None) -> str | None:
    return text_of(first(original, "OBJECT_CONTRACT/SHORT_DESCR")) or text_of(
        first(original, "OBJECT_CONTRACT/OBJECT_DESCR/SHORT_DESCR")
    ) or text_of(first(original, "//SHORT_CONTRACT_DESCRIPTION"))


def _ted_deadline(codif: Element | None, original: Element | None, tz: Any) -> Any:
    """The submission deadline: the coded one, else the procedure's date and time, else R2.0.8's limit date."""
    deadline = parse_datetime(text_of(first(codif, "DT_DATE_FOR_SUBMISSION")), tz=tz, end_of_day=True)
    if deadline is None:
        proc = first(original, "PROCEDURE")
        deadline = combine(text_of(first(proc, "DATE_RECEIPT_TENDERS")), text_of(first(proc, "TIME_RECEIPT_TENDERS")),
                           tz=tz, end_of_day=True)
    if deadline is None:
        deadline = _r208_date(first(original, "//RECEIPT_LIMIT_DATE"), tz=tz)
    return deadline


def _ted_refs(doc_id: str, notice: Element | None, original: Element | None) -> list[str]:
    """Ids this notice is known by: its TED id, its OJ number, and the OJ number of the notice it changes."""
    oj = clean(text_of(first(notice, "NO_DOC_OJS")), 100)
    refs = [f"ted:{doc_id}"] + ([f"ted-oj:{oj}"] if oj else [])
    changed = clean(text_of(first(original, "//NOTICE_NUMBER_OJ")), 100)
    if changed:
        refs.append(f"ted-oj:{changed}")
    return refs


def _ted_buyer(form: Element | None) -> dict[str, Any]:
    """Name, national id and country of the contracting body (R2.0.9 ``ADDRESS_CONTRACTING_BODY``; R2.0.8
    defence forms ``CA_CE_CONCESSIONAIRE_PROFILE/ORGANISATION``)."""
    body = first(form, "CONTRACTING_BODY/ADDRESS_CONTRACTING_BODY")
    org: Element | None
    if body is not None:
        org = body
    else:
        body = first(form, "//CA_CE_CONCESSIONAIRE_PROFILE")
        org = first(body, "ORGANISATION")
    country = first(body, "COUNTRY")
    return {
        "name": clean(text_of(first(org, "OFFICIALNAME"))),
        "id": clean(text_of(first(org, "NATIONALID")), 100),
        "country": country_code(country.get("VALUE")) if country is not None else None,
    }


def _translated_title(root: Element, lang: str | None) -> str | None:
    docs = path(first(root, "TRANSLATION_SECTION"), "//ML_TI_DOC")
    for want in (lang, "EN"):
        for doc in docs:
            if want and doc.get("LG") == want:
                title = clean(text_of(first(doc, "TI_TEXT")), 1000)
                if title:
                    return title
    return clean(text_of(first(docs[0], "TI_TEXT")), 1000) if docs else None


def _r208_date(el: Element | None, *, tz: str) -> Any:
    """R2.0.8 dates: ``<DAY>26</DAY><MONTH>02</MONTH><YEAR>2021</YEAR><TIME>16:00</TIME>``."""
    if el is None:
        return None
    day, month, year = (text_of(first(el, n)) for n in ("DAY", "MONTH", "YEAR"))
    if not (day and month and year and day.isdigit() and month.isdigit() and year.isdigit()):
        return None
    return combine(f"{int(year):04d}-{int(month):02d}-{int(day):02d}", text_of(first(el, "TIME")), tz=tz,
                   end_of_day=True)


def _ted_value(obj: Element | None) -> tuple[Any, str | None]:
    for name in ("VAL_TOTAL", "VAL_ESTIMATED_TOTAL", "VAL_OBJECT"):
        for el in path(obj, "//" + name):
            amount = parse_amount(text_of(el))
            if amount is not None and el.get("CURRENCY"):
                return amount, el.get("CURRENCY")
    rng = first(obj, "//VAL_RANGE_TOTAL")
    if rng is not None and rng.get("CURRENCY"):
        low = parse_amount(text_of(first(rng, "LOW")))
        high = parse_amount(text_of(first(rng, "HIGH")))
        if high is not None or low is not None:
            return (high if high is not None else low), rng.get("CURRENCY")
    return None, None


def _ted_award_value(form: Element | None, notice: Element | None) -> tuple[Any, str | None]:
    """A value stated only in the award part: R2.0.9 ``AWARD_CONTRACT`` (F03, F06, F15, F20, T02...),
    R2.0.8 ``COSTS_RANGE_AND_CURRENCY`` (defence forms), else the coded ``VALUES`` summary."""
    total: Any = None
    currency: str | None = None
    lots: set[str] = set()
    for award in path(form, "//AWARD_CONTRACT"):
        lot = clean(text_of(first(award, "LOT_NO")), 40) or ""
        if lot in lots:
            continue  # one value per lot: several contracts of one lot repeat the lot's total
        for el in path(award, "//VAL_TOTAL"):
            amount = parse_amount(text_of(el))
            if amount is not None and el.get("CURRENCY") and currency in (None, el.get("CURRENCY")):
                total, currency = (total or 0) + amount, el.get("CURRENCY")
                lots.add(lot)
                break
    if total is not None:
        return total, currency
    for holder in path(form, "//COSTS_RANGE_AND_CURRENCY") + path(form, "//COSTS_RANGE_AND_CURRENCY_WITH_VAT_RATE"):
        cost = first(holder, "VALUE_COST")
        amount = parse_amount(cost.get("FMTVAL") or text_of(cost), decimal=",") if cost is not None else None
        if amount is not None and holder.get("CURRENCY"):
            return amount, holder.get("CURRENCY")
    for el in path(notice, "VALUES/VALUE"):
        amount = parse_amount(text_of(el))
        if amount is not None and el.get("CURRENCY"):
            return amount, el.get("CURRENCY")
    return None, None


# -- eForms -------------------------------------------------------------------------------------------


def _eforms_status_refs(root: Element, ext: Element | None, notice_id: str | None,
                        version: str | None) -> tuple[str, list[str]]:
    """The notice's status (a change notice: cancellation or amendment) and its procedure/notice refs."""
    notice_type = clean(text_of(first(root, "NoticeTypeCode")), 40) or ""
    status = "award" if notice_type == "veat" else _EFORMS_ROOT_STATUS.get(xmlsafe.local(root.tag), "tender")
    folder = clean(text_of(first(root, "ContractFolderID")), 100)
    refs = [f"eforms-procedure:{folder}"] if folder else []
    changes = path(ext, "//Changes")
    if changes:
        reasons = {text_of(e) for c in changes for e in path(c, "//ReasonCode")}
        status = "cancellation" if "cancel" in reasons else "amendment"
        for c in changes:
            changed = clean(text_of(first(c, "ChangedNoticeIdentifier")), 120)
            if changed:
                refs.append(f"eforms-notice:{changed}")
    if notice_id:
        refs.append(f"eforms-notice:{notice_id}-{version or '01'}")
    return status, refs


def _eforms_value(root: Element, ext: Element | None, project: Element | None,
                  status: str) -> tuple[Any, str | None]:
    """An award notice's value is what was awarded (the notice result's total); otherwise the estimate."""
    awarded = [t for r in path(ext, "//NoticeResult") for t in children(r, "TotalAmount")]
    estimated = path(project, "RequestedTenderTotal/EstimatedOverallContractAmount") + [
        e for lot in children(root, "ProcurementProjectLot")
        for e in path(lot, "ProcurementProject/RequestedTenderTotal/EstimatedOverallContractAmount")]
    for el in (awarded + estimated) if status == "award" else (estimated + awarded):
        amount = parse_amount(text_of(el))
        if amount is not None and el.get("currencyID"):
            return amount, el.get("currencyID")
    return None, None


def _eforms_deadline(root: Element, tz: Any) -> tuple[Any, str | None]:
    """(deadline, kind): the tender deadline, else the date to request participation by."""
    deadline = _period_end(first(root, "//TenderSubmissionDeadlinePeriod"), tz)
    if deadline is not None:
        return deadline, "tender"
    # Restricted and negotiated procedures first take requests to participate; that is the date to act by.
    deadline = _period_end(first(root, "//ParticipationRequestReceptionPeriod"), tz)
    return deadline, "participation" if deadline is not None else None


def _eforms(root: Element, *, source: str) -> Any:
    notice_id = clean(next((text_of(e) for e in children(root, "ID") if e.get("schemeName") == "notice-id"), None), 100)
    version = clean(text_of(first(root, "VersionID")), 10)
    ext = first(root, "UBLExtensions")
    status, refs = _eforms_status_refs(root, ext, notice_id, version)

    project = first(root, "ProcurementProject")
    title = clean(text_of(first(project, "Name")), 1000)
    descr = text_of(first(project, "Description"))
    orgs = _organisations(ext)
    buyer_ref = clean(text_of(first(root, "ContractingParty/Party/PartyIdentification/ID")), 100)
    org = orgs.get(buyer_ref or "", {})
    cpvs = [
        f"cpv:{text_of(e)}"
        for e in path(root, "//ItemClassificationCode")
        if e.get("listName") == "cpv" and text_of(e)
    ]
    nuts = [text_of(e) for e in path(project, "//CountrySubentityCode") if text_of(e)]
    place_country = country_code(text_of(first(project, "RealizedLocation/Address/Country/IdentificationCode")))

    buyer_country = org.get("country") or place_country
    tz = zone_for(buyer_country, org.get("nuts")) or BRUSSELS
    value, currency = _eforms_value(root, ext, project, status)
    deadline, deadline_kind = _eforms_deadline(root, tz)
    published = combine(text_of(first(root, "IssueDate")), text_of(first(root, "IssueTime")), tz=BRUSSELS)
    procedure = clean(text_of(first(root, "TenderingProcess/ProcedureCode")), 200)
    url = None
    for el in path(root, "//URI"):
        if (text_of(el) or "").startswith("http"):
            url = text_of(el)
            break
    language = clean(text_of(first(root, "NoticeLanguageCode")), 16)
    source_id = f"{notice_id}-{version or '01'}" if notice_id else None
    if source_id is None:
        return RecordRejectedError(
            "eForms notice without a notice id", errors=[{"loc": "ID", "type": "missing"}], reason="invalid_tender"
        )
    return build_tender({
        "source": source,
        "source_id": source_id,
        "title": title,
        "status": status,
        "buyer": {"name": org["name"], "id": buyer_id(org.get("id"))} if org.get("name") else None,
        "country": place_country or org.get("country"),
        "region": nuts[0] if nuts else org.get("nuts"),
        "categories": cpvs,
        "value": value,
        "currency": currency,
        "published": published,
        "deadline": deadline,
        "deadline_kind": deadline_kind,
        "procedure": procedure,
        "url": url,
        "text": text_to_html(descr or ""),
        "language": language,
        "refs": refs,
    })


def _period_end(period: Element | None, tz: str) -> Any:
    return combine(text_of(first(period, "EndDate")), text_of(first(period, "EndTime")), tz=tz, end_of_day=True)


def _organisations(ext: Element | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for org in path(ext, "//Organization"):
        company = first(org, "Company")
        ref = clean(text_of(first(company, "PartyIdentification/ID")), 100)
        if not ref:
            continue
        out[ref] = {
            "name": clean(text_of(first(company, "PartyName/Name"))),
            "id": clean(text_of(first(company, "PartyLegalEntity/CompanyID")), 100),
            "country": country_code(text_of(first(company, "PostalAddress/Country/IdentificationCode"))),
            "nuts": clean(text_of(first(company, "PostalAddress/CountrySubentityCode")), 20),
        }
    return out


def iter_notices(bodies: Iterable[bytes], *, source: str) -> Iterator[Any]:
    """Parse several documents (e.g. a bulk download split into files), one notice each."""
    for n, body in enumerate(bodies):
        yield from parse_notice(body, source=source, fallback_id=f"doc-{n}")
