"""Helpers shared by the tender format parsers: dates, amounts, country codes, building a ``Tender``.

All pure; none of them raises on bad input except ``build_tender``, which turns a validation failure
into a ``RecordRejectedError`` carrying only ``loc``/``type``.
"""

from __future__ import annotations

import re
import unicodedata
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
# Day first, as European portals write it: 03-01-2014 15:47, 03/01/2014, 3.1.2014 (never US month-first).
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[\sT]+(\d{1,2})[:.h](\d{2}))?")


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


# The buyer's time zone, for notices that give local times without an offset ("Local time" on TED forms).
# Rule for countries that span several zones: the zone of the capital, unless the buyer's NUTS region
# lies in another zone (``REGION_ZONES``: the Canaries, Azores, Madeira, France's overseas regions).
# Elsewhere (US, CA, AU, BR, MX, RU...) the capital's zone is a stated approximation: those publishers
# (OCDS) write offsets themselves, so it only applies to naive times. Source: IANA tz database zone.tab.
COUNTRY_ZONES = {
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia", "HR": "Europe/Zagreb",
    "CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn",
    "FI": "Europe/Helsinki", "FR": "Europe/Paris", "DE": "Europe/Berlin", "GR": "Europe/Athens",
    "HU": "Europe/Budapest", "IE": "Europe/Dublin", "IT": "Europe/Rome", "LV": "Europe/Riga",
    "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg", "MT": "Europe/Malta", "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw", "PT": "Europe/Lisbon", "RO": "Europe/Bucharest", "SK": "Europe/Bratislava",
    "SI": "Europe/Ljubljana", "ES": "Europe/Madrid", "SE": "Europe/Stockholm", "IS": "Atlantic/Reykjavik",
    "LI": "Europe/Vaduz", "NO": "Europe/Oslo", "CH": "Europe/Zurich", "GB": "Europe/London",
    "MK": "Europe/Skopje", "RS": "Europe/Belgrade", "ME": "Europe/Podgorica", "AL": "Europe/Tirane",
    "TR": "Europe/Istanbul", "UA": "Europe/Kyiv", "MD": "Europe/Chisinau", "BA": "Europe/Sarajevo",
    "XK": "Europe/Belgrade", "AM": "Asia/Yerevan", "GE": "Asia/Tbilisi", "CN": "Asia/Shanghai",
    "TW": "Asia/Taipei", "HK": "Asia/Hong_Kong", "MO": "Asia/Macau", "JP": "Asia/Tokyo", "KR": "Asia/Seoul",
    "SG": "Asia/Singapore", "US": "America/New_York", "CA": "America/Toronto", "MX": "America/Mexico_City",
    "CO": "America/Bogota", "PY": "America/Asuncion", "CL": "America/Santiago", "BR": "America/Sao_Paulo",
    "AU": "Australia/Sydney", "NZ": "Pacific/Auckland", "NG": "Africa/Lagos", "UG": "Africa/Kampala",
    "RU": "Europe/Moscow",
}
REGION_ZONES = {
    "ES70": "Atlantic/Canary", "PT20": "Atlantic/Azores", "PT30": "Atlantic/Madeira",
    "FRY1": "America/Guadeloupe", "FRY2": "America/Martinique", "FRY3": "America/Cayenne",
    "FRY4": "Indian/Reunion", "FRY5": "Indian/Mayotte",
}


def zone_for(country: str | None, region: str | None = None) -> str | None:
    """The IANA zone name of a buyer from its country (ISO alpha-2) and NUTS region; ``None`` if unknown."""
    code = (region or "").strip().upper()
    for prefix, name in REGION_ZONES.items():
        if code.startswith(prefix):
            return name
    return COUNTRY_ZONES.get((country or "").strip().upper())


