"""Helpers shared by the tender format parsers: dates, amounts, country codes, building a ``Tender``.

All pure; none of them raises on bad input except ``build_tender``, which turns a validation failure
into a ``RecordRejectedError`` carrying only ``loc``/``type``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from connectors.errors import RecordRejectedError, loc_type_errors

# ISO 3166 alpha-3 -> alpha-2 for the countries whose notices reach TED (eForms writes alpha-3) and a few
# more publishers seen in OCDS data. Source: ISO 3166-1 code tables.
ISO3_TO_ISO2 = {
    "AUT": "AT", "BEL": "BE", "BGR": "BG", "HRV": "HR", "CYP": "CY", "CZE": "CZ", "DNK": "DK", "EST": "EE",
    "FIN": "FI", "FRA": "FR", "DEU": "DE", "GRC": "GR", "HUN": "HU", "IRL": "IE", "ITA": "IT", "LVA": "LV",
    "LTU": "LT", "LUX": "LU", "MLT": "MT", "NLD": "NL", "POL": "PL", "PRT": "PT", "ROU": "RO", "SVK": "SK",
    "SVN": "SI", "ESP": "ES", "SWE": "SE", "ISL": "IS", "LIE": "LI", "NOR": "NO", "CHE": "CH", "GBR": "GB",
    "MKD": "MK", "SRB": "RS", "MNE": "ME", "ALB": "AL", "TUR": "TR", "UKR": "UA", "MDA": "MD", "USA": "US",
    "CAN": "CA", "AUS": "AU", "NZL": "NZ", "CHN": "CN", "TWN": "TW", "HKG": "HK", "JPN": "JP", "KOR": "KR",
    "SGP": "SG", "MEX": "MX", "COL": "CO", "PRY": "PY", "NGA": "NG", "UGA": "UG", "BRA": "BR", "CHL": "CL",
}
# TED writes "UK" for the United Kingdom and "EL" for Greece (EU style); ISO says GB and GR.
EU_TO_ISO2 = {"UK": "GB", "EL": "GR"}

_DIGITS = re.compile(r"[0-9][0-9,.\s\u00a0']*")
_CN_DATE = re.compile(r"(\d{4})\s*[年/\-.]\s*(\d{1,2})\s*[月/\-.]\s*(\d{1,2})\s*日?(?:\s*(\d{1,2})\s*[:时点]\s*(\d{1,2}))?")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:\s+(\d{1,2}):(\d{2}))?$")


@lru_cache(maxsize=32)
def zone(name: str | None) -> tzinfo:
    """A time zone by IANA name (UTC when unknown or ``None``)."""
    if not name:
        return UTC
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - no tz database: fall back to UTC rather than fail the feed
        return UTC


def parse_datetime(value: Any, *, tz: str | None = None) -> datetime | None:
    """Read the date/time notations tender sources use; naive values are taken in ``tz``.

    Accepts ISO 8601 (with or without offset, date only), ``YYYYMMDD[ HH:MM]`` (TED), ``2024年5月1日``,
    ``2024/05/01 10:00``, and ``time.struct_time`` (feedparser). Returns an aware UTC datetime or ``None``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time())
    elif hasattr(value, "tm_year"):  # time.struct_time from feedparser, always UTC
        try:
            return datetime(*value[:6], tzinfo=UTC)
        except (TypeError, ValueError):
            return None
    else:
        text = str(value).strip()
        dt = _parse_text(text)
        if dt is None:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _parse_text(text: str) -> datetime | None:
    # ISO with a trailing offset on a date only ("2019-11-21+01:00", eForms) is not accepted by
    # fromisoformat; split it off.
    m = re.match(r"^(\d{4}-\d{2}-\d{2})([+-]\d{2}:\d{2}|Z)$", text)
    if m:
        text = f"{m.group(1)}T00:00:00{m.group(2)}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    m = _COMPACT.match(text)
    if m is None:
        m = _CN_DATE.search(text)
    if m is None:
        return None
    y, mo, d, hh, mm = m.groups()
    try:
        return datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0))
    except ValueError:
        return None


def combine(day: str | None, clock: str | None, *, tz: str | None = None) -> datetime | None:
    """Join a date and a time given separately (eForms ``EndDate``/``EndTime``, TED date + time)."""
    if not day:
        return None
    d = parse_datetime(day, tz=tz)
    if d is None or not clock:
        return d
    m = re.match(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:\d{2})?$", clock.strip())
    if m is None:
        return d
    hh, mm, ss, off = m.groups()
    # The date's own offset is the day boundary; the time's offset (when given) is authoritative.
    local_day = parse_datetime(day.strip()[:10], tz=tz)
    if local_day is None:
        return d
    if off:
        offset = timezone.utc if off == "Z" else _fixed(off)
        naive = datetime.strptime(day.strip()[:10], "%Y-%m-%d").replace(
            hour=int(hh), minute=int(mm), second=int(ss or 0), tzinfo=offset
        )
        return naive.astimezone(UTC)
    naive = datetime.strptime(day.strip()[:10], "%Y-%m-%d").replace(hour=int(hh), minute=int(mm))
    return naive.replace(tzinfo=zone(tz)).astimezone(UTC)


def _fixed(offset: str) -> timezone:
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = offset[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def parse_amount(value: Any) -> Decimal | None:
    """A non-negative amount from a number or text (``"1,234.50"``, ``"12.5万元"``); ``None`` if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(str(value))
    else:
        text = str(value).strip()
        m = _DIGITS.search(text)
        if m is None:
            return None
        raw = re.sub(r"[\s\u00a0',]", "", m.group(0)).rstrip(".")
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            return None
        rest = text[m.end():]
        if rest.startswith("万"):  # Chinese notices state budgets in units of 10,000 (万元)
            amount *= 10_000
        elif rest.startswith("亿"):
            amount *= 100_000_000
    if not amount.is_finite() or amount < 0:
        return None
    return amount


def country_code(value: Any) -> str | None:
    """ISO 3166 alpha-2 from alpha-2, alpha-3 or the EU's UK/EL spellings; ``None`` otherwise."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    if len(code) == 3:
        return ISO3_TO_ISO2.get(code)
    if len(code) == 2 and code.isalpha():
        return EU_TO_ISO2.get(code, code)
    return None


def clean(value: Any, limit: int = 500) -> str | None:
    """Strip a text value; ``None`` for empty or non-text. Cut at ``limit`` characters."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = " ".join(str(value).split())
    return text[:limit] or None


def build_tender(fields: dict[str, Any]) -> Any:
    """Validate ``fields`` into a ``Tender``; on failure return a ``RecordRejectedError`` to be yielded.

    Oversized title and text are cut rather than rejected: a long notice is still a notice.
    """
    from schemas.tender import TEXT_MAX, TITLE_MAX, Tender

    if isinstance(fields.get("title"), str):
        fields["title"] = fields["title"][:TITLE_MAX]
    if isinstance(fields.get("text"), str) and len(fields["text"]) > TEXT_MAX:
        from connectors.formats.sanitize import html_to_text, text_to_html

        # Cutting HTML could leave an unclosed tag; cut the plain text instead.
        fields["text"] = text_to_html(html_to_text(fields["text"])[: TEXT_MAX // 2])
    fields["categories"] = sorted(set(fields.get("categories") or []))
    refs = [r for r in dict.fromkeys(fields.get("refs") or []) if r]
    fields["refs"] = refs
    try:
        return Tender.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        return RecordRejectedError(
            "tender failed validation",
            source_id=fields.get("source_id") if isinstance(fields.get("source_id"), str) else None,
            errors=loc_type_errors(exc),
            reason="invalid_tender",
        )
