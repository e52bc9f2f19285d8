"""Open Contracting Data Standard (OCDS 1.0/1.1): release packages, record packages, lone releases/records.

Each release becomes one ``Tender`` (``source_id`` = release ``id``, ``refs`` = ``ocds:<ocid>``, so all
releases of one contracting process link together and later ones update earlier ones). A record yields
its ``compiledRelease`` (or, without one, its newest embedded release).

Publishers bend the standard; the mapping reads the common variants seen in real data: ``buyer`` vs
``parties[role=buyer]`` vs ``tender.procuringEntity``, an ``identifier.legalName`` instead of ``name``
(Taiwan), ``tag`` as a string, ``tender.budget.value`` and ``awards`` as an object.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from connectors.errors import PermanentError, RecordRejectedError
from connectors.formats.common import (
    build_tender,
    buyer_id,
    clean,
    country_code,
    parse_amount,
    parse_datetime,
    zone_for,
)
from connectors.formats.sanitize import to_safe_html

logger = logging.getLogger("dealreg.connectors.ocds")

# OCDS tags -> our status; the most advanced stage named in a release's tag list wins.
_TAG_STATUS = [
    ("tenderCancellation", "cancellation"),
    ("awardCancellation", "cancellation"),
    ("contractTermination", "award"),
    ("implementation", "award"),
    ("contractAmendment", "award"),
    ("contract", "award"),
    ("awardUpdate", "award"),
    ("award", "award"),
    ("awardNotice", "award"),  # Taiwan's non-standard tag
    ("tenderAmendment", "amendment"),
    ("tenderUpdate", "amendment"),
    ("tender", "tender"),
    ("planningUpdate", "planning"),
    ("planning", "planning"),
]
# OCID prefixes (https://standard.open-contracting.org prefix register) -> publisher country.
OCID_PREFIX_COUNTRY = {
    "ocds-b5fd17": "GB",  # Contracts Finder
    "ocds-h6vhtk": "GB",  # Find a Tender
    "ocid-6as3t2": "TW",  # Taiwan (DSP, Inc. republication)
    "ocds-vq3xv3": "AU",
    "ocds-34a6hz": "CA",  # buyandsell.gc.ca
    "ocds-k50g02": "CO",
    "ocds-87sd3t": "MX",
    "ocds-ngfbwp": "MD",
    "ocds-gyl66f": "NG",
    "ocds-03ad3f": "PY",  # DNCP Paraguay
    "ocds-rdvc92": "UG",
    "ocds-be6bcu": "UA",
}
_CLASSIFICATION_SCHEMES = {"CPV": "cpv", "UNSPSC": "unspsc", "CPC": "cpc", "CPVS": "cpvs", "GSIN": "gsin"}


def parse_package(body: bytes, *, source: str, default_country: str | None = None,
                  content_type: str | None = None) -> Iterator[Any]:
    """Yield ``Tender``s (and ``RecordRejectedError``s) for an OCDS JSON document or JSON Lines file.

    JSON Lines (bulk downloads: one release, record or package per line) is read line by line; a bad
    line is one rejected record, not a refused file. The encoding comes from a BOM, else the HTTP
    ``charset``, else UTF-8, else Windows-1252 / ISO-8859-1 (``decode`` says which was used).

    Raises:
        PermanentError: ``reason="malformed_json"`` or ``"not_ocds"`` when the whole document is unusable.
    """
    text, encoding = decode(body, content_type)
    if encoding not in ("utf-8", "utf-8-sig"):
        logger.info("OCDS body of %s decoded as %s", source, encoding)
    for item in _documents(text):
        if isinstance(item, _BadLine):
            yield RecordRejectedError("a JSON Lines line is not JSON", reason="invalid_tender",
                                      errors=[{"loc": f"lines.{item.number}", "type": "json_invalid"}])
            continue
        doc, line = item
        try:
            releases = list(_releases(doc))
        except PermanentError:
            if line is None:
                raise
            yield RecordRejectedError("a JSON Lines line is not OCDS", reason="invalid_tender",
                                      errors=[{"loc": f"lines.{line}", "type": "not_ocds"}])
            continue
        for release in releases:
            yield _one(release, source=source, default_country=default_country)


class _BadLine:
    def __init__(self, number: int) -> None:
        self.number = number


def decode(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """(text, encoding used) of a JSON body: BOM, else the HTTP charset, else UTF-8, else cp1252/latin-1."""
    import codecs
    import re

    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                      (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            try:
                return body.decode(name), name
            except UnicodeDecodeError:
                break
    declared = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-]+)", content_type or "", re.I)
    names = ([declared.group(1).lower()] if declared else []) + ["utf-8", "cp1252", "latin-1"]
    for name in names:
        try:
            return body.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode("latin-1"), "latin-1"  # unreachable: latin-1 decodes any bytes


def _documents(text: str) -> Iterator[Any]:
    """``(document, None)``, or ``(document, line number)`` per line of JSON Lines; ``_BadLine`` for a
    line that is not JSON."""
    try:
        yield json.loads(text), None
        return
    except RecursionError:
        raise PermanentError("the body is nested too deeply", reason="malformed_json") from None
    except ValueError as exc:
        if not (isinstance(exc, json.JSONDecodeError) and exc.msg == "Extra data"):
            raise PermanentError("the body is not JSON", reason="malformed_json") from None
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            yield json.loads(line), number
        except (ValueError, RecursionError):
            yield _BadLine(number)


def next_page_url(body: bytes) -> str | None:
    """The package's ``links.next`` (OCDS paging: the next, usually older, page of releases), if any."""
    try:
        doc = json.loads(decode(body)[0])
    except (ValueError, RecursionError):
        return None
    links = doc.get("links") if isinstance(doc, dict) else None
    nxt = links.get("next") if isinstance(links, dict) else None
    return nxt.strip() if isinstance(nxt, str) and nxt.strip() else None