def parse_datetime(value: Any, *, tz: str | None = None, end_of_day: bool = False) -> datetime | None:
    """Read the date/time notations tender sources use; naive values are taken in ``tz``.

    Accepts ISO 8601 (with or without offset, date only), ``YYYYMMDD[ HH:MM]`` (TED), ``2024年5月1日``,
    ``2024/05/01 10:00``, and ``time.struct_time`` (feedparser). Returns an aware UTC datetime or ``None``.
    ``end_of_day``: a date without a time means the end of that day (23:59:59 in ``tz`` or the date's own
    offset) — what a deadline given as a date means — instead of its start.
    """
    if value is None or value == "":
        return None
    date_only = False
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt, date_only = datetime.combine(value, time()), True
    elif hasattr(value, "tm_year"):  # time.struct_time from feedparser, always UTC
        try:
            return datetime(*value[:6]).replace(tzinfo=UTC)
        except (TypeError, ValueError):
            return None
    else:
        parsed = _parse_text(str(value).strip())
        if parsed is None:
            return None
        dt, date_only = parsed
    if date_only and end_of_day:
        dt = dt.replace(hour=23, minute=59, second=59)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _parse_text(text: str) -> tuple[datetime, bool] | None:
    """(datetime, whether the text gave a date only)."""
    # ISO with a trailing offset on a date only ("2019-11-21+01:00", eForms) is not accepted by
    # fromisoformat; split it off.
    m = re.match(r"^(\d{4}-\d{2}-\d{2})([+-]\d{2}:\d{2}|Z)$", text)
    if m:
        return _iso(f"{m.group(1)}T00:00:00{m.group(2)}", True)
    iso = _iso(text, bool(re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", text)))
    if iso is not None:
        return iso
    m = _DAY_FIRST.match(text)
    if m is not None:
        d, mo, y, hh, mm = m.groups()
        try:
            return datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0)), hh is None
        except ValueError:
            return None
    m = _COMPACT.match(text)
    if m is None:
        m = _CN_DATE.search(text)
    if m is None:
        return None
    y, mo, d, hh, mm = m.groups()
    try:
        return datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0)), hh is None
    except ValueError:
        return None


def _iso(text: str, date_only: bool) -> tuple[datetime, bool] | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")), date_only
    except ValueError:
        return None


def combine(day: str | None, clock: str | None, *, tz: str | None = None, end_of_day: bool = False) -> datetime | None:
    """Join a date and a time given separately (eForms ``EndDate``/``EndTime``, TED date + time)."""
    if not day:
        return None
    d = parse_datetime(day, tz=tz, end_of_day=end_of_day and not clock)
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
        offset = UTC if off == "Z" else _fixed(off)
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


# Languages whose notices write amounts with a decimal comma (``1.234,56``); ISO 639-1, lower case.
DECIMAL_COMMA_LANGUAGES = frozenset(
    ["bg", "cs", "da", "de", "el", "es", "et", "fi", "fr", "hr", "hu", "id", "it", "lt", "lv", "nl", "no", "nb", "nn", "pl", "pt", "ro", "ru", "sk", "sl", "sr", "sv", "tr", "uk", "vi", "ca", "eu", "gl", "is", "az", "be", "ka", "kk", "mk", "sq", "hy", "mn"]
)
_SEPARATORS = re.compile(r"[\s\u00a0\u202f\u2009']")
_NUMBER = re.compile(r"\d(?:[\d\s\u00a0\u202f\u2009',.]*\d)?")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "貳": 2, "两": 2, "兩": 2, "三": 3, "叁": 3,
              "參": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "陸": 6, "七": 7, "柒": 7, "八": 8,
              "捌": 8, "九": 9, "玖": 9}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_CN_NUMERAL = re.compile(
    "[" + "".join(_CN_DIGITS) + "".join(_CN_UNITS) + "".join(_CN_BIG) + "]+"
    "(?:[元圆圓](?:[" + "".join(_CN_DIGITS) + "][角分]){0,2})?"
)


def decimal_mark(language: str | None) -> str | None:
    """``","`` for languages that write a decimal comma, ``"."`` for others, ``None`` when unknown."""
    if not language:
        return None
    code = language.strip().lower().replace("_", "-").split("-")[0]
    if len(code) == 3:  # eForms/TED use ISO 639-2/3 codes
        code = _ISO639_3.get(code, code)
    if code in DECIMAL_COMMA_LANGUAGES:
        return ","
    return "." if len(code) == 2 and code.isalpha() else None


_ISO639_3 = {
    "bul": "bg", "ces": "cs", "dan": "da", "deu": "de", "ell": "el", "spa": "es", "est": "et", "fin": "fi",
    "fra": "fr", "hrv": "hr", "hun": "hu", "ita": "it", "lit": "lt", "lav": "lv", "nld": "nl", "pol": "pl",
    "por": "pt", "ron": "ro", "slk": "sk", "slv": "sl", "swe": "sv", "eng": "en", "gle": "ga", "mlt": "mt",
    "zho": "zh", "nor": "no", "isl": "is",
}


