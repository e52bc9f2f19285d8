"""The C-speed shortcuts in ``domain.names`` (issue 15 item 2: the intake computes a name key per webhook) give
what the per-character loops give: a string that is all Han, or printable, is passed through unchanged."""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.domain import names

SAMPLES = ["深圳市腾讯计算机系统有限公司", "中国平安保险（集团）股份有限公司", "腾讯 Tencent 科技", "华为技术 有限公司",
           "株式会社トヨタ", "삼성전자 주식회사", "Nestlé S.A.", "ACME Holdings, Inc.", "ＡＢＣ有限公司", "𠀀𠀁公司",
           "龍華科技", "北京\u3000银行", "\t华为\n技术", "ACME\u200bLtd", "a\u00adb", "一", "", " ", "鿿丂", "〇公司"]


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize("cjk_boundary", [False, True])
def test_join_words_shortcuts_match_the_loop(text, cjk_boundary):
    loop = names._join_words(iter(text), cjk_boundary=cjk_boundary)  # an iterator always takes the loop
    assert names._join_words(text, cjk_boundary=cjk_boundary) == loop


# Spaces, CJK (Han incl. an extension, kana, Hangul, the iteration mark), Latin, digits, marks, fullwidth forms.
_MIXED = st.text(alphabet=st.sampled_from(list(" 　 腾讯丂鿿𠀀〇々トヨ삼성ᄀAbz09-.,éſＡ·\u0301")), max_size=24)


@settings(max_examples=400, deadline=None)
@given(_MIXED, st.booleans())
def test_join_words_matches_the_loop_on_any_mix_of_scripts_and_spaces(text, cjk_boundary):
    # the str path (script letters by str.translate + a regex over them, issue 15 item 1) against the plain loop
    assert names._join_words(text, cjk_boundary=cjk_boundary) == names._join_words(iter(text), cjk_boundary=cjk_boundary)


@pytest.mark.parametrize("text", SAMPLES)
def test_display_and_script_shortcuts_match_the_loops(text):
    nfkc = unicodedata.normalize("NFKC", text)
    loop = names._join_words(" " if ch.isspace() else ch for ch in nfkc
                             if ch.isspace() or unicodedata.category(ch)[0] != "C")
    assert names._display(text) == loop
    display = names._display(text)
    has_cjk = any(names.is_cjk(ch) for ch in display)
    has_other = any(ch.isalpha() and not names.is_cjk(ch) for ch in display)
    assert names._script(display) == (("mixed" if has_other else "cjk") if has_cjk else "latin")


def test_an_all_han_name_is_not_walked_character_by_character(monkeypatch):
    calls = []
    monkeypatch.setattr(names, "_is_cjk", lambda ch: calls.append(ch) or True)
    assert names._join_words("腾讯计算机系统", cjk_boundary=True) == "腾讯计算机系统"
    assert names._script("腾讯计算机系统") == "cjk"
    assert calls == []


def test_every_main_block_han_character_folds_to_itself():
    """``_fold`` returns an all-Han string unchanged without walking it: proven for every code point it covers."""
    for code in range(ord(names._FIRST_HAN), ord(names._LAST_HAN) + 1):
        assert names._fold_char(chr(code)) == chr(code)
    assert names._fold("深圳市腾讯计算机系统有限公司") == "深圳市腾讯计算机系统有限公司"


def test_a_repeated_name_is_answered_from_the_cache():
    names._normalise_cached.cache_clear()
    first = names.normalise("深圳市腾讯计算机系统有限公司")
    assert names.normalise("深圳市腾讯计算机系统有限公司") is first  # the same object: not recomputed
    assert names._normalise_cached.cache_info().hits == 1
    assert names._normalise_cached.cache_info().maxsize == names._NAME_CACHE_SIZE  # bounded


def test_a_str_subclass_is_normalised_but_not_cached():
    class Name(str):
        pass

    names._normalise_cached.cache_clear()
    assert names.normalise(Name("ACME Ltd")) == names._normalise("ACME Ltd").__class__(
        **{**names._normalise("ACME Ltd").__dict__, "original": Name("ACME Ltd")})
    assert names._normalise_cached.cache_info().currsize == 0
    with pytest.raises(TypeError):
        names.normalise(b"ACME")  # type: ignore[arg-type]
