"""The tender text sanitiser, proven on feedparser's sanitizer corpus (shared corpus ``feedparser/tests/wellformed/sanitize/``, read through tests/corpora.py;
skipped without the corpus).

Each corpus file hides script, event handlers, frames, objects or styles in an entry body. We take the
raw body (feedparser's own sanitiser off), run ours, and check that nothing executable survives while
the visible words feedparser's ``Expect:`` keeps ("safe", "description") are still there. The connector's
stored text must be exactly that sanitised HTML.
"""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from connectors.base import Fetched, split_parsed
from connectors.formats.rss import entry_body, parse_feed
from connectors.formats.sanitize import html_to_text, safe_url, sanitize_html, to_safe_html
from connectors.tender_feeds import TenderRssConnector
from tests.corpora import corpora_root, files, params

SANITIZE_PARTS = ("feedparser", "tests", "wellformed", "sanitize")
SANITIZE_DIR = corpora_root().joinpath(*SANITIZE_PARTS)
FILES = files(*SANITIZE_PARTS, suffixes=(".xml",))
_EXPECT = re.compile(r"^Expect:\s*(.+?)\s*$", re.M)
_DANGEROUS_TAGS = {"script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "meta", "link",
                   "blink", "base", "form"}


def assert_safe(html: str) -> None:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(True):
        assert tag.name not in _DANGEROUS_TAGS, tag.name
        for attr, value in tag.attrs.items():
            assert not attr.lower().startswith("on"), attr
            assert attr.lower() != "style", attr
            text = " ".join(value) if isinstance(value, list) else str(value)
            assert not re.sub(r"[\x00-\x20]", "", text).lower().startswith(("javascript:", "vbscript:", "data:"))
    assert "<script" not in html.lower()


@pytest.mark.corpus(*SANITIZE_PARTS)
def test_corpus_is_there() -> None:
    assert len(FILES) == 105


@pytest.mark.corpus(*SANITIZE_PARTS)
@pytest.mark.parametrize("name", params(FILES, *SANITIZE_PARTS))
def test_sanitize_corpus_file(name: str) -> None:
    body = (SANITIZE_DIR / name).read_bytes()
    entries = parse_feed(body).get("entries") or []
    assert entries, "every sanitize case has one entry"
    raw = entry_body(entries[0])
    cleaned = sanitize_html(raw)
    assert_safe(cleaned)
    # The expected value is the part after "==" (the left side names the field, e.g. 'description').
    expect = _EXPECT.search(body.decode("utf-8")).group(1).split("==", 1)[1]
    visible = html_to_text(cleaned)
    for word in ("safe", "description", "never trust your upstream platypus"):
        if word in expect:
            assert word in visible, (word, visible)
    if "cam-full.jpg" in expect:
        # the image survives, its handler does not
        img = BeautifulSoup(cleaned, "html.parser").find("img")
        assert img is not None and img["src"] == "http://www.ragingplatypus.com/i/cam-full.jpg"
    # End to end: what the connector stores is this sanitised HTML (or, for an entry that has no title
    # and no visible text, nothing at all).
    connector = TenderRssConnector({"source": "s", "feed_url": "https://feeds.example.org/f"}, object())  # type: ignore[arg-type]
    tenders, _ = split_parsed(connector.parse(Fetched(body=body)))
    if tenders:
        assert tenders[0].text == cleaned
        assert_safe(tenders[0].text)


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ('<a href="javascript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="jav&#x09;ascript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href=" JAVASCRIPT:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="vbscript:msgbox(1)">x</a>', "<a>x</a>"),
        ('<img src="data:text/html;base64,PHNjcmlwdD4=">', "<img>"),
        ('<img src=x onerror="alert(1)">', '<img src="x">'),
        ('<a href="/notice/1" onclick="steal()">ok</a>', '<a href="/notice/1">ok</a>'),
        ('<a href="https://ok.example/x" title="t">ok</a>', '<a href="https://ok.example/x" title="t">ok</a>'),
        ("<svg><script>alert(1)</script></svg>after", "after"),
        ("<p style=\"background:url(javascript:x)\">p</p>", "<p>p</p>"),
        ("<scr<script>ipt>alert(1)</script>", "ipt&gt;alert(1)"),
        ("招标<b>公告</b><script>x()</script>", "招标<b>公告</b>"),
        ("5 < 6 & 7", "5 &lt; 6 &amp; 7"),
    ],
)
def test_sanitize_handcrafted_attacks(dirty: str, clean: str) -> None:
    out = sanitize_html(dirty)
    assert out == clean
    assert_safe(out)


def test_safe_url_allows_relative_and_web_schemes_only() -> None:
    assert safe_url("/a/b?c=1") == "/a/b?c=1"
    assert safe_url("https://x.example/") == "https://x.example/"
    assert safe_url("mailto:bids@example.org") == "mailto:bids@example.org"
    assert safe_url("java\nscript:alert(1)") is None
    assert safe_url("file:///etc/passwd") is None


def test_plain_text_is_escaped_and_html_sanitised() -> None:
    assert to_safe_html("a < b") == "a &lt; b"
    assert to_safe_html("<p onclick=x>hi</p>") == "<p>hi</p>"
    assert html_to_text("<p>one</p><p>two</p>") == "one\n\ntwo" or html_to_text("<p>one</p><p>two</p>") == "one\ntwo"


@pytest.mark.parametrize(
    "dirty",
    [
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="&#0000106&#0000097vascript:alert(1)">x</a>',
        "<iframe src=javascript:alert(1)>frame text</iframe>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
        '<form action="javascript:alert(1)"><button formaction="javascript:alert(2)">b</button></form>',
        '<div onmouseover="alert(1)"><span onclick=alert(2)>t</span></div>',
        "<object data=javascript:alert(1)><embed src=javascript:alert(2)></object>",
    ],
)
def test_sanitize_removes_obfuscated_and_mutation_attacks(dirty: str) -> None:
    out = sanitize_html(dirty)
    assert_safe(out)
    soup = BeautifulSoup(out, "html.parser")
    assert all("alert" not in str(v) for tag in soup.find_all(True) for v in tag.attrs.values()), out
