"""A name never seen before costs less (issue 15 item 4), with the same outputs: the shortcuts in ``domain.names``
(fold by ``str.translate``, no per-character script check below the first CJK code point, no bracket regex
without an opening bracket, legal-form and region loops skipped when nothing can start there) are compared with
the code before them, written out below and swapped in for a reference run."""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.domain import names


def loop_fold(text: str) -> str:
    """``names._fold`` as it was at ab6f1ed (per-character loop over a dict cache)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return " ".join(text.translate(names._ASCII_FOLD).split())
    if min(text) >= names._FIRST_HAN and max(text) <= names._LAST_HAN:
        return text
    out: list[str] = []
    previous = ""
    for ch in text:
        folded = names._fold_char(ch)
        if folded == names._MARK:
            if previous < names._LAST_FOLDABLE:
                continue
            folded = ch
        out.append(folded)
        previous = folded[-1:] or previous
    return names._join_words(iter("".join(out)), cjk_boundary=True)  # an iterator: the plain loop


def loop_script(display: str) -> str:
    if display.isascii():
        return "latin"
    has_cjk = any(names._is_cjk(ch) for ch in display)
    has_other = any(ch.isalpha() and not names._is_cjk(ch) for ch in display)
    if has_cjk:
        return "mixed" if has_other else "cjk"
    return "latin"


def regex_resolve_brackets(text, tables):  # type: ignore[no-untyped-def]
    """``names._resolve_brackets`` as it was at ab6f1ed (the regex searched every time)."""
    region = None
    forms: list[str] = []
    while True:
        match = names._bracket_group().search(text)
        if match is None:
            return text, region, tuple(forms)
        content = names._fold(match.group(1))
        outside = (text[: match.start()] + text[match.end():]).strip()
        replacement = f" {match.group(1)} "
        if content and names._fold(outside):
            if content in tables.places:
                region, replacement = region or names._region_label(content, tables), " "
            elif content in tables.cjk_suffix_forms:
                forms.append(tables.cjk_suffix_forms[content])
                replacement = " "
            elif tuple(content.split()) in tables.latin_suffix_forms:
                forms.append(tables.latin_suffix_forms[tuple(content.split())])
                replacement = " "
        text = text[: match.start()] + replacement + text[match.end():]


class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


def outputs(name: str) -> tuple[object, ...]:
    n = names._normalise(name)
    return (n.display, n.core, n.legal_forms, n.region, n.branch, n.script)


def reference_outputs(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, ...]:
    everything = _Everything()
    with monkeypatch.context() as patch:
        patch.setattr(names, "_fold", loop_fold)
        patch.setattr(names, "_script", loop_script)
        patch.setattr(names, "_edges", lambda tables: names._Edges(everything, everything, everything))  # type: ignore[arg-type]
        patch.setattr(names, "_resolve_brackets", regex_resolve_brackets)
        return outputs(name)


NAMES = [
    "", " ", "Nestlé S.A.", "NESTLÉ s. a.", "Société Générale", "Łódź Ørsted Đà Nẵng", "e\u0301cole", "\u0301lead mark",
    "Ab\u20dd", "क\u093fसान ltd", "Ελληνική Εταιρεία Α.Ε.", "ООО «Ромашка»", "ПАО Сбербанк", "Straße GmbH & Co. KG",
    "The Boeing Company", "ACME (Holdings) Ltd", "ACME [UK] Limited", "深圳市腾讯计算机系统有限公司", "中国平安保险（集团）股份有限公司",
    "阿里云计算（杭州）有限公司", "北京银行", "北京市场研究有限公司", "广东省深圳市华为技术有限公司上海分公司", "株式会社日立製作所",
    "삼성전자 주식회사", "ｿﾆｰ株式会社", "ＡＢＣ有限公司", "腾讯 Tencent 科技", "HSBC Bank (China) Company Limited Shanghai Branch",
    "【测试】公司", "〔北京〕公司", "〖上海〗有限公司", "CUNDINAMARCA - ALCALD\ufffdA MUNICIPIO DE SIBAT\ufffd",
    "I.M.S.P. SPITALUL CLINIC MUNICIPAL \"SFÂNTA TREIME\"", "Ǆemal ß İstanbul ﬁrm", "x\u200by\u00adz", "PT Bank Mandiri Tbk",
    "Oy Nokia Ab", "S. p. A.", "McDonald's Corp.", "ﾄﾖﾀ", "龍華科技", "〇公司", "𠀀𠀁公司",
]


@pytest.mark.parametrize("name", NAMES)
def test_new_name_paths_match_the_code_before(name, monkeypatch):
    assert outputs(name) == reference_outputs(name, monkeypatch)


_PIECES = st.sampled_from(
    ["有限公司", "（北京）", "(", ")", "[", "]", "【", "】", "〔", "〕", "Co.", "Ltd", " ", "S. A.", "GmbH", "The ", "北京市",
     "上海", "分公司", " Branch", "é", "\u0301", "ｶ", "ﾞ", "Ł", "ß", "İ", "株式会社", "주식회사", "&", "'", ".", "-", "中国",
     "银行", "Σ", "ő", "क\u093f", "\u20dd", "x", "Acme", "Inc", "ООО ", "Oy ", "\u3000", "\t", "\x00", "ǅ", "集团"])
RUN = settings(max_examples=300, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@RUN
@given(st.lists(_PIECES, max_size=12).map("".join) | st.text(max_size=20))
def test_new_name_paths_match_the_code_before_on_generated_names(monkeypatch, name):
    assert outputs(name) == reference_outputs(name, monkeypatch)


def test_the_fold_table_past_its_cap_folds_the_same(monkeypatch):
    """Past ``_FOLD_CACHE_LIMIT`` characters a character is folded each time, not stored: same result."""
    monkeypatch.setattr(names, "_FOLD_TABLE", names._FoldTable())
    monkeypatch.setattr(names, "_FOLD_CACHE_LIMIT", 3)
    text = "Ωmega Łódź Ærø Café"
    assert names._fold(text) == loop_fold(text)
    assert len(names._FOLD_TABLE) == 3
    assert names._fold(text) == loop_fold(text)


def test_script_shortcut_below_the_first_cjk_code_point_is_exact():
    """No code point below ``_FIRST_CJK`` is CJK, so a display below it is ``latin`` without a look."""
    assert not any(names._is_cjk(chr(c)) for c in range(ord(names._FIRST_CJK)))
    assert names._script("Łódź Café") == loop_script("Łódź Café") == "latin"
