"""HTML sanitising for tender text: nh3 (the Rust ``ammonia`` sanitiser over html5ever) with our allowlist.

Tender bodies come from feeds and scraped pages we do not control and end up in e-mails, chat cards and
web pages, so anything executable is removed before storage:

- script-like elements are dropped *with* their content (``script``, ``style``, ``svg``, ``math``...);
- other unknown elements are unwrapped (their text stays, the tag goes: ``<blink>``, ``<font>``,
  ``<object>``, ``<iframe>``);
- only a few attributes survive (``href``, ``src``, ``alt``, ``title``, table spans); ``on*`` handlers,
  ``style`` and everything else are removed;
- URLs survive only with ``http``, ``https`` or ``mailto`` schemes or none (relative); ``javascript:``,
  ``vbscript:``, ``data:`` are removed, including obfuscated spellings (entities, controls, whitespace:
  URLs are parsed the WHATWG way, as a browser would);
- comments, doctypes, processing instructions and CDATA are removed.

Parsing follows the HTML5 algorithm (html5ever), so markup is read the way a browser reads it. Proven
against feedparser's sanitizer corpus (tests/unit/connectors/test_tender_sanitize.py). beautifulsoup4
stays for what is not sanitising: ``html_to_text`` and the HTML list/detail connector.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

ALLOWED_TAGS = frozenset(
    ["a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"]
)
# Removed together with everything inside: their content is code, styling, metadata or foreign markup.
# Other disallowed elements (object, iframe, embed, form...) are unwrapped instead: their children are
# fallback content meant for display, and are themselves sanitised.
DROPPED_WITH_CONTENT = frozenset(["script", "style", "template", "head", "title", "xml", "svg", "math"])
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
    if not html:
        return ""
    return _cleaner().clean(html[:MAX_INPUT_CHARS]).strip()


@lru_cache(maxsize=1)
def _cleaner() -> Any:
    """One ``nh3.Cleaner`` with our allowlist, built on first use. ``nh3.clean(html, tags=..., ...)`` with the
    same options converts the Python sets and builds ammonia's builder again on every call: measured, that was
    two thirds of sanitising a tender body (issue 15 item 4); the output is the same."""
    import nh3

    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRS.items()},
        url_schemes=set(SAFE_SCHEMES),
        strip_comments=True,
        link_rel=None,  # we keep no ``target``; a rel attribute would only add noise to stored text
    )


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment (scripts and styles dropped), whitespace collapsed.

    Used for matching and for titles; the result holds no markup. ``collapse(visible_text(html))``.
    """
    return collapse(visible_text(html))


def visible_text(html: str) -> str:
    """The visible text of an HTML fragment before whitespace is collapsed: ``html_to_text`` is
    ``collapse(visible_text(html))``, and the two differ only in whitespace (see ``collapse``). For a caller
    that collapses whitespace itself (``tender_matching.prepare``), so that it is not done twice.
    """
    if not html:
        return ""
    if "<" not in html:
        if "&" not in html:
            return html
        text = _escaped_text(html)
        if text is not None:
            return text
    clean = sanitize_html(html)
    text = _serialised_text(clean)
    if text is None:  # not in the serialiser's shape (never seen): let the HTML parser read it
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(clean, "html.parser")
        for br in soup.find_all(_LINE_ELEMENTS):
            br.insert_after("\n")
        text = soup.get_text()
    return text


# The character references of escaped plain text: ``text_to_html`` writes the first three, nh3 writes all four in
# the text it serialises.
_PLAIN_REFERENCES = {"amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0"}


def _escaped_text(html: str) -> str | None:
    """``visible_text`` of a fragment without tags whose every ``&`` starts one of ``_PLAIN_REFERENCES`` (escaped
    plain text, as ``text_to_html`` stores it), without nh3's parse and serialisation (issue 15 item 4, session
    10: ≈ 160k instructions for a 600-character body). To the parser such a fragment is one text node: it
    decodes the references, nh3 writes the text back escaped and ``_serialised_text`` unescapes it. ``None`` when
    the text is not in that shape or the parser would change more than the references: html5ever reads ``\r``
    as a line break and drops NUL characters and a leading byte-order mark, ``sanitize_html`` cuts the input at
    ``MAX_INPUT_CHARS`` and strips whitespace from the ends, and nh3 refuses lone surrogates. The end check is
    on the decoded text, so it also sends a text with an ``&nbsp;`` at either end to nh3, which would keep it
    (conservative, never wrong). tests/unit/connectors/test_html_to_text_fast.py compares both paths.
    """
    if "\r" in html or "\x00" in html or html[:1] == "\ufeff" or len(html) > MAX_INPUT_CHARS:
        return None
    text = _plain_unescaped(html)
    if text is None or text[:1].isspace() or text[-1:].isspace():
        return None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: nh3 raises, and so does visible_text
            return None
    return text


