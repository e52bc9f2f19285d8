"""HTML sanitising for tender text: an allowlist over beautifulsoup4's ``html.parser`` tree.

Tender bodies come from feeds and scraped pages we do not control and end up in e-mails, chat cards and
web pages, so anything executable is removed before storage:

- script-like elements are dropped *with* their content (``script``, ``style``, ``iframe``, ``object``...);
- other unknown elements are unwrapped (their text stays, the tag goes: ``<blink>``, ``<font>``);
- only a few attributes survive (``href``, ``src``, ``alt``, ``title``, table spans); ``on*`` handlers,
  ``style`` and everything else are removed;
- URLs survive only with ``http``, ``https`` or ``mailto`` schemes or none (relative); ``javascript:``,
  ``vbscript:``, ``data:`` are removed, including obfuscated spellings (entities, controls, whitespace);
- comments, doctypes, processing instructions and CDATA are removed.

A maintained library (nh3, bleach) would be preferable; this stays small and is proven against feedparser's
sanitizer corpus (tests/unit/connectors/test_tender_sanitize.py).
"""

from __future__ import annotations

import re

ALLOWED_TAGS = frozenset(
    "a abbr b blockquote br caption code dd del dl dt em h1 h2 h3 h4 h5 h6 hr i img ins li ol p pre q s "
    "small span strike strong sub sup table tbody td tfoot th thead tr u ul".split()
)
# Removed together with everything inside: their content is code, styling, metadata or foreign markup.
# Other disallowed elements (object, iframe, embed, form...) are unwrapped instead: their children are
# fallback content meant for display, and are themselves sanitised. html.parser nests the rest of the
# document inside an unclosed ``<object>``, so dropping it would lose legitimate text.
DROPPED_WITH_CONTENT = frozenset("script style template head title xml svg math".split())
ALLOWED_ATTRS: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
    "abbr": frozenset({"title"}),
}
URL_ATTRS = frozenset({"href", "src"})
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
MAX_INPUT_CHARS = 400_000  # longer bodies are cut before parsing: a tender text is never this long

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers ignore ASCII controls and whitespace inside a scheme ("java\tscript:"), so we do too.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def safe_url(value: str) -> str | None:
    """Return ``value`` if it is a relative URL or uses an allowed scheme, else ``None``."""
    compact = _IGNORED_IN_SCHEME.sub("", value)
    match = _SCHEME.match(compact)
    if match is None:
        # No scheme: relative. A leading "//" (protocol-relative) is fine too.
        return value.strip()
    return value.strip() if match.group(1).lower() in SAFE_SCHEMES else None


def sanitize_html(html: str) -> str:
    """Clean an HTML fragment to the allowlist described in the module docstring.

    Args:
        html: Untrusted HTML (or plain text, which passes through with ``<``/``&`` escaped).

    Returns:
        Safe HTML; empty string for empty input.
    """
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction
    from bs4.element import CData, Tag

    if not html:
        return ""
    soup = BeautifulSoup(html[:MAX_INPUT_CHARS], "html.parser")
    for node in soup.find_all(string=lambda s: isinstance(s, (Comment, Declaration, Doctype,
                                                              ProcessingInstruction, CData))):
        node.extract()
    # Snapshot first: we mutate the tree while walking.
    for tag in list(soup.find_all(True)):
        if not isinstance(tag, Tag) or tag.decomposed:
            continue
        name = (tag.name or "").lower()
        if name in DROPPED_WITH_CONTENT:
            tag.decompose()
            continue
        if name not in ALLOWED_TAGS:
            tag.unwrap()
            continue
        allowed = ALLOWED_ATTRS.get(name, frozenset())
        for attr in list(tag.attrs):
            key = attr.lower()
            value = tag.attrs[attr]
            if isinstance(value, list):
                value = " ".join(value)
            if key not in allowed:
                del tag.attrs[attr]
            elif key in URL_ATTRS:
                cleaned = safe_url(str(value))
                if cleaned is None:
                    del tag.attrs[attr]
                else:
                    tag.attrs[attr] = cleaned
    return str(soup).strip()


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment (scripts and styles dropped), whitespace collapsed.

    Used for matching and for titles; the result holds no markup.
    """
    from bs4 import BeautifulSoup

    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return collapse(html)
    soup = BeautifulSoup(sanitize_html(html), "html.parser")
    for br in soup.find_all(["br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"]):
        br.insert_after("\n")
    return collapse(soup.get_text())


def collapse(text: str) -> str:
    """Collapse runs of spaces and blank lines; strip the ends."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def text_to_html(text: str) -> str:
    """Escape plain text for storage in ``Tender.text`` (which holds HTML)."""
    from html import escape

    return escape(collapse(text), quote=False)


_LOOKS_LIKE_HTML = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


def to_safe_html(value: str) -> str:
    """Store a field that may be plain text or HTML: HTML is sanitised, plain text escaped."""
    if not value:
        return ""
    return sanitize_html(value) if _LOOKS_LIKE_HTML.search(value) else text_to_html(value)
