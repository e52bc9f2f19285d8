"""HTML list + detail pages read with per-source declarative CSS selectors (beautifulsoup4 + soupsieve).

For portals that publish no feed (e.g. Chinese government procurement sites such as ccgp.gov.cn): a list
page holds one row per notice with a link; each detail page holds the full notice. A source declares
where each field is with a selector string ``"css"`` (the element's text) or ``"css @attr"`` (an
attribute), e.g. ``{"item": "ul.v2 > li", "title": "a", "link": "a @href", "published": "span.date"}``.
Nothing here is site-specific; the selectors are configuration.

A page whose ``item`` selector matches fewer rows than ``min_items`` raises ``SelectorsMatchedNothing``:
a redesigned site must show up as a per-source error, not as a silently empty feed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from connectors.errors import PermanentError, RecordRejectedError
from connectors.formats.common import build_tender, clean, parse_amount, parse_datetime
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
    text: str | None = None


def _soup(body: bytes, content_type: str | None, encoding: str | None = None) -> Any:
    from bs4 import BeautifulSoup

    charset = encoding
    if charset is None and content_type:
        m = _CHARSET.search(content_type)
        charset = m.group(1) if m else None
    if charset and charset.lower() in ("gb2312", "gbk"):
        charset = "gb18030"  # superset: pages labelled gb2312 routinely contain GBK/GB18030 characters
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
    if len(rows) < selectors.min_items:
        raise SelectorsMatchedNothing(f"list selector matched {len(rows)} rows")
    out = []
    for row in rows:
        link = select(row, selectors.link)
        out.append({
            "title": select(row, selectors.title),
            "url": _absolute(base_url, link),
            "published": select(row, selectors.published),
            "buyer": select(row, selectors.buyer),
            "region": select(row, selectors.region),
        })
    return out


def _absolute(base_url: str, link: str | None) -> str | None:
    if not link:
        return None
    url = urljoin(base_url, link.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def parse_detail(body: bytes, *, selectors: DetailSelectors, content_type: str | None = None,
                 encoding: str | None = None) -> dict[str, Any]:
    """Fields of one detail page (raw strings; ``text`` is sanitised HTML)."""
    soup = _soup(body, content_type, encoding)
    out: dict[str, Any] = {
        name: select(soup, getattr(selectors, name))
        for name in ("title", "buyer", "published", "deadline", "value", "region", "category")
    }
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
) -> Iterator[Any]:
    """Merge list rows with their detail pages (detail wins where it has a value) into ``Tender``s."""
    tz = defaults.get("timezone")
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
        category = merged.get("category")
        scheme = defaults.get("category_scheme")
        currency = defaults.get("currency")
        value = parse_amount(merged.get("value"))
        yield build_tender({
            "source": source,
            "source_id": source_id,
            "title": merged.get("title"),
            "buyer": {"name": buyer} if buyer else None,
            "country": defaults.get("country"),
            "region": merged.get("region") or defaults.get("region"),
            "categories": [f"{scheme}:{category}"] if scheme and category else [],
            "value": value,
            "currency": currency if value is not None else None,
            "published": parse_datetime(merged.get("published"), tz=tz),
            "deadline": parse_datetime(merged.get("deadline"), tz=tz),
            "url": url,
            "text": merged.get("text") or "",
            "language": defaults.get("language"),
            "refs": [f"url:{url}"] if url else [],
        })


def text_only(html: str) -> str:
    """Whitespace-collapsed visible text (for tests and logs)."""
    from bs4 import BeautifulSoup

    return collapse(BeautifulSoup(html, "html.parser").get_text(" "))