def _plain_unescaped(text: str) -> str | None:
    """``html.unescape(text)`` when every ``&`` in ``text`` starts one of ``_PLAIN_REFERENCES`` (else ``None``),
    without ``unescape``'s regex and its Python call per reference."""
    if "&" not in text:
        return text
    pieces = text.split("&")
    out = [pieces[0]]
    for piece in pieces[1:]:
        name, semicolon, after = piece.partition(";")
        char = _PLAIN_REFERENCES.get(name)
        if char is None or not semicolon:
            return None
        out += (char, after)
    return "".join(out)


# Elements after which the text breaks a line (``div`` never survives the allowlist; kept for the fallback).
_LINE_ELEMENTS = ["br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"]
_LINE_END_TAGS = frozenset(f"/{t}" for t in _LINE_ELEMENTS) | {"br"}
# One tag as html5ever serialises nh3's output: lower-case name, attributes always double-quoted (their
# values may hold ``<`` and ``>``, never ``"``); text never holds a raw ``<``.
_SERIALISED_TAG = re.compile(r'<(/?[a-z][a-z0-9]*)(?:\s+[^\s"\'<>=/]+(?:="[^"]*")?)*\s*/?>')


_ASCII_SPACES = "\x20\x0a\x09\x0c\x0d"


def _text_node(text: str, in_pre: int) -> str:
    """What the parser keeps of the text between two tags: a run of ASCII whitespace alone becomes one
    line break (or one space when it holds none), except inside ``pre``."""
    if text and not in_pre and not text.strip(_ASCII_SPACES):
        return "\n" if "\n" in text else " "
    return text


def _serialised_text(clean: str) -> str | None:
    """The text of sanitised HTML as BeautifulSoup's ``get_text`` gives it after a line break was inserted
    after each line element, read with one regex instead of a parse tree (issue 15 item 4: building the
    tree was a third of a tender's ``prepare``). nh3's output is balanced, its text escaped (``&amp;``,
    ``&lt;``, ``&gt;``, ``&nbsp;``), so closing a line element is where the break goes and unescaping the
    text is what the parser does. ``None`` when the input is not in that shape.

    One ``split`` by the tag regex gives the texts and the tag names in turn (no match object, ``start``, ``end``
    and ``group`` per tag), and the references nh3 writes are decoded without ``html.unescape``'s
    regex and its Python call per reference (session 10: ≈ 70k instructions less per tagged corpus body, which
    holds 20 tags on average).
    """
    pieces = _SERIALISED_TAG.split(clean)  # text, tag name, text, ..., tag name, text
    parts = [_text_node(pieces[0], 0)]
    in_pre = 0
    for i in range(1, len(pieces), 2):
        tag, text = pieces[i], pieces[i + 1]
        if tag in _LINE_END_TAGS:
            parts.append("\n")
        elif tag == "pre":
            in_pre += 1
        elif tag == "/pre":
            in_pre -= 1
        parts.append(_text_node(text, in_pre))
    joined = "".join(parts)
    if "<" in joined:
        return None
    unescaped = _plain_unescaped(joined)
    if unescaped is None:  # a reference nh3 does not write (never seen): the standard library's reading
        from html import unescape

        return unescape(joined)
    return unescaped


def collapse(text: str) -> str:
    """Collapse runs of spaces and blank lines; strip the ends.

    Only whitespace changes: the other characters stay, in order, and a run of whitespace between two of
    them stays a run of at least one whitespace character (a space, a line break or a blank line); the
    result is never longer than ``text``. ``tender_matching.prepare`` relies on both.
    """
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def collapsed_head(text: str, limit: int) -> str:
    """``collapse(text)[:limit]``, collapsing no more of a long text than the head needs.

    ``text`` cut just before a space or a line break collapses to a prefix of ``collapse(text)``: the lines
    before the cut are whole, and the cut line loses only what follows the cut (whitespace at the cut is
    stripped either way). So once the collapsed head is ``limit`` long, it is the answer.
    """
    end = limit
    while end < len(text):
        cut = _CUT.search(text, end)
        if cut is None:
            break
        head = collapse(text[:cut.start()])
        if len(head) >= limit:
            return head[:limit]
        end = 2 * cut.start()  # much whitespace collapsed away: read twice as far
    return collapse(text)[:limit]


_CUT = re.compile("[ \n]")


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