def parse_amount(value: Any, *, decimal: str | None = None) -> Decimal | None:
    """A non-negative amount from a number or from text as notices write it; ``None`` if unreadable.

    Text: thousands separators (``,`` ``.`` spaces, apostrophes) and the decimal mark are told apart by
    ``decimal`` (``","`` or ``"."``: the source's convention, see ``decimal_mark``) and, without it, by
    the digits: with both marks the last one is decimal; one mark used twice groups thousands; a single
    comma followed by other than three digits is decimal (``466459,56``), one followed by three groups
    thousands (``1,234``); a single point is decimal. Chinese forms: currency signs and full-width
    characters (``￥10618.52 万元``), units 万/亿 (and 千元), and numerals (``壹佰万元整``,
    ``叁仟元伍角``) when the text has no Arabic digits.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(str(value))
    else:
        parsed = _amount_text(unicodedata.normalize("NFKC", str(value)).strip(), decimal)
        if parsed is None:
            return None
        amount = parsed
    if not amount.is_finite() or amount < 0:
        return None
    return amount


def _amount_text(text: str, decimal: str | None) -> Decimal | None:
    m = _NUMBER.search(text)
    if m is None:
        cn = _CN_NUMERAL.search(text)
        return _chinese_numeral(cn.group(0)) if cn else None
    if text[: m.start()].rstrip().endswith("-"):
        return None  # a negative amount is no amount
    raw = _number(_SEPARATORS.sub("", m.group(0)), decimal)
    if raw is None:
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        return None
    rest = text[m.end():].lstrip()
    if rest.startswith(("万", "萬")):  # Chinese notices state budgets in units of 10,000 (万元)
        amount *= 10_000
    elif rest.startswith(("亿", "億")):
        amount *= 100_000_000
    elif rest.startswith("千元"):
        amount *= 1000
    return amount


def _number(raw: str, decimal: str | None) -> str | None:
    """``raw`` (digits with ``,``/``.`` marks, no spaces) as a plain decimal string."""
    commas, points = raw.count(","), raw.count(".")
    if commas and points:
        mark = "," if raw.rfind(",") > raw.rfind(".") else "."
    elif commas or points:
        sep = "," if commas else "."
        after = len(raw) - raw.rfind(sep) - 1
        if raw.count(sep) > 1:
            mark = None
        elif after != 3:
            mark = sep
        elif decimal in (",", "."):
            mark = sep if sep == decimal else None
        else:
            mark = "." if sep == "." else None
    else:
        mark = None
    thousands = {",", "."} - {mark}
    for t in thousands:
        raw = raw.replace(t, "")
    if mark:
        if raw.count(mark) > 1:
            return None
        raw = raw.replace(mark, ".")
    return raw if re.fullmatch(r"\d+(?:\.\d+)?", raw) else None


def _chinese_numeral(text: str) -> Decimal | None:
    """``壹佰万元整`` -> 1000000; ``一亿二千万`` -> 120000000; ``叁元伍角陆分`` -> 3.56."""
    unit = re.search("[元圆圓]", text)
    whole, cents = (text[: unit.start()], text[unit.end():]) if unit else (text, "")
    total, section, number, seen = 0, 0, 0, False
    for ch in whole:
        if ch in _CN_DIGITS:
            number, seen = _CN_DIGITS[ch], True
        elif ch in _CN_UNITS:
            section += (number or 1) * _CN_UNITS[ch]
            number, seen = 0, True
        elif ch in _CN_BIG:
            if ch in ("亿", "億"):
                total = (total + section + number) * _CN_BIG[ch]
            else:
                total += (section + number) * _CN_BIG[ch]
            section = number = 0
    amount = Decimal(total + section + number)
    for digit, fraction in re.findall("([" + "".join(_CN_DIGITS) + "])([角分])", cents):
        amount += Decimal(_CN_DIGITS[digit]) * (Decimal("0.1") if fraction == "角" else Decimal("0.01"))
        seen = True
    return amount if seen else None


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


def buyer_id(value: Any) -> str | None:
    """A buyer's published id, or ``None`` for placeholders that identify nobody: ``N/A``, ``-``, ``00``
    (any run of zeros), a bare country code (``DE``, ``ES``) or anything without a digit or letter."""
    text = clean(value, 100)
    if text is None:
        return None
    compact = re.sub(r"[\s\-_./]", "", text).upper()
    if not compact or not any(ch.isalnum() for ch in compact):
        return None
    if compact in ("NA", "NONE", "NULL", "UNKNOWN", "NOTAPPLICABLE", "SINDATO", "SN") or set(compact) == {"0"}:
        return None
    if len(compact) == 2 and compact.isalpha():
        return None
    return text


_WORD = re.compile(r"\S+")  # what str.split() splits off: both use Unicode's whitespace (str.isspace)


def clean(value: Any, limit: int = 500) -> str | None:
    """Strip a text value, whitespace runs collapsed to one space; ``None`` for empty or non-text. Cut at ``limit``
    characters. A long text is collapsed only as far as the cut (the words after it are never split off or
    joined): the same result as ``" ".join(text.split())[:limit]``, without working through a whole notice body."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value)
    if limit <= 0 or len(text) <= 2 * limit:
        return " ".join(text.split())[:limit] or None
    words: list[str] = []
    size = -1  # the joined length so far (no space before the first word)
    for match in _WORD.finditer(text):
        words.append(match.group())
        size += 1 + len(words[-1])
        if size >= limit:
            break
    return " ".join(words)[:limit] or None


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
