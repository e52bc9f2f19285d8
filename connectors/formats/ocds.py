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
from collections.abc import Iterator
from typing import Any

from connectors.errors import PermanentError, RecordRejectedError
from connectors.formats.common import build_tender, clean, country_code, parse_amount, parse_datetime
from connectors.formats.sanitize import to_safe_html

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
    "ocds-03ad3i": "PY",
    "ocds-rdvc92": "UG",
    "ocds-be6bcu": "UA",
}
_CLASSIFICATION_SCHEMES = {"CPV": "cpv", "UNSPSC": "unspsc", "CPC": "cpc", "CPVS": "cpvs", "GSIN": "gsin"}


def parse_package(body: bytes, *, source: str, default_country: str | None = None) -> Iterator[Any]:
    """Yield ``Tender``s (and ``RecordRejectedError``s) for an OCDS JSON document.

    Raises:
        PermanentError: ``reason="malformed_json"`` or ``"not_ocds"`` when the whole document is unusable.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PermanentError("the body is not JSON", reason="malformed_json") from None
    for release in _releases(doc):
        yield _one(release, source=source, default_country=default_country)


def next_page_url(body: bytes) -> str | None:
    """The package's ``links.next`` (OCDS paging: the next, usually older, page of releases), if any."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
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
        for rel in doc["releases"]:
            yield rel
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


def _status(release: dict[str, Any]) -> str:
    tags = release.get("tag")
    tag_set = {tags} if isinstance(tags, str) else {t for t in tags or [] if isinstance(t, str)}
    tender = release.get("tender") if isinstance(release.get("tender"), dict) else {}
    if str(tender.get("status") or "").lower() in ("cancelled", "unsuccessful", "withdrawn"):
        return "cancellation"
    for tag, status in _TAG_STATUS:
        if tag in tag_set:
            return status
    return "tender"


def _buyer(release: dict[str, Any], tender: dict[str, Any]) -> dict[str, Any] | None:
    candidates: list[Any] = [release.get("buyer")]
    for party in release.get("parties") or []:
        if isinstance(party, dict) and "buyer" in (party.get("roles") or []):
            candidates.append(party)
    candidates += [tender.get("procuringEntity"), tender.get("identifier")]
    for cand in candidates:
        if not isinstance(cand, dict):
            continue
        ident = cand.get("identifier") if isinstance(cand.get("identifier"), dict) else {}
        name = clean(cand.get("name")) or clean(ident.get("legalName")) or clean(cand.get("legalName"))
        if name:
            return {
                "name": name,
                "id": clean(ident.get("id"), 100) or None,
                "scheme": clean(ident.get("scheme"), 40) or None,
            }
    return None


def _address(release: dict[str, Any], tender: dict[str, Any]) -> tuple[str | None, str | None]:
    """(country name or code, region) from the buyer's address or the delivery address."""
    for party in release.get("parties") or []:
        if isinstance(party, dict) and "buyer" in (party.get("roles") or []):
            addr = party.get("address") if isinstance(party.get("address"), dict) else {}
            return clean(addr.get("countryName"), 100), clean(addr.get("region"), 200) or clean(addr.get("locality"), 200)
    delivery = tender.get("deliveryAddress") if isinstance(tender.get("deliveryAddress"), dict) else {}
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
    candidates: list[Any] = [tender.get("value"), (tender.get("budget") or {}).get("value")
                             if isinstance(tender.get("budget"), dict) else None]
    planning = release.get("planning") if isinstance(release.get("planning"), dict) else {}
    budget = planning.get("budget") if isinstance(planning.get("budget"), dict) else {}
    candidates.append(budget.get("amount"))
    awards = release.get("awards")
    if isinstance(awards, dict):
        candidates.append(awards.get("totalAwardValue"))
    elif isinstance(awards, list) and status == "award":
        candidates += [a.get("value") for a in awards if isinstance(a, dict)]
    if status == "award" and isinstance(release.get("contracts"), list):
        candidates += [c.get("value") for c in release["contracts"] if isinstance(c, dict)]
    for cand in candidates:
        if isinstance(cand, dict):
            amount = parse_amount(cand.get("amount"))
            currency = cand.get("currency")
            if amount is not None and isinstance(currency, str) and len(currency.strip()) == 3:
                return amount, currency.strip().upper()
    return None, None


def _stage_title(release: dict[str, Any]) -> str | None:
    """A title from the awards or contracts of a release that has no tender block (later stages)."""
    for key in ("awards", "contracts"):
        stage = release.get(key)
        for obj in [stage] if isinstance(stage, dict) else list(stage or []):
            if isinstance(obj, dict):
                title = clean(obj.get("title"), 1000) or clean(obj.get("title_en"), 1000)
                if title:
                    return title
    return None


def _one(release: Any, *, source: str, default_country: str | None) -> Any:
    if not isinstance(release, dict):
        return RecordRejectedError("release is not an object", errors=[{"loc": "release", "type": "dict_type"}],
                                   reason="invalid_tender")
    ocid = clean(release.get("ocid"), 200)
    rel_id = clean(release.get("id"), 300) or ocid
    tender = release.get("tender") if isinstance(release.get("tender"), dict) else {}
    planning = release.get("planning") if isinstance(release.get("planning"), dict) else {}
    status = _status(release)
    title = (
        clean(tender.get("title"), 1000)
        or clean(release.get("name"), 1000)  # Taiwan
        or clean((planning.get("budget") or {}).get("project") if isinstance(planning.get("budget"), dict) else None, 1000)
        or clean(tender.get("description"), 200)
        or _stage_title(release)
    )
    descr = tender.get("description") if isinstance(tender.get("description"), str) else ""
    value, currency = _value(release, tender, status)
    country_name, region = _address(release, tender)
    prefix = (ocid or "")[:11].lower()
    country = OCID_PREFIX_COUNTRY.get(prefix) or default_country
    if country is None and country_name:
        country = country_code(country_name)
    period = tender.get("tenderPeriod") if isinstance(tender.get("tenderPeriod"), dict) else {}
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
        "deadline": parse_datetime(period.get("endDate")),
        "procedure": " / ".join(p for p in (method, details) if p) or None,
        "url": url,
        "text": to_safe_html(descr),
        "language": clean(release.get("language"), 16),
        "refs": [f"ocds:{ocid}"] if ocid else [],
    })
