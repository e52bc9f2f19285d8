"""``connectors.formats.common.clean`` collapses a long text only as far as its cut, with the very result the
whole-text collapse gave: compared over the real tender corpus (``tests/corpora.py``) and edge cases."""
from __future__ import annotations

import sys
import tracemalloc
from decimal import Decimal

import pytest

from connectors.formats.common import clean
from tests.corpora import corpus

LIMITS = (1, 2, 3, 7, 80, 200, 500, 4000)


def whole(value, limit=500):
    """The earlier ``clean``: every word of the text split off and joined, then cut."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return " ".join(str(value).split())[:limit] or None


def test_the_same_as_the_whole_text_collapse_on_every_real_notice():
    root = corpus("real_tenders")
    compared = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        # windows at many offsets, so cuts fall inside words, on spaces and inside runs of whitespace
        for start in range(0, len(text), max(1, len(text) // 40)):
            window = text[start:start + 12000]
            for limit in LIMITS:
                assert clean(window, limit) == whole(window, limit), (path.name, start, limit)
                compared += 1
    assert compared > 10000


def test_edge_cases():
    spaces = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    assert len(spaces) > 20  # \t \n \x0b \x0c \r \x1c-\x1f space \x85 \xa0 \u1680 \u2000-\u200a \u2028 \u3000 …
    cases = ["", " ", spaces * 50, "a", "ab " * 400, spaces + "x" * 2000 + spaces, "字" * 1001,
             ("报备" + spaces) * 700, "w " * 250 + "tail", "w " * 249 + "w", "x" * 499 + spaces + "y" * 900,
             "x" * 500 + " " + "y" * 900, "x" * 501 + " y" * 600, "  lead" + "\u3000" * 3000 + "trail " * 300,
             "a\u00a0b\u2028c\x1cd\x85e " * 300]
    for text in cases:
        for limit in (*LIMITS, 0, -1, 499, 500, 501, 1000, 1001):
            assert clean(text, limit) == whole(text, limit), (text[:20], limit)
    for value in (None, {}, [], True, 12345, Decimal("1.50"), 3.5):
        assert clean(value) == whole(value) and clean(value, 2) == whole(value, 2)
    # regex whitespace is exactly str.isspace(), over every code point
    import re

    assert all(bool(re.fullmatch(r"\s", chr(c))) == chr(c).isspace() for c in range(sys.maxunicode + 1))


@pytest.mark.parametrize("collapse", [clean, whole], ids=["clean", "whole text (earlier)"])
def test_a_long_text_is_not_split_into_all_its_words(collapse):
    """Two million words after the cut: the earlier collapse built a list of all of them (16 MB of pointers), the
    prefix collapse stops at the cut (a few KB). Memory, not time: no load dependence."""
    text = "a" * 1000 + " b" * 2_000_000
    tracemalloc.start()
    try:
        assert collapse(text) == "a" * 500
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if collapse is clean:
        assert peak < 100_000, peak
    else:
        assert peak > 10_000_000, peak  # what the fix removed (this case documents it and checks the measure)
