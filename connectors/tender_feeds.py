"""Tender feed connectors: one class per format, every real source is configuration.

A source (``functions/chalicelib/tender_sources.json`` or ``DEALREG_TENDER_SOURCES``) names one of these
connectors and gives its config: the feed URL, the ``source`` name stored on each tender, defaults for
what the format does not carry (country, currency, buyer, time zone) and, for HTML, the selectors::

    {"name": "contracts_finder", "connector": "tender_ocds", "every_minutes": 30,
     "config": {"source": "contracts_finder", "feed_url": "https://.../Published/Notices/OCDS/Search"}}

``fetch`` (I/O) is inherited from ``FeedConnector`` (one conditional GET), except for HTML, which also
GETs the detail pages the list links to. ``parse`` is pure and delegates to ``connectors.formats``.
``next_page`` (pure) names the next page of a paged document (OCDS ``links.next``, RFC 5005
``rel="next"``) for ``dealreg feeds backfill``, which fetches it by passing its URL as the cursor.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import urljoin

from pydantic import BaseModel, Field, field_validator

from connectors.base import FeedConfig, FeedConnector, Fetched, FetchRequest, Parsed
from connectors.errors import PermanentError
from connectors.formats import codice, html as html_format, ocds, rss, ted

_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}$")


class TenderFeedConfig(FeedConfig):
    """Config shared by every tender feed.

    Attributes:
        source: Name stored on each tender (``Tender.source``); lower-case slug.
        country: ISO alpha-2 country for tenders that do not say.
        region: Region for tenders that do not say.
        currency: Currency of amounts that carry none (HTML pages).
        buyer: Buyer name for single-buyer feeds.
        language: Language code of the feed.
        timezone: IANA zone of naive dates on the pages (e.g. ``Asia/Shanghai``).
        category_scheme: Scheme prefix for category terms that are codes (``cpv``).
        max_bytes: Body size cap for this source (the client default is 10 MiB).
    """

    source: str
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    region: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    buyer: str | None = None
    language: str | None = None
    timezone: str | None = None
    category_scheme: str | None = Field(default=None, pattern=r"^[a-z]{2,10}$")
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    @field_validator("source")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SOURCE_NAME.match(value):
            raise ValueError("source must be a lower-case slug")
        return value

    def defaults(self) -> dict[str, Any]:
        """The default field values handed to the format parsers."""
        return {
            "country": self.country, "region": self.region, "currency": self.currency, "buyer": self.buyer,
            "language": self.language, "timezone": self.timezone, "category_scheme": self.category_scheme,
        }


def _page_url(connector: FeedConnector[Any], request: FetchRequest) -> str:
    # A backfill hands the URL of the page to read as the cursor; the schedule never sets one.
    cursor = request.cursor
    return cursor if cursor and cursor.startswith(("http://", "https://")) else str(connector.config.feed_url)


class _TenderFeed(FeedConnector[TenderFeedConfig]):
    config_model: ClassVar[type[BaseModel]] = TenderFeedConfig

    def feed_url(self, request: FetchRequest) -> str:
        """The configured feed URL, or the page URL a backfill passes as ``request.cursor``."""
        return _page_url(self, request)

    def next_page(self, raw: Fetched) -> str | None:
        """The absolute URL of the next (older) page this document links to; None when it has no paging."""
        return None


class TenderRssConnector(_TenderFeed):
    """RSS/Atom tender feeds (TED RSS, Find a Tender alerts, agency news feeds...)."""

    name: ClassVar[str] = "tender_rss"
    example_config: ClassVar[dict[str, Any]] = {
        "source": "example_rss", "feed_url": "https://tenders.example.org/feed.rss", "country": "GB",
    }
    fixtures: ClassVar[tuple[str, ...]] = ("rss20.xml", "atom10.xml")

    def next_page(self, raw: Fetched) -> str | None:
        """RFC 5005 ``<link rel="next">``, resolved against the page URL."""
        nxt = rss.next_page_url(raw.body, {"content-type": raw.content_type} if raw.content_type else None)
        return urljoin(raw.url or str(self.config.feed_url), nxt) if nxt else None

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        """One tender per entry; see ``connectors.formats.rss``. An Atom feed with the CODICE extension
        (PLACSP) configured here is read with the CODICE profile, as ``tender_codice`` would."""
        if codice.is_codice(raw.body):
            yield from codice.parse_feed(raw.body, source=self.config.source, defaults=self.config.defaults())
            return
        headers = {"content-type": raw.content_type} if raw.content_type else {}
        if raw.url.startswith(("http://", "https://")):
            headers["content-location"] = raw.url
        yield from rss.parse_entries(
            raw.body, source=self.config.source, headers=headers, defaults=self.config.defaults(),
            category_scheme=self.config.category_scheme,
        )


class TenderOcdsConnector(_TenderFeed):
    """OCDS release/record packages (Contracts Finder, Find a Tender, national portals)."""

    name: ClassVar[str] = "tender_ocds"
    example_config: ClassVar[dict[str, Any]] = {
        "source": "example_ocds", "feed_url": "https://tenders.example.org/ocds/releases.json",
    }
    fixtures: ClassVar[tuple[str, ...]] = ("release_package.json", "record_package.json")

    def next_page(self, raw: Fetched) -> str | None:
        """OCDS ``links.next``, resolved against the page URL."""
        nxt = ocds.next_page_url(raw.body)
        return urljoin(raw.url or str(self.config.feed_url), nxt) if nxt else None

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        """One tender per release; see ``connectors.formats.ocds``."""
        yield from ocds.parse_package(raw.body, source=self.config.source, default_country=self.config.country,
                                      content_type=raw.content_type)


class TenderTedConnector(_TenderFeed):
    """TED notices as XML, old ``TED_EXPORT`` schema and eForms alike."""

    name: ClassVar[str] = "tender_ted"
    example_config: ClassVar[dict[str, Any]] = {
        "source": "example_ted", "feed_url": "https://tenders.example.org/ted/notice.xml",
    }
    fixtures: ClassVar[tuple[str, ...]] = ("ted_export_f02.xml", "eforms_cn_24_minimal.xml")

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        """One tender per notice document; see ``connectors.formats.ted``."""
        yield from ted.parse_notice(raw.body, source=self.config.source, fallback_id=raw.url or "notice")


class TenderCodiceConnector(_TenderFeed):
    """Atom feeds with the CODICE extension (Spain's PLACSP syndication): every entry's contract folder."""

    name: ClassVar[str] = "tender_codice"
    example_config: ClassVar[dict[str, Any]] = {
        "source": "example_placsp", "country": "ES", "language": "es",
        "feed_url": "https://tenders.example.org/sindicacion/licitacionesPerfilesContratanteCompleto3.atom",
    }
    fixtures: ClassVar[tuple[str, ...]] = ("placsp_sample.atom",)

    def next_page(self, raw: Fetched) -> str | None:
        """The Atom ``<link rel="next">``, resolved against the page URL."""
        nxt = codice.next_page_url(raw.body)
        return urljoin(raw.url or str(self.config.feed_url), nxt) if nxt else None

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        """One tender per entry; see ``connectors.formats.codice``."""
        yield from codice.parse_feed(raw.body, source=self.config.source, defaults=self.config.defaults())


class TenderHtmlConfig(TenderFeedConfig):
    """An HTML list page plus detail pages, located by CSS selectors.

    Attributes:
        list: Selectors for the rows of the list page (``feed_url``).
        detail: Selectors for each detail page; ``None`` reads the list only.
        max_details: Detail pages fetched per poll (newest first, as listed).
        encoding: Force a page encoding when the site mislabels it (e.g. ``gb18030``).
        decimal: The pages' decimal mark (``","`` for ``24.492,00``); default from ``language``.
    """

    list: html_format.ListSelectors
    detail: html_format.DetailSelectors | None = None
    decimal: Literal[",", "."] | None = None
    max_details: int = Field(default=20, ge=0, le=200)
    encoding: str | None = None


@dataclass(frozen=True)
class HtmlPages(Fetched):
    """The list page (``body``) with the detail pages fetched for it."""

    details: tuple[Fetched, ...] = ()


class TenderHtmlConnector(FeedConnector[TenderHtmlConfig]):
    """Portals without a feed (e.g. Chinese government procurement sites): list + detail pages."""

    name: ClassVar[str] = "tender_html"
    config_model: ClassVar[type[BaseModel]] = TenderHtmlConfig

    def feed_url(self, request: FetchRequest) -> str:
        """The list page URL, or the page URL a backfill passes as ``request.cursor``."""
        return _page_url(self, request)

    def next_page(self, raw: Fetched) -> str | None:
        """List pages are not followed (no paging selector yet): backfill them by giving their URLs."""
        return None
    example_config: ClassVar[dict[str, Any]] = {
        "source": "example_html",
        "feed_url": "https://tenders.example.org/cggg/index.htm",
        "country": "CN",
        "currency": "CNY",
        "timezone": "Asia/Shanghai",
        "list": {"item": "ul.c_list_bid > li", "title": "a", "link": "a @href", "published": "em",
                 "region": "span.region", "id_pattern": r"/(t\d+_\d+)\.htm"},
        "detail": {"title": "h2.title", "buyer": "td.buyer", "deadline": "td.deadline", "value": "td.budget",
                   "category": "td.category", "text": "div.vF_detail_content"},
        "max_details": 5,
    }
    fixtures: ClassVar[tuple[str, ...]] = ("list.html",)

    def fetch(self, request: FetchRequest) -> Iterator[HtmlPages]:
        """Conditional GET of the list; then GET up to ``max_details`` detail pages it links to.

        A detail page that fails permanently (404, too large) is skipped: the list row still yields a
        tender. A retryable failure ends the fetch so that the whole source is retried.
        """
        cfg: TenderHtmlConfig = self.config
        resp = self.http.get(
            self.feed_url(request), headers=self.request_headers(), etag=request.etag,
            last_modified=request.last_modified, max_bytes=cfg.max_bytes,
        )
        if resp.not_modified:
            return
        page = Fetched.from_response(resp)
        details: list[Fetched] = []
        if cfg.detail is not None and cfg.max_details:
            try:
                rows = html_format.parse_list(page.body, base_url=page.url or cfg.feed_url, selectors=cfg.list,
                                              content_type=page.content_type, encoding=cfg.encoding)
            except PermanentError:
                rows = []  # parse() reports the unusable list page; nothing to follow
            for row in rows[: cfg.max_details]:
                if not row.get("url"):
                    continue
                try:
                    detail = self.http.get(row["url"], headers=self.request_headers(), max_bytes=cfg.max_bytes)
                except PermanentError:
                    continue
                # Keyed by the URL the list links to, not the final one after redirects: parse() joins on it.
                details.append(Fetched(body=detail.body, url=row["url"], content_type=detail.content_type))
        yield HtmlPages(body=page.body, url=page.url, content_type=page.content_type, etag=page.etag,
                        last_modified=page.last_modified, details=tuple(details))

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        """Rows of the list page merged with their detail pages; see ``connectors.formats.html``."""
        cfg: TenderHtmlConfig = self.config
        base = raw.url if raw.url.startswith(("http://", "https://")) else cfg.feed_url
        rows = html_format.parse_list(raw.body, base_url=base, selectors=cfg.list,
                                      content_type=raw.content_type, encoding=cfg.encoding)
        details = {}
        if cfg.detail is not None:
            for page in getattr(raw, "details", ()):
                details[page.url] = html_format.parse_detail(page.body, selectors=cfg.detail,
                                                             content_type=page.content_type, encoding=cfg.encoding)
        yield from html_format.build_tenders(rows, details, source=cfg.source, id_pattern=cfg.list.id_pattern,
                                             defaults={**cfg.defaults(), "decimal": cfg.decimal},
                                             status_words=cfg.list.status_words)


TENDER_CONNECTORS: dict[str, type[FeedConnector[Any]]] = {
    cls.name: cls for cls in (TenderRssConnector, TenderOcdsConnector, TenderTedConnector, TenderCodiceConnector,
                              TenderHtmlConnector)
}
"""The tender connectors, for ``connectors.registry``."""
