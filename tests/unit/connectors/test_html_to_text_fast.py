"""``html_to_text`` reads nh3's serialised output with one regex (issue 15 item 4) and gives what the
BeautifulSoup tree gave (the code before; kept as the fallback and as the reference here)."""
from __future__ import annotations

import warnings

import pytest
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings, strategies as st

from connectors.formats import sanitize

CASES = [
    "<p>a</p>\n\n<p>b</p>",
    "<table><tr>\n<td><span>A</span><span></span></td>\n\n<td>1</td></tr></table>",
    "<pre>  x\n\n  y  </pre><pre>\n\n</pre> <b> </b>",
    '<a href="https://e.example/?a=1&amp;b=2" title="a > b < c">link</a> &amp;lt; &lt;tag&gt; &nbsp;x',
    "<ul><li>one<li>two</ul><br>three<br/>four<hr>five",
    "<h1>T</h1><h6>U</h6><div>in div</div><font>f</font><script>x()</script>",
    "a &amp b &copy; c &#169; d &#x4e2d; 中文<p>段落</p>",
    "<p>\t</p><p> </p><p>\n</p>",
    "<img src=x alt='a>b'>after",
]


def reference(html: str) -> str:
    soup = BeautifulSoup(sanitize.sanitize_html(html), "html.parser")
    for br in soup.find_all(["br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"]):
        br.insert_after("\n")
    return sanitize.collapse(soup.get_text())


@pytest.mark.parametrize("html", CASES)
def test_fast_text_equals_the_tree(html):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sanitize._serialised_text(sanitize.sanitize_html(html)) is not None  # the fast path is taken
        assert sanitize.html_to_text(html) == reference(html)


def test_unexpected_shape_falls_back_to_the_parser(monkeypatch):
    monkeypatch.setattr(sanitize, "sanitize_html", lambda html: html)  # a raw "<" in text: not nh3's shape
    assert sanitize._serialised_text("a < b <p>c</p>") is None
    assert sanitize.html_to_text("a < b <p>c</p>d") == "a < b c\nd"


# -- escaped plain text without the parser (session 10) -----------------------------------------------------

def parsed_text(html: str):  # type: ignore[no-untyped-def]
    """``visible_text`` as it was before session 10: a text holding ``<`` or ``&`` through nh3, then the
    serialiser's text (or the exception nh3 raises: it refuses lone surrogates); any other text as it is."""
    if "<" not in html and "&" not in html:
        return html
    try:
        # the serialiser as it was too: the new one decodes references with ``_plain_unescaped``, the function
        # the fast path uses, so it could share a mistake with it
        return serialised_text_before(sanitize.sanitize_html(html))
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return type(exc)


def fast_text(html: str):  # type: ignore[no-untyped-def]
    try:
        return sanitize.visible_text(html)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return type(exc)


ESCAPED = [
    "a &amp; b", "Bath &amp; NE Somerset", "&amp;amp; &amp;lt; &lt;p&gt;hi&lt;/p&gt;", "x &gt;7 &lt; 8,50", "&amp;",
    "&nbsp;", "&nbsp;a&amp;", "a&amp;&nbsp;", "a&amp;\xa0", " a &amp; b ", "\ta&amp;b\n", "a&amp;b\x0c", "\x85&amp;",
    "a &amp; b\r\nc", "a &amp; b\rc", "a\x00&amp;b", "\ufeffa&amp;b", "a&amp;\ufeff", "\u2003a&amp;b\u2003",
    "\u3000&gt;", "a\x1c&amp;\x1c", "\x01&amp;\x7f\x80\x9f", "\uffff&amp;\U0010ffff", "a &amp; \ud800 b",
    "R&D", "&AMP;", "&amp", "&ampx;", "&quot;q&quot; &#39;", "&#38; &#x26;", "&copy; &notin; &not", "&&amp;;",
    "CIÉ Group IT&amp;T", "consultant’s &amp; 中文 &lt;", "a" * 100 + "&amp;" * 50,
]


@pytest.mark.parametrize("html", ESCAPED)
def test_escaped_text_reads_as_the_parser_reads_it(html):
    assert fast_text(html) == parsed_text(html)


