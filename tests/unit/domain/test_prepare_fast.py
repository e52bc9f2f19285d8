"""The faster ``tender_matching.prepare`` (issue 15 item 4) gives exactly what the code before gave.

The code before is written out below as the reference (``reference_prepare``: a regex ``fold``,
``_WORD.findall`` and ``html_to_text(...)[:MATCH_TEXT_CHARS]``). The fast paths rest on properties of
Unicode that are checked here over every code point, then the whole function is compared with the
reference on the corpus tenders, on edge cases and on generated text (whitespace of every kind, combining
marks, full-width and CJK text, entities and tags, bodies longer than the cut).
"""
from __future__ import annotations

import re
import sys
import unicodedata
import warnings
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.domain import tender_matching as tm
from connectors.formats import sanitize
from tests.unit.connectors.test_html_to_text_fast import serialised_text_before

_OLD_SPACE = re.compile(r"\s+")
_OLD_WORD = re.compile(r"[^\W_]+")
EVERY_CHAR = "".join(map(chr, range(sys.maxunicode + 1)))


def outcome(fn, *args):  # type: ignore[no-untyped-def]
    """The result, or the type of the exception raised (nh3 refuses lone surrogates, before and after)."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return type(exc)


def reference_fold(text: str) -> str:
    return _OLD_SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def with_words(fn):  # type: ignore[no-untyped-def]
    """``fn(tender)`` and its ``words`` (made on first use since session 7, so not a compared field)."""
    def run(tender):  # type: ignore[no-untyped-def]
        p = fn(tender)
        return p, p.words

    return run


def reference_html_to_text(html: str) -> str:
    """``html_to_text`` before session 10: every text holding ``<`` or ``&`` read by nh3 (no ``_escaped_text``)."""
    if "<" not in html and "&" not in html:
        return sanitize.collapse(html)
    # the serialiser as it was (``finditer``, ``html.unescape``): the new one shares ``_plain_unescaped`` with the
    # fast path it checks
    text = serialised_text_before(sanitize.sanitize_html(html))
    assert text is not None  # nh3's output is in the serialiser's shape (tests/unit/connectors/test_html_to_text_fast.py)
    return sanitize.collapse(text)


def reference_prepare(tender) -> tm.Prepared:  # type: ignore[no-untyped-def]
    """``prepare`` as it was at ab6f1ed (names normalised by the same ``normalise``)."""
    from chalicelib.domain.names import normalise

    body = reference_html_to_text(tender.text)[:tm.MATCH_TEXT_CHARS] if tender.text else ""
    text = reference_fold(f"{tender.title}\n{body}")
    word_list = _OLD_WORD.findall(text)
    places: list[str] = []
    if tender.country:
        places.append(reference_fold(tender.country))
    if tender.region:
        region = reference_fold(tender.region)
        places += [region[:i] for i in range(1, len(region) + 1)]
    codes = tuple(reference_fold(c).replace(" ", "") for c in tender.categories)
    prefixes: set[str] = set()
    for code in codes:
        bare = code.split(":", 1)[-1]
        prefixes.update(code[:i] for i in range(1, len(code) + 1))
        prefixes.update(bare[:i] for i in range(1, len(bare) + 1))
    buyer_core = normalise(tender.buyer.name).core if tender.buyer is not None else None
    return tm.Prepared(
        text=text, word_list=word_list, buyer_core=buyer_core or None,
        places=tuple(dict.fromkeys(places)), place_set=frozenset(places), codes=codes,
        code_prefixes=frozenset(prefixes), value=tender.value, currency=tender.currency,
    )


# -- the Unicode facts the fast paths rest on, over every code point --------------------------------------

def test_split_splits_where_the_regex_space_class_matches():
    spaces = set(re.findall(r"\s", EVERY_CHAR))
    assert spaces == {c for c in EVERY_CHAR if c.isspace()}
    assert spaces == set(EVERY_CHAR) - set("".join(EVERY_CHAR.split()))


def test_ascii_is_its_own_nfkc_and_case_folds_as_lower():
    """What lets ``fold`` take ASCII text through ``bytes.lower`` without NFKC (session 7)."""
    for i in range(128):
        c = chr(i)
        assert unicodedata.normalize("NFKC", c) == c and c.casefold() == c.lower() == bytes([i]).lower().decode()


def test_word_characters_are_exactly_the_alphanumerics_and_never_spaces():
    word = set(re.findall(r"[^\W_]", EVERY_CHAR))
    alnum = {c for c in EVERY_CHAR if c.isalnum()}
    assert word == alnum
    assert not any(c.isspace() for c in alnum)
    assert set(re.findall(r"[^\x00-\x7f\w]", EVERY_CHAR)) == {c for c in EVERY_CHAR[128:] if not c.isalnum()}


def test_whitespace_folds_to_whitespace_and_nothing_else_folds_to_a_lone_space():
    """What lets ``prepare`` skip ``collapse``: NFKC and case folding keep a whitespace character whitespace
    (never empty) and never compose it with a neighbour."""
    for c in EVERY_CHAR:
        if c.isspace():
            folded = unicodedata.normalize("NFKC", c).casefold()
            assert folded and folded.isspace(), hex(ord(c))
            assert unicodedata.combining(c) == 0
            for mark in ("\u0301", "\u0308", "\u3099"):
                assert unicodedata.normalize("NFKC", c + mark) == unicodedata.normalize("NFKC", c) + mark


def test_case_folding_keeps_whitespace_apart_and_folds_no_folding_again():
    """What lets ``fold`` fold a text beyond ASCII one distinct character at a time (session 9): a character
    folds to whitespace exactly when it is whitespace (and then to whitespace only), and no character's folding
    holds a character that folding changes (so one replacement never rewrites another's output)."""
    for c in EVERY_CHAR:
        folded = c.casefold()
        assert any(x.isspace() for x in folded) == c.isspace(), hex(ord(c))
        assert not c.isspace() or folded.isspace(), hex(ord(c))
        assert all(x.casefold() == x for x in folded if x != c), hex(ord(c))


def test_nfkc_returns_its_argument_itself_exactly_when_its_quick_check_says_yes():
    """What lets ``_folded`` skip NFKC when the text's characters beyond ASCII, taken alone, pass NFKC's quick
    check (session 10): CPython's ``normalize`` hands back the very string it was given only when every
    character is NFKC_QC=Yes (and combining classes are in order), and otherwise builds a new one, even when
    the result is equal (``"\u0301"`` alone: NFKC_QC=Maybe, it composes with a letter before it). Checked over
    every character, with NFKC_QC=Yes worked out from the data: NFKC keeps the character, and it is not the
    second of a canonical pair nor a Hangul vowel or trailing consonant (composed by rule, not by the data)."""
    second = {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}
    for c in EVERY_CHAR:
        parts = unicodedata.decomposition(c).split()
        # a canonical pair that composes back (not a composition exclusion such as U+FB1D)
        if len(parts) == 2 and not parts[0].startswith("<") and unicodedata.normalize("NFC", c) == c:
            second.add(chr(int(parts[1], 16)))
    for c in EVERY_CHAR[128:]:
        quick_yes = unicodedata.normalize("NFKC", c) == c and c not in second
        assert (unicodedata.normalize("NFKC", c) is c) == quick_yes, hex(ord(c))
    assert unicodedata.normalize("NFKC", "\u0301") == "\u0301" and unicodedata.normalize("NFKC", "e\u0301") == "é"
    yes, unordered = "é—’ünï", "\u0591\u05b4"  # combining classes 220 then 14: NFKC puts them in order
    assert unicodedata.normalize("NFKC", yes) is yes
    assert unicodedata.normalize("NFKC", unordered) != unordered


# -- the pieces against the reference ----------------------------------------------------------------------

EDGE_TEXTS = [
    "", " ", "\n", "\u3000", "a", "_", "Single Spaced ASCII, text.", " Lead", "Trail ", "x\x1cy\x1fz\tw", "A\nB", "a_b", "ÀÉÎ Straße ǅ", "ＡＢＣ１２３ ｶﾀｶﾅ", "中文English混合 text１２",
    "深圳市腾讯计算机系统有限公司 — “招标” 公告。第1包、第2包", "x\u00a0y\u2007z\u202fw\u3000v\x85u\x1cq",
    "e\u0301 \u0301x", "¨a ´b ¸c", "² ³ ¼ Ⅻ ⑩ ㈠", "\ud800 lone surrogate \udfff", "Ǆ ß ﬁ İ", "a\r\nb\rc\x0bd\x0ce",
    "tab\tsep  and   spaces", "«début» plain a–b ‘c’ d mot—mot", "—«»— ‘’ “”", "plain words ünïcode then a–b", "𠀀𠀁 astral 𝐀𝐁", "1.5-2,0/3;4:5", "émoji 😀 done", "٣٤ arabic ١٢", "Ελληνικά ΣΊΣΥΦΟΣ",
    # combining classes 220 then 14: NFKC reorders them though each alone is unchanged (the quick check over
    # the distinct characters alone would miss it)
    "\u0591\u05b4", "x\u0591\u05b4 y",
]


def assert_folds_like_the_regexes(text: str) -> None:
    folded = reference_fold(text)
    assert tm.fold(text) == folded
    assert tm.fold_words(text) == (folded, _OLD_WORD.findall(folded))
    again = reference_fold(folded)  # a folded text folded again (``prepare`` folds text some feeds folded)
    assert tm.fold_words(folded) == (again, _OLD_WORD.findall(again))


@pytest.mark.parametrize("text", EDGE_TEXTS)
def test_fold_and_words_match_the_regexes_on_edge_cases(text):
    assert_folds_like_the_regexes(text)


_PIECES = st.sampled_from(
    [" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n\n", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0", "\u2003", "\u2028",
     "\u3000", "\u0301", "\u0308", "¨", "ﬁ", "ǅ", "Ａ", "ｶ", "ﾞ", "中", "文", "。", "、", "“", "—", "_", "-", ".", "&",
     "&amp;", "&nbsp;", "&lt;", "<p>", "</p>", "<br>", "<li>", "<script>x</script>", "<pre>", "</pre>", "²", "İ",
     "\ud800", "a", "B", "7", "word", "Straße"])
TEXTS = st.lists(_PIECES, max_size=40).map("".join) | st.text(max_size=60)
RUN = settings(max_examples=300, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow])


