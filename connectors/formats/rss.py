"""RSS 0.9x/1.0/2.0 and Atom feeds through feedparser, one ``Tender`` per entry.

feedparser is lenient on purpose (ill-formed feeds still yield entries, ``bozo`` set), which is what a
feed poller wants. Three things are ours, not feedparser's:

- documents that declare XML entities are refused before parsing (``xmlsafe.declares_entities``): the
  lenient fallback parser must never see an entity bomb;
- feedparser's own sanitiser is switched off and ``sanitize.sanitize_html`` cleans entry bodies, so one
  sanitiser (tested on feedparser's corpus) guards every format;
- a body that yields no entries *and* is not a feed (bozo with no version) is a per-source error.

The HTTP ``Content-Type`` (with its charset) is passed to feedparser, which uses it to pick the encoding
the way a browser would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from connectors.errors import PermanentError, RecordRejectedError
from connectors.formats import cn_notice, xmlsafe
from connectors.formats.common import build_tender, clean, parse_datetime
from connectors.formats.sanitize import html_to_text, sanitize_html, text_to_html


class NotAFeedError(PermanentError):
    """The body is not a feed feedparser can read."""

    default_reason = "not_a_feed"


def parse_feed(body: bytes, headers: Mapping[str, str] | None = None) -> Any:
    """Run feedparser on bytes with our policies (no network, no sanitiser of its own).

    Raises:
        UnsafeXmlError: The document declares XML entities.
    """
    import feedparser

    if xmlsafe.declares_entities(body):
        raise xmlsafe.UnsafeXmlError("the feed declares XML entities; refused")
    return feedparser.parse(
        body,
        response_headers=dict(headers or {}),
        sanitize_html=False,
        resolve_relative_uris=True,
    )


def next_page_url(body: bytes, headers: Mapping[str, str] | None = None) -> str | None:
    """The feed's ``<link rel="next">`` (RFC 5005 paged feeds, Atom or ``atom:link`` in RSS), if any."""
    try:
        parsed = parse_feed(body, headers)
    except PermanentError:
        return None
    for link in (parsed.get("feed") or {}).get("links") or []:
        if link.get("rel") == "next" and link.get("href"):
            return str(link["href"])
    return None


def entry_body(entry: Any) -> str:
    """The richest body an entry has: full content, else summary/description (unsanitised)."""
    for content in entry.get("content") or []:
        value = content.get("value")
        if value:
            return str(value)
    return str(entry.get("summary") or entry.get("description") or "")


def _is_html(detail: Any) -> bool:
    # text/html, application/xhtml+xml
    return "html" in str((detail or {}).get("type") or "")


def parse_entries(
    body: bytes,
    *,
    source: str,
    headers: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    category_scheme: str | None = None,
) -> Iterator[Any]:
    """Yield one ``Tender`` (or ``RecordRejectedError``) per feed entry.

    Args:
        body: The raw feed bytes.
        source: The configured source name.
        headers: HTTP response headers (``Content-Type`` decides the encoding when it names a charset).
        defaults: Values for fields feeds do not carry (``country``, ``region``, ``currency``, ``buyer``).
        category_scheme: Prefix for entry categories that are codes (``"cpv"``); ``None`` ignores them.

    Raises:
        UnsafeXmlError: Entity declarations.
        NotAFeedError: Nothing feed-like in the body.
    """
    parsed = parse_feed(body, headers)
    entries = parsed.get("entries") or []
    if not entries and not parsed.get("version") and not (parsed.get("feed") or {}).get("title"):
        raise NotAFeedError("the body is not an RSS/Atom feed")
    defaults = dict(defaults or {})
    for index, entry in enumerate(entries):
        yield _entry(entry, index, source=source, defaults=defaults, category_scheme=category_scheme)


def _entry(entry: Any, index: int, *, source: str, defaults: dict[str, Any], category_scheme: str | None) -> Any:
    fields = entry_fields(entry, source=source, defaults=defaults, category_scheme=category_scheme)
    if fields["source_id"] is None:
        return RecordRejectedError(
            "entry has neither id, link nor title",
            errors=[{"loc": f"entries.{index}", "type": "missing"}],
            reason="invalid_tender",
        )
    built = build_tender(fields)
    if isinstance(built, RecordRejectedError):
        # Say which entry: the feed-level position is all an operator has to find it.
        built.errors = [{"loc": f"entries.{index}.{e['loc']}", "type": e["type"]} for e in built.errors]
    return built


def _alternate_link(entry: Any) -> Any:
    # feedparser's ``link`` can be taken over by a later rel=enclosure link without href; the page about
    # the notice is the rel=alternate one.
    for link in entry.get("links") or []:
        if link.get("rel") == "alternate" and link.get("href"):
            return link["href"]
    return entry.get("link")


def entry_fields(
    entry: Any, *, source: str, defaults: Mapping[str, Any], category_scheme: str | None = None
) -> dict[str, Any]:
    """The ``Tender`` fields read from one feedparser entry, before validation."""
    raw_body = entry_body(entry)
    detail = (entry.get("content") or [{}])[0] if entry.get("content") else entry.get("summary_detail")
    text = sanitize_html(raw_body) if _is_html(detail) or "<" in raw_body else text_to_html(raw_body)
    title_detail = entry.get("title_detail") or {}
    raw_title = str(entry.get("title") or "")
    title = html_to_text(raw_title) if _is_html(title_detail) else clean(raw_title, 1000)
    if not title:
        # Some feeds put everything in the description; its first line stands in for a title.
        title = clean(html_to_text(text), 120)
    link = _alternate_link(entry)
    source_id = clean(entry.get("id"), 500) or clean(link, 500)
    if not source_id and title:
        # No guid, no link: a digest of what identifies the entry keeps re-polls idempotent.
        basis = f"{title}|{entry.get('published') or entry.get('updated') or ''}"
        source_id = "sha1:" + hashlib.sha1(basis.encode("utf-8")).hexdigest()
    source_id = source_id or None
    categories = []
    if category_scheme:
        for tag in entry.get("tags") or []:
            term = clean(tag.get("term"), 60)
            if term:
                categories.append(f"{category_scheme}:{term}")
    published = parse_datetime(entry.get("published_parsed") or entry.get("updated_parsed"))
    buyer = defaults.get("buyer")
    fields = {
        "source": source,
        "source_id": source_id,
        "title": title,
        "buyer": {"name": buyer} if isinstance(buyer, str) and buyer else None,
        "country": defaults.get("country"),
        "region": defaults.get("region"),
        "categories": categories,
        "currency": None,
        "published": published,
        "url": link if isinstance(link, str) and link.startswith(("http://", "https://")) else None,
        "text": text,
        "language": defaults.get("language"),
        "refs": [f"url:{link}"] if isinstance(link, str) and link.startswith(("http://", "https://")) else [],
    }
    cn_notice.fill(fields, text, defaults)
    return fields
