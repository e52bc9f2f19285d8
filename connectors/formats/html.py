"""HTML list + detail pages read with per-source declarative CSS selectors (beautifulsoup4 + soupsieve).

For portals that publish no feed (e.g. Chinese government procurement sites such as ccgp.gov.cn): a list
page holds one row per notice with a link; each detail page holds the full notice. A source declares
where each field is with a selector string ``"css"`` (the element's text) or ``"css @attr"`` (an
attribute), e.g. ``{"item": "ul.v2 > li", "title": "a", "link": "a @href", "published": "span.date"}``.
Nothing here is site-specific; the selectors are configuration.

A page whose ``item`` selector matches fewer rows than ``min_items`` raises ``SelectorsMatchedNothing``:
a redesigned site must show up as a per-source error, not as a silently empty feed.

Row groups: where one notice spans several table rows (Spain's PLACSP lists file number, title, buyer and
amount on separate ``<tr>``), ``group_start`` names the row that opens a notice; ``item`` then selects
every row, and each field selector is tried on the rows of the group in order. Detail pages are followed
from the group's link like from a single row. Amounts are read with the source's decimal mark
(``decimal``, else from ``language``: ``24.492,00`` is 24492 on a Spanish page). Status comes from a
``status`` selector mapped through ``status_words`` (e.g. ``{"Adjudicación": "award"}``), and Chinese
pages get their labelled fields read from the detail text (``cn_notice``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from connectors.errors import PermanentError, RecordRejectedError
from connectors.formats import cn_notice
from connectors.formats.common import (
    build_tender,
    clean,
    decimal_mark,
    parse_amount,
    parse_datetime,
    zone_for,
)
from connectors.formats.sanitize import collapse, sanitize_html

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-]+)", re.IGNORECASE)


class SelectorsMatchedNothing(PermanentError):
    """The list page did not contain the rows the selectors describe (site changed or error page)."""

    default_reason = "selectors_matched_nothing"


class ListSelectors(BaseModel):
    """Where the fields are on the list page, relative to each ``item`` row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str = Field(min_length=1)
    title: str = "a"
    link: str = "a @href"
    published: str | None = None
    buyer: str | None = None
    region: str | None = None
    value: str | None = None
    category: str | None = None
    deadline: str | None = None
    status: str | None = None
    project_code: str | None = None
    # A CSS selector the first row of each notice matches; rows up to the next such row are one notice.
    group_start: str | None = None
    # Words of the status text (case-insensitive substring) -> TenderStatus value, first match wins.
    status_words: dict[str, str] = Field(default_factory=dict)
    min_items: int = Field(default=1, ge=0)
    # Regex with one group applied to the link to get a stable source id; default: the link itself.
    id_pattern: str | None = None


class DetailSelectors(BaseModel):
    """Where the fields are on a detail page (whole-document selectors); all optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    buyer: str | None = None
    published: str | None = None
    deadline: str | None = None
    value: str | None = None
    region: str | None = None
    category: str | None = None
    status: str | None = None
    project_code: str | None = None
    text: str | None = None


_LIST_FIELDS = ("title", "published", "buyer", "region", "value", "category", "deadline", "status", "project_code")
_DETAIL_FIELDS = ("title", "buyer", "published", "deadline", "value", "region", "category", "status", "project_code")


def _soup(body: bytes, content_type: str | None, encoding: str | None = None) -> Any:
    from bs4 import BeautifulSoup

    charset = encoding
    if charset is None and content_type:
        m = _CHARSET.search(content_type)
        charset = m.group(1) if m else None
    if charset and charset.lower() in ("gb2312", "gbk"):
        charset = "gb18030"  # superset: pages labelled gb2312 routinely contain GBK/GB18030 characters
    if encoding is None and not body.isascii():
        # Bytes that decode as UTF-8 are UTF-8, whatever the label says (saved pages and proxies re-encode
        # without fixing the <meta>); a page really in ISO-8859-1/GBK with non-ASCII text almost never is.
        try:
            body.decode("utf-8")
            charset = "utf-8"
        except UnicodeDecodeError:
            pass
    return BeautifulSoup(body, "html.parser", from_encoding=charset)


def select(node: Any, spec: str | None) -> str | None:
    """Apply one ``"css"`` / ``"css @attr"`` selector; the first match's text or attribute, or ``None``."""
    if not spec or node is None:
        return None
    css, _, attr = spec.partition("@")
    css = css.strip()
    found = node.select_one(css) if css else node
    if found is None:
        return None
    if attr.strip():
        value = found.get(attr.strip())
        if isinstance(value, list):
            value = " ".join(value)
        return clean(value, 2000)
    return clean(found.get_text(" "), 2000)