def _releases(doc: Any) -> Iterator[Any]:
    if isinstance(doc, list):
        for item in doc:
            yield from _releases(item)
        return
    if not isinstance(doc, dict):
        raise PermanentError("not an OCDS document", reason="not_ocds")
    if isinstance(doc.get("releases"), list) and "compiledRelease" not in doc and "records" not in doc:
        yield from doc["releases"]
        return
    if isinstance(doc.get("records"), list):
        for rec in doc["records"]:
            yield _record_release(rec)
        return
    if "compiledRelease" in doc or ("releases" in doc and "ocid" not in doc):
        yield _record_release(doc)
        return
    if "ocid" in doc:
        yield doc
        return
    raise PermanentError("not an OCDS document", reason="not_ocds")


def _record_release(record: Any) -> Any:
    if not isinstance(record, dict):
        return record
    compiled = record.get("compiledRelease")
    if isinstance(compiled, dict):
        if not compiled.get("ocid") and record.get("ocid"):
            compiled = {**compiled, "ocid": record["ocid"]}
        return compiled
    releases = [r for r in record.get("releases") or [] if isinstance(r, dict) and ("tender" in r or "tag" in r)]
    if releases:
        return sorted(releases, key=lambda r: str(r.get("date") or ""))[-1]
    return record


_LIVE_AWARD = (None, "", "active", "pending")


def _stage_list(release: dict[str, Any], key: str) -> list[dict[str, Any]]:
    stage = release.get(key)
    return [x for x in ([stage] if isinstance(stage, dict) else stage or []) if isinstance(x, dict)]