@RUN
@given(TEXTS)
def test_fold_and_words_match_the_regexes_on_generated_text(text):
    assert_folds_like_the_regexes(text)


# Mostly ASCII with a few characters beyond it, many of them changed by NFKC or case folding, or separators
# (the shape of the corpus' non-ASCII texts, which ``fold`` and ``words`` take one distinct character at a time).
_SPRINKLED = st.lists(
    st.sampled_from(["Tender ", "for ", "the ", "ROAD", " ", "  ", "\n", ", ", "-", "x1"])
    | st.characters(min_codepoint=0x80, max_codepoint=0x2FFFF)
    | st.sampled_from(["Д", "ΣΑΣ", "ς", "ẞ", "ß", "\u212a", "İ", "ﬁ", "Å", "Ａ", "—", "’", "\u00a0", "\u2028",
                       "\u0085", "\u3000", "e\u0301", "\u0301", "\u1100\u1161", "\u11a8", "\ud800", "중", "。"]),
    max_size=60).map("".join)


@settings(max_examples=600, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_SPRINKLED)
def test_fold_and_words_match_the_regexes_on_mostly_ascii_text(text):
    assert_folds_like_the_regexes(text)


@RUN
@given(TEXTS, st.integers(min_value=0, max_value=30))
def test_collapsed_head_is_the_head_of_collapse(text, limit):
    assert sanitize.collapsed_head(text, limit) == sanitize.collapse(text)[:limit]