def parse_list(
    body: bytes, *, base_url: str, selectors: ListSelectors, content_type: str | None = None,
    encoding: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of the list page: ``{"title", "url", "published", "buyer", "region"}`` (raw strings).

    Raises:
        SelectorsMatchedNothing: Fewer rows than ``selectors.min_items``.
    """
    soup = _soup(body, content_type, encoding)
    rows = soup.select(selectors.item)
    groups = _groups(rows, selectors.group_start) if selectors.group_start else [[row] for row in rows]
    if len(groups) < selectors.min_items:
        raise SelectorsMatchedNothing(f"list selector matched {len(groups)} rows")
    out = []
    for group in groups:
        row = {name: _first(group, getattr(selectors, name)) for name in _LIST_FIELDS}
        row["url"] = _absolute(base_url, _first(group, selectors.link))
        out.append(row)
    return out


def _groups(rows: list[Any], start: str) -> list[list[Any]]:
    """Rows cut into notices at each row matching ``start`` (rows before the first start are dropped)."""
    groups: list[list[Any]] = []
    for row in rows:
        if row.css.match(start):
            groups.append([row])
        elif groups:
            groups[-1].append(row)
    return groups


def _first(rows: list[Any], spec: str | None) -> str | None:
    for row in rows:
        value = select(row, spec)
        if value:
            return value
    return None


def _absolute(base_url: str, link: str | None) -> str | None:
    if not link:
        return None
    url = urljoin(base_url, link.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def parse_detail(body: bytes, *, selectors: DetailSelectors, content_type: str | None = None,
                 encoding: str | None = None) -> dict[str, Any]:
    """Fields of one detail page (raw strings; ``text`` is sanitised HTML)."""
    soup = _soup(body, content_type, encoding)
    out: dict[str, Any] = {name: select(soup, getattr(selectors, name)) for name in _DETAIL_FIELDS}
    if selectors.text:
        node = soup.select_one(selectors.text)
        out["text"] = sanitize_html(node.decode_contents()) if node is not None else None
    return out


def build_tenders(
    rows: list[dict[str, Any]],
    details: Mapping[str, dict[str, Any]],
    *,
    source: str,
    id_pattern: str | None,
    defaults: Mapping[str, Any],
    status_words: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """Merge list rows with their detail pages (detail wins where it has a value) into ``Tender``s."""
    tz = defaults.get("timezone") or zone_for(defaults.get("country"))
    decimal = defaults.get("decimal") or decimal_mark(defaults.get("language"))
    pattern = re.compile(id_pattern) if id_pattern else None
    for index, row in enumerate(rows):
        url = row.get("url")
        merged = dict(row)
        for key, value in (details.get(url or "") or {}).items():
            if value:
                merged[key] = value
        source_id = None
        if url and pattern is not None:
            m = pattern.search(url)
            source_id = m.group(1) if m and m.groups() else None
        source_id = source_id or url
        if not source_id and merged.get("title"):
            source_id = "sha1:" + hashlib.sha1(str(merged["title"]).encode("utf-8")).hexdigest()
        if not source_id:
            yield RecordRejectedError("row without link or title", errors=[{"loc": f"rows.{index}", "type": "missing"}],
                                      reason="invalid_tender")
            continue
        buyer = merged.get("buyer") or defaults.get("buyer")
        scheme = defaults.get("category_scheme")
        code = re.match(r"\s*([0-9A-Za-z][0-9A-Za-z.]*)", merged.get("category") or "")
        currency = defaults.get("currency")
        value = parse_amount(merged.get("value"), decimal=decimal)
        fields: dict[str, Any] = {
            "source": source,
            "source_id": source_id,
            "title": merged.get("title"),
            "status": _status(merged.get("status"), status_words or {}),
            "buyer": {"name": buyer} if buyer else None,
            "country": defaults.get("country"),
            "region": merged.get("region") or defaults.get("region"),
            "categories": [f"{scheme}:{code.group(1)}"] if scheme and code else [],
            "value": value,
            "currency": currency if value is not None else None,
            "published": parse_datetime(merged.get("published"), tz=tz),
            "deadline": parse_datetime(merged.get("deadline"), tz=tz, end_of_day=True),
            "url": url,
            "text": merged.get("text") or "",
            "language": defaults.get("language"),
            "project_code": merged.get("project_code"),
            "refs": [f"url:{url}"] if url else [],
        }
        if fields["deadline"] is not None:
            fields["deadline_kind"] = "tender"
        if fields["status"] is None:
            del fields["status"]
        cn_notice.fill(fields, fields["text"], defaults)
        yield build_tender(fields)


def _status(text: str | None, words: Mapping[str, str]) -> str | None:
    low = (text or "").lower()
    return next((status for word, status in words.items() if word.lower() in low), None) if low else None


def text_only(html: str) -> str:
    """Whitespace-collapsed visible text (for tests and logs)."""
    from bs4 import BeautifulSoup

    return collapse(BeautifulSoup(html, "html.parser").get_text(" "))