def _status(release: dict[str, Any]) -> str:
    """The process status: planned / open / closed / awarded / cancelled (``TenderStatus`` values).

    Read in this order: a cancelled or withdrawn tender; an award or contract that stands (awarded); a
    tender that ended unsuccessful or complete without one (closed); an active tender (open); a planning
    tender; else the release ``tag`` (a compiled release's tag says ``compiled`` and nothing more).
    """
    tags = release.get("tag")
    tag_set = {tags} if isinstance(tags, str) else {t for t in tags or [] if isinstance(t, str)}
    tender = _obj(release, "tender")
    tender_status = str(tender.get("status") or "").strip().lower()
    if tender_status in ("cancelled", "withdrawn") or "tenderCancellation" in tag_set:
        return "cancellation"
    awards = [a for a in _stage_list(release, "awards") if str(a.get("status") or "").lower() in _LIVE_AWARD]
    contracts = [c for c in _stage_list(release, "contracts")
                 if str(c.get("status") or "").lower() not in ("cancelled", "terminated")]
    if awards or contracts:
        return "award"
    if tender_status in ("unsuccessful", "complete"):
        return "closed"
    if tender_status == "active":
        return "amendment" if tag_set & {"tenderAmendment"} else "tender"
    if tender_status in ("planning", "planned"):
        return "planning"
    for tag, status in _TAG_STATUS:
        if tag in tag_set:
            return status
    return "tender"


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` when it is a JSON object, else an empty one (OCDS publishers omit or null them)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _buyer(release: dict[str, Any], tender: dict[str, Any]) -> dict[str, Any] | None:
    candidates: list[Any] = [release.get("buyer")]
    for party in release.get("parties") or []:
        if isinstance(party, dict) and "buyer" in (party.get("roles") or []):
            candidates.append(party)
    candidates += [tender.get("procuringEntity"), tender.get("identifier")]
    for cand in candidates:
        if not isinstance(cand, dict):
            continue
        ident = _obj(cand, "identifier")
        name = clean(cand.get("name")) or clean(ident.get("legalName")) or clean(cand.get("legalName"))
        if name:
            return {
                "name": name,
                "id": buyer_id(ident.get("id")),
                "scheme": clean(ident.get("scheme"), 40) or None,
            }
    return None


def _address(release: dict[str, Any], tender: dict[str, Any]) -> tuple[str | None, str | None]:
    """(country name or code, region) from the buyer's address or the delivery address."""
    for party in release.get("parties") or []:
        if isinstance(party, dict) and "buyer" in (party.get("roles") or []):
            addr = _obj(party, "address")
            return clean(addr.get("countryName"), 100), clean(addr.get("region"), 200) or clean(addr.get("locality"), 200)
    delivery = _obj(tender, "deliveryAddress")
    for addr in delivery.get("addresses") or []:
        if isinstance(addr, dict) and clean(addr.get("region")):
            return None, clean(addr.get("region"), 200)
    return None, None


def _classifications(release: dict[str, Any], tender: dict[str, Any]) -> list[str]:
    found: list[Any] = []
    items: list[Any] = list(tender.get("items") or [])
    awards = release.get("awards")
    award_list = [awards] if isinstance(awards, dict) else list(awards or [])
    contracts = release.get("contracts")
    for award in award_list + list(contracts if isinstance(contracts, list) else []):
        if isinstance(award, dict):
            items += list(award.get("items") or [])
    if isinstance(tender.get("classification"), dict):
        found.append(tender["classification"])
    for item in items:
        if not isinstance(item, dict):
            continue
        found.append(item.get("classification"))
        found += list(item.get("additionalClassifications") or [])
    out = []
    for c in found:
        if not isinstance(c, dict):
            continue
        scheme = _CLASSIFICATION_SCHEMES.get(str(c.get("scheme") or "").strip().upper())
        code = clean(c.get("id"), 60)
        if scheme and code:
            out.append(f"{scheme}:{code.replace(' ', '')}")
    return out


def _value(release: dict[str, Any], tender: dict[str, Any], status: str) -> tuple[Any, str | None]:
    """The awarded total when the process is awarded (standing awards, else contracts, one currency),
    else the tender's value, its budget, the planning budget."""
    if status == "award":
        for key in ("awards", "contracts"):
            live = [x for x in _stage_list(release, key)
                    if str(x.get("status") or "").lower() not in ("cancelled", "unsuccessful", "terminated")]
            total = _total([x.get("value") or x.get("valueWithTax") for x in live])  # Mexico APF: valueWithTax
            if total[0] is not None:
                return total
        awards = release.get("awards")
        if isinstance(awards, dict):  # Taiwan: one award object with its total
            total = _total([awards.get("totalAwardValue")])
            if total[0] is not None:
                return total
    planning = _obj(release, "planning")
    budget = _obj(planning, "budget")
    tender_budget = _obj(tender, "budget")
    for cand in (tender.get("value"), tender_budget.get("value"), budget.get("amount")):
        total = _total([cand])
        if total[0] is not None:
            return total
    return None, None


def _total(values: list[Any]) -> tuple[Any, str | None]:
    """Sum of the amounts in one currency (the first one met); (None, None) when none is usable."""
    total, currency = None, None
    for cand in values:
        if not isinstance(cand, dict):
            continue
        amount = parse_amount(cand.get("amount"))
        cur = cand.get("currency")
        if amount is None or not isinstance(cur, str) or len(cur.strip()) != 3:
            continue
        cur = cur.strip().upper()
        if currency is None or cur == currency:
            total, currency = (total or 0) + amount, cur
    return total, currency


def _title(value: Any) -> str | None:
    """A title that says something: at least one letter or digit (some publishers fill ``"."``)."""
    text = clean(value, 1000)
    return text if text and any(ch.isalnum() for ch in text) else None


def _stage_title(release: dict[str, Any]) -> str | None:
    """A title for a release without a tender title (award-only releases): the award or contract title,
    else the description of their first item."""
    for key in ("awards", "contracts"):
        for obj in _stage_list(release, key):
            title = _title(obj.get("title")) or _title(obj.get("title_en"))
            if title:
                return title
    for key in ("awards", "contracts"):
        for obj in _stage_list(release, key):
            for item in obj.get("items") or []:
                if isinstance(item, dict) and clean(item.get("description"), 200):
                    return clean(item["description"], 200)
    return None


def _one(release: Any, *, source: str, default_country: str | None) -> Any:
    if not isinstance(release, dict):
        return RecordRejectedError("release is not an object", errors=[{"loc": "release", "type": "dict_type"}],
                                   reason="invalid_tender")
    ocid = clean(release.get("ocid"), 200)
    rel_id = clean(release.get("id"), 300) or ocid
    tender = _obj(release, "tender")
    planning = _obj(release, "planning")
    status = _status(release)
    title = (
        _title(tender.get("title"))
        or clean(release.get("name"), 1000)  # Taiwan
        or clean(_obj(planning, "budget").get("project"), 1000)
        or clean(tender.get("description"), 200)
        or _stage_title(release)
        or ocid  # nothing names the process: its id does (shown as such; a placeholder like "." is no title)
    )
    descr = tender.get("description")
    descr = descr if isinstance(descr, str) else ""
    value, currency = _value(release, tender, status)
    country_name, region = _address(release, tender)
    prefix = (ocid or "")[:11].lower()
    country = OCID_PREFIX_COUNTRY.get(prefix) or default_country
    if country is None and country_name:
        country = country_code(country_name)
    period = _obj(tender, "tenderPeriod")
    method = clean(tender.get("procurementMethod"), 100)
    details = clean(tender.get("procurementMethodDetails") or tender.get("processMethod"), 100)
    url = None
    for doc in tender.get("documents") or []:
        if isinstance(doc, dict) and isinstance(doc.get("url"), str) and doc["url"].startswith("http"):
            url = doc["url"]
            break
    return build_tender({
        "source": source,
        "source_id": rel_id,
        "title": title,
        "status": status,
        "buyer": _buyer(release, tender),
        "country": country,
        "region": region,
        "categories": _classifications(release, tender),
        "value": value,
        "currency": currency,
        "published": parse_datetime(release.get("date")),
        "deadline": parse_datetime(period.get("endDate"), tz=zone_for(country, None), end_of_day=True),
        "deadline_kind": "tender" if period.get("endDate") else None,
        "procedure": " / ".join(p for p in (method, details) if p) or None,
        "url": url,
        "text": to_safe_html(descr),
        "language": clean(release.get("language"), 16),
        "refs": [f"ocds:{ocid}"] if ocid else [],
    })
