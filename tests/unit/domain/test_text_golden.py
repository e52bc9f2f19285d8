"""The faster ``names`` normalisation and ``html_to_text`` (issue 15 items 2 and 4) give exactly the outputs
the code before the speed-ups gave (golden generated from it: ``tests/text_golden.py``)."""
from __future__ import annotations

import json
import warnings

import pytest

from tests import text_golden
from tests.corpora import corpus

GOLDEN = json.loads(text_golden.GOLDEN.read_text(encoding="utf-8"))


def test_own_names_normalise_as_before():
    """Over the inputs stored in the golden (test files gain strings later; the golden keeps its set)."""
    names = list(GOLDEN["own_names"])
    assert len(names) >= 1000
    assert {n: text_golden.name_outputs(n) for n in names} == GOLDEN["own_names"]


def test_own_names_normalise_as_before_twice():
    """Second pass: results served from any cache are the same as computed ones."""
    for name, expected in GOLDEN["own_names"].items():
        assert text_golden.name_outputs(name) == expected


def test_own_text_converts_as_before():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = {n: text_golden.text_outputs(n) for n in GOLDEN["own_text"]}
    assert got == GOLDEN["own_text"]


@pytest.mark.parametrize("part", sorted(GOLDEN["corpus"]))
def test_corpus_outputs_as_before(part):
    root = corpus("name_matching").parent
    corpus("real_tenders")
    corpus("feedparser")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert text_golden.corpus_digests(root)[part] == GOLDEN["corpus"][part]