def test_escaped_text_is_read_without_the_parser(monkeypatch):
    """The shape the fast path takes (a mutant that always answers ``None`` passes the equality tests)."""
    assert sanitize._escaped_text("Bath &amp; NE Somerset &lt;x&gt;&nbsp;y") == "Bath & NE Somerset <x>\xa0y"
    monkeypatch.setattr(sanitize, "sanitize_html", lambda html: pytest.fail("parsed"))
    assert sanitize.visible_text("x &gt;7 &lt; 8,50 &amp;amp;") == "x >7 < 8,50 &amp;"
    for html in ("a&amp;b\r\n", "a\x00&amp;", "\ufeffa&amp;", " a&amp;", "&nbsp;", "&quot;", "a&amp;\ud800",
                 "&amp;" * (sanitize.MAX_INPUT_CHARS // 5 + 1)):
        assert sanitize._escaped_text(html) is None, repr(html)


_ESCAPED_PIECES = st.sampled_from(
    ["&", "&amp;", "&lt;", "&gt;", "&nbsp;", "&quot;", "&#39;", "&#x26;", "&AMP;", "&amp", "amp;", "lt;", "nbsp",
     ";", "#", "a", "Z", "7", " ", "  ", "\t", "\n", "\r", "\r\n", "\x00", "\x0b", "\x0c", "\x1c", "\x85", "\xa0",
     "\u2003", "\u3000", "\ufeff", "\ud800", "\x7f", "\x9f", "é", "中", "’", "\u0301", "\uffff", "𝐀", ">", "\"", "'"])


@settings(max_examples=1500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ESCAPED_PIECES, max_size=30).map("".join) | st.text(max_size=40))
def test_escaped_text_reads_as_the_parser_reads_it_on_generated_text(html):
    assert fast_text(html) == parsed_text(html)


def test_escaped_text_reads_as_the_parser_reads_it_on_the_corpus():
    """Every tender body and title the connectors read from the corpus."""
    from tests.corpora import corpus

    corpus("tenders")
    from bench.tender_matching import corpus_tenders

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tenders = corpus_tenders()
    bodies = [t.text for t in tenders if t.text]
    escaped = [x for x in bodies if "<" not in x and "&" in x]
    assert escaped and all(sanitize._escaped_text(x) is not None for x in escaped)  # the fast path is taken
    for html in bodies + [t.title for t in tenders]:  # titles: plain text, some with a bare "&" (R&D)
        assert fast_text(html) == parsed_text(html), html[:80]


def real_tenders() -> list:  # type: ignore[type-arg]
    """Every tender the connectors read from the real notices (``../shared/corpora/real_tenders``)."""
    from bench.tender_fields import every_tender
    from tests.corpora import corpus

    root = corpus("real_tenders")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return every_tender(root)


def test_escaped_text_reads_as_the_parser_reads_it_on_the_real_tenders():
    tenders = real_tenders()
    assert len(tenders) > 600
    texts = [t.text for t in tenders if t.text] + [t.title for t in tenders]
    assert any(sanitize._escaped_text(x) is not None for x in texts if "<" not in x and "&" in x)  # taken
    for html in texts:
        assert fast_text(html) == parsed_text(html), html[:80]


def test_a_text_longer_than_the_parser_reads_is_cut_as_before():
    html = "xxx" + "&amp;" * (sanitize.MAX_INPUT_CHARS // 5)  # nh3 reads the first MAX_INPUT_CHARS: "&a" at the end
    assert fast_text(html) == parsed_text(html)


# -- the serialiser's text by one split (session 10) ---------------------------------------------------------

def serialised_text_before(clean: str):  # type: ignore[no-untyped-def]
    """``_serialised_text`` before session 10 (``finditer``, ``html.unescape``), the reference."""
    from html import unescape

    parts: list[str] = []
    position = 0
    in_pre = 0
    for match in sanitize._SERIALISED_TAG.finditer(clean):
        parts.append(sanitize._text_node(clean[position:match.start()], in_pre))
        tag = match.group(1)
        if tag in sanitize._LINE_END_TAGS:
            parts.append("\n")
        elif tag == "pre":
            in_pre += 1
        elif tag == "/pre":
            in_pre -= 1
        position = match.end()
    parts.append(sanitize._text_node(clean[position:], in_pre))
    if any("<" in part for part in parts):
        return None
    return unescape("".join(parts))


_HTML_PIECES = st.sampled_from(
    ["<p>", "</p>", "<br>", "<br/>", "<li>", "</li>", "<ul>", "</ul>", "<pre>", "</pre>", "<span>", "</span>",
     "<b>", "</b>", "<table>", "<tr>", "<td>", "</td>", "</tr>", "</table>", "<h2>", "</h2>", "<div>", "</div>",
     '<a href="https://e.example/?a=1&amp;b=2" title="a > b < c">', "</a>", "<img src=x alt='a>b'>",
     "<script>x</script>", "<!-- c -->", "&amp;", "&lt;", "&gt;", "&nbsp;", "&quot;", "&#39;", "&copy;", "&amp",
     "&", "<", ">", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\x0c", "\xa0", "a", "Word", "中文", "é", "’"])


@settings(max_examples=1500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_HTML_PIECES, max_size=40).map("".join))
def test_serialised_text_reads_as_before_on_generated_html(html):
    clean = sanitize.sanitize_html(html)
    assert sanitize._serialised_text(clean) == serialised_text_before(clean)
    # and on text that is not nh3's output (a raw "<", references nh3 does not write): same answer or None alike
    assert sanitize._serialised_text(html) == serialised_text_before(html)


@pytest.mark.parametrize("clean", [
    "", "a", " ", "\n", "<p></p>", "<p> </p>", "<pre> \n </pre>x", "a &amp;lt; b", "&copy; &#169; &amp", "a < b",
    "<p>a</p> \n <p>b</p>", "<pre><pre>x</pre> \n </pre> \n ", "&nbsp;<br>&nbsp;", "<b>x</b><i>\t</i>",
])
def test_serialised_text_reads_as_before_on_edge_cases(clean):
    assert sanitize._serialised_text(clean) == serialised_text_before(clean)


def test_serialised_text_reads_as_before_on_the_corpus_bodies():
    """The corpus tenders' and real tenders' bodies, and feedparser's sanitizer cases (entry bodies full of
    scripts, handlers and odd markup), sanitised and as they are."""
    from connectors.formats.rss import entry_body, parse_feed
    from tests.corpora import corpus

    sanitize_cases = corpus("feedparser", "tests", "wellformed", "sanitize")
    corpus("tenders")
    from bench.tender_matching import corpus_tenders

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bodies = [t.text for t in corpus_tenders() + real_tenders() if t.text]
        bodies += [entry_body(parse_feed(path.read_bytes())["entries"][0]) for path in sorted(sanitize_cases.glob("*.xml"))]
    tagged = [sanitize.sanitize_html(x) for x in bodies if "<" in x]
    assert len(tagged) > 100
    for clean in tagged + bodies:
        assert sanitize._serialised_text(clean) == serialised_text_before(clean), clean[:80]