@pytest.mark.parametrize("text", EDGE_TEXTS + ["<p>a</p>\n\n<p>b</p>", "a &amp; b", "<pre> x\n\n y</pre>"])
def test_html_to_text_is_collapse_of_visible_text(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert outcome(sanitize.html_to_text, text) == outcome(lambda t: sanitize.collapse(sanitize.visible_text(t)), text)


@pytest.mark.parametrize("html", EDGE_TEXTS + [
    '<a href="javascript:x()" onclick="y()" title="t">l</a><img src="data:x" alt="a"><td colspan="2">c</td>',
    "<script>alert(1)</script><style>p{}</style><iframe>fallback</iframe><!-- c --><b>b</b>",
])
def test_the_reused_cleaner_cleans_like_nh3_clean(html):
    import nh3

    def before(html: str) -> str:
        return nh3.clean(
            html, tags=set(sanitize.ALLOWED_TAGS), clean_content_tags=set(sanitize.DROPPED_WITH_CONTENT),
            attributes={t: set(a) for t, a in sanitize.ALLOWED_ATTRS.items()},
            url_schemes=set(sanitize.SAFE_SCHEMES), strip_comments=True, link_rel=None).strip() if html else ""

    assert outcome(sanitize.sanitize_html, html) == outcome(before, html)


# -- prepare as a whole ------------------------------------------------------------------------------------

def _tender(title: str, text: str, **kw):  # type: ignore[no-untyped-def]
    fields = dict(title=title, text=text, country=None, region=None, categories=[], buyer=None, value=None,
                  currency=None)
    fields.update(kw)
    return SimpleNamespace(**fields)


def test_prepare_matches_the_reference_on_the_corpus_tenders():
    from tests.corpora import corpus

    corpus("tenders")
    from bench.tender_matching import corpus_tenders

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tenders = corpus_tenders()
        assert len(tenders) > 100
        for t in tenders:
            assert with_words(tm.prepare)(t) == with_words(reference_prepare)(t), t.title
            assert reference_prepare(t).words == frozenset(_OLD_WORD.findall(reference_prepare(t).text))


def test_prepare_matches_the_reference_on_the_real_tenders():
    from bench.tender_fields import every_tender
    from tests.corpora import corpus

    root = corpus("real_tenders")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tenders = every_tender(root)
        assert len(tenders) > 600
        for t in tenders:
            assert with_words(tm.prepare)(t) == with_words(reference_prepare)(t), t.title


LONG = "Ｗord " * 700 + "\n\n\n" + "  tail\u00a0end  " * 300 + "\n" + "中文。" * 500


@pytest.mark.parametrize("title,text", [
    ("", ""), ("T", ""), ("", "body"), ("Ｔｉｔｌｅ ＡＢＣ", "<p>段落</p> &amp; more"), ("t\u0301", "\u0301body"),
    ("標題", "x" * 3999 + " \u0301y"), ("t", "x" * 4000 + "\n" + "y" * 10), ("t", " \n" * 3000 + "word " * 900),
    ("t", LONG), ("t", "<p>" + LONG + "</p>"), ("t", "a" * 9000), ("t", "&nbsp;" * 5000 + "end"),
    ("t", "\r\n".join(["line  with \t spaces"] * 400)), ("t", "\x1c" * 4500 + " z"),
])
def test_prepare_matches_the_reference_on_edge_cases(title, text):
    t = _tender(title, text, country="ＧＢ", region="Ｌondon  East", categories=["CPV: 45233130", "unspsc:4321"],
                value=Decimal("1"), currency="EUR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert outcome(with_words(tm.prepare), t) == outcome(with_words(reference_prepare), t)


BODIES = st.lists(_PIECES, max_size=400).map("".join) | st.text(max_size=200)


@RUN
@given(TEXTS, BODIES, st.integers(min_value=1, max_value=3))
def test_prepare_matches_the_reference_on_generated_tenders(title, body, repeat):
    # Repeating the body makes some longer than the cut (``MATCH_TEXT_CHARS``).
    t = _tender(title, body * (repeat * repeat * 10 if len(body) > 50 else 1), region=title[:8],
                categories=[title[:6]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert outcome(with_words(tm.prepare), t) == outcome(with_words(reference_prepare), t)
