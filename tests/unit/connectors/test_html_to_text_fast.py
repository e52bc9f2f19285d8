"""``html_to_text`` reads nh3's serialised output with one regex (issue 15 item 4) and gives what the
BeautifulSoup tree gave (the code before; kept as the fallback and as the reference here)."""
from __future__ import annotations

import warnings

import pytest
from bs4 import BeautifulSoup

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
