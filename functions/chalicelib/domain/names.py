"""Company-name normalisation: one pure function from a raw name to comparison forms.

``normalise(name)`` turns a company name as typed by a partner or published by a buyer into a
``NormalisedName``: a cleaned ``display`` form and a ``core`` used for comparison, with the legal forms,
the region and the branch that were taken off kept on the side. ``name_key(name)`` is the exact-match
key for first-come-first-served claims: ``core`` without spaces.

Pipeline (each step says in a comment why it is there):

1. NFKC (full-width letters, digits and brackets become ASCII; half-width katakana become full-width),
   controls dropped, whitespace collapsed. This is ``display``.
2. Bracketed groups: a place (``（北京）``, ``(中国)``) is removed and kept as ``region``; a legal form
   (``（有限合伙）``) is removed; anything else (``（集团）``, ``(Holdings)``) is unwrapped.
3. Fold: case-fold, Latin/Greek/Cyrillic diacritics dropped (Nestlé -> nestle), ``&`` -> ``and``,
   apostrophes and full stops deleted (``S.A.`` -> ``sa``, ``McDonald's`` -> ``mcdonalds``), other
   punctuation and symbols become spaces; no spaces between CJK characters, one space between a CJK run
   and anything else.
4. Branch: ``…有限公司上海分公司`` / ``… Ltd Shanghai Branch`` -> the parent part plus ``branch``.
5. Legal forms stripped at the end (repeatedly: ``Co., Ltd.``) and, for the few forms written in front
   (``株式会社…``, ``ООО …``, ``PT …``, ``Oy …``, leading ``The``), at the start.
6. Leading Chinese administrative regions (``广东省深圳市…``), only while a plausible name remains.

Data, loaded once on first use: cleanco's legal terms and companynameparser's suffix / trade / China place
lists, read from the installed packages (declared runtime dependencies) by file, without importing them;
plus the long spellings of legal forms, the CJK legal forms and leading articles, written by us below
(rigour, which carried those, now keeps its data inside an 11 MB compiled core with six dependencies).

Judgement calls, each pinned by tests:

* ``集团`` / ``Group`` (and ``控股`` / ``Holdings``) stay in the core. The claim key is first come, first
  served, so a collision must mean "same legal entity" with near certainty. A group and its listed
  subsidiary are different entities (中国石油天然气集团有限公司 vs 中国石油天然气股份有限公司, CNPC vs
  PetroChina) and would collide if 集团 were dropped. "XX集团" vs "XX" is left to fuzzy matching, which
  flags it for review. ``(集团)`` in brackets is unwrapped, so 中国平安保险（集团）股份有限公司 and
  中国平安保险集团股份有限公司 share a key.
* A leading ``中国`` is kept. Names starting with 中国/中华 need State Council approval and are part of the
  registered name and brand (中国银行, 中国石油); ``(中国)`` in brackets is a region marker and is removed.
* A bare place (``北京``, no 市/省) is only treated as a region when it is a city, province or province-level
  autonomous region in the place list; bare district/county names (光明, 长安, 红星) are common brand words.
* A region prefix is only stripped when what remains is at least two letters and is not made up entirely
  of trade/suffix words (北京银行 stays 北京银行, otherwise it would collide with 上海银行).
* Different legal forms do not separate names ("Acme Ltd" and "Acme Inc" share a key): legal form is
  too often omitted or translated for it to be a reliable discriminator.
"""

from __future__ import annotations

import os
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

__all__ = ["NormalisedName", "is_cjk", "name_key", "normalise"]

# Han (incl. extensions and compatibility), kana, Hangul, and the CJK iteration/zero marks: scripts
# written without spaces between words, so spaces inside them are layout, not word boundaries. Checked
# with bisect rather than a regex class: compiling such a class costs milliseconds at import.
_CJK_RANGES = (
    (0x1100, 0x11FF),
    (0x3005, 0x3007),
    (0x3040, 0x30FF),
    (0x3130, 0x318F),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7AF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3134F),
)
_FIRST_CJK = chr(_CJK_RANGES[0][0])
_FIRST_HAN, _LAST_HAN = "\u4e00", "\u9fff"  # the main Han block, one of the ranges above: every character CJK
_CJK_BOUNDS = tuple(bound for start, end in _CJK_RANGES for bound in (start, end + 1))
# Innermost bracket group; NFKC has already turned （）［］ into ()[].
_BRACKET_GROUP = r"[(\[【〔〖]([^()\[\]【】〔〕〖〗]*)[)\]】〕〗]"

# Deleted outright rather than turned into a space, so that "S.A." == "SA", "Co.Ltd" == "CoLtd" and
# "McDonald's" == "McDonalds".
_DELETED = frozenset(".'`\u2018\u2019\u02bc")
# Latin letters with no Unicode decomposition, so NFKD leaves them alone (Łódź, Ørsted, Đà Nẵng).
_NO_DECOMPOSITION = {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"}
_LAST_FOLDABLE = "\u0530"  # end of the Latin, Greek and Cyrillic blocks: diacritics dropped below it
_ASCII_FOLD = {
    i: " and " if c == "&" else "" if c in _DELETED else c if c.isalnum() else " "
    for i, c in ((i, chr(i)) for i in range(128))
}
_MARK = "\x00"  # _fold_char's answer for a combining mark: kept or dropped depending on its base
_FOLD_CACHE_LIMIT = 8192


class _FoldTable(dict[int, str]):
    """Per-character fold results by code point (``_fold_char``), filled on first sight, for
    ``str.translate``; capped so that arbitrary input cannot grow it without bound (past the cap a
    character is folded each time, not stored)."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(self) < _FOLD_CACHE_LIMIT:
            self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()

# Roles given to entries of companynameparser's suffix.txt. The list mixes legal forms (有限公司) with
# business types (银行, 医院, 超市) that are part of the name, so which entries play which role is our
# call; the spellings are the data's (tests check every one is in the file).
_CJK_LEGAL_FORMS_FROM_SUFFIXES = (
    "有限公司",
    "有限责任公司",
    "股份有限公司",
    "股份公司",
    "股份",
    "有限合伙",
    "有限责任",
    "公司",
    "总公司",
)
_CJK_BRANCH_MARKERS_FROM_SUFFIXES = ("分公司", "分行", "支公司", "营业部")
# Latin branch marker, as in "HSBC Bank (China) Company Limited Shanghai Branch".
_LATIN_BRANCH_MARKER = "branch"
# Japanese and Korean company forms are also written in front of the name (株式会社日立製作所).
_CJK_PREFIX_FORM_ENDINGS = ("会社", "회사")
# cleanco countries whose legal forms customarily precede the name (ООО "…", PT Bank …, Oy … Ab).
_PREFIX_FORM_COUNTRIES = ("Finland", "Indonesia", "Russia")
# Legal-form tokens that, at the end of a name, far more often mean something else (a country).
_NOT_LEGAL_FORMS = frozenset({"uk"})
# Place-name endings that mark an administrative unit (省 province, 市 city, 区 district, 县 county, ...).
_ADMIN_SUFFIXES = ("省", "市", "区", "县", "州", "旗", "盟", "镇", "乡")
_PROVINCE_LEVEL_SUFFIXES = ("自治区", "特别行政区")
_NATIONAL_PREFIXES = frozenset({"中国"})  # see the module docstring: a brand, not a region, when leading
_MIN_REMAINING = 2


@dataclass(frozen=True)
class NormalisedName:
    """A company name in display and comparison forms.

    Attributes:
        original: the input, unchanged.
        display: NFKC, controls dropped, whitespace collapsed, no spaces between CJK characters; keeps
            case, diacritics, punctuation, legal form, region and branch.
        core: comparison form: lower case, folded, legal forms / region / branch removed, words of
            non-CJK scripts separated by single spaces, CJK runs unspaced.
        legal_forms: canonical legal forms found, in name order (bracketed ones last), e.g.
            ``("co ltd",)``, ``("ag",)`` (also for "Aktiengesellschaft") or ``("有限公司",)``.
        region: the most specific administrative region removed, e.g. ``"北京"``, else None.
        branch: the branch part removed, e.g. ``"上海分公司"``, else None.
        script: ``"cjk"`` (only CJK letters), ``"mixed"`` (CJK and other letters) or ``"latin"``
            (no CJK letters; includes Cyrillic and empty names, which are all handled word by word).
    """

    original: str
    display: str
    core: str
    legal_forms: tuple[str, ...]
    region: str | None
    branch: str | None
    script: str


@dataclass(frozen=True)
class _Tables:
    latin_suffix_forms: dict[tuple[str, ...], str]  # folded token sequence -> canonical form
    latin_prefix_forms: dict[tuple[str, ...], str]
    latin_max_tokens: int
    cjk_suffix_forms: dict[str, str]  # term -> canonical form (the term itself)
    cjk_prefix_forms: dict[str, str]
    cjk_max_len: int
    places: frozenset[str]  # every place name, for bracketed and branch regions
    region_prefixes: frozenset[str]  # places that may be stripped from the front of a name
    place_max_len: int
    generic_words: frozenset[str]  # trade and suffix words, for the "only generic words left" guard
    generic_max_len: int


def normalise(name: str) -> NormalisedName:
    """Normalise a company name for display and comparison.

    Pure and deterministic; never raises on a ``str`` (an empty or all-punctuation name gives an
    empty ``core``).

    Args:
        name: the name as received.

    Returns:
        The ``NormalisedName``.

    Raises:
        TypeError: if ``name`` is not a ``str``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be str, not {type(name).__name__}")
    if type(name) is not str:  # a str subclass may compare equal to a str yet be another object: not cached
        return _normalise(name)
    return _normalise_cached(name)


# Real inputs repeat (a feed publishes many notices per buyer; a partner registers the same customers), and
# the result is pure and immutable: recent names are answered from a bounded cache (issue 15 items 2, 4).
_NAME_CACHE_SIZE = 8192


def _normalise(name: str) -> NormalisedName:
    tables = _tables()
    display = _display(name)
    text, bracket_region, bracket_forms = _resolve_brackets(display, tables)
    folded = _fold(text)
    parent, branch = _split_branch(folded, tables)
    core, legal_forms = _strip_legal_forms(parent, tables)
    core, prefix_region = _strip_region_prefix(core, tables)
    return NormalisedName(
        original=name,
        display=display,
        core=core,
        legal_forms=legal_forms + bracket_forms,
        region=prefix_region or bracket_region,
        branch=branch,
        script=_script(display),
    )


_normalise_cached = lru_cache(maxsize=_NAME_CACHE_SIZE)(_normalise)


def name_key(name: str) -> str:
    """Return the exact-match key of a company name: ``normalise(name).core`` without spaces, then
    ``@`` and the region when one was taken off.

    A region is part of a company's identity: 四川黄金 and 湖南黄金, 阿里云计算（杭州） and 阿里云计算（北京）
    are different legal entities, so they never share a claim key (issue 12 item 7). Whether a name with
    a region and the same name without one are the same company is left to matching (``dedup_rules``).

    Args:
        name: the name as received.

    Returns:
        The key, e.g. ``"黄金@四川"`` or ``"腾讯计算机系统"``; empty when nothing comparable is left.
    """
    normalised = normalise(name)
    key = normalised.core.replace(" ", "")
    return f"{key}@{normalised.region}" if key and normalised.region else key


# --- pipeline steps ---------------------------------------------------------------------------------


def _display(name: str) -> str:
    text = unicodedata.normalize("NFKC", name)
    if text.isprintable():  # no controls, no format characters, no whitespace but " ": nothing to drop or map
        return _join_words(text)
    # Controls and format characters (zero-width space, BOM, bidi marks) are invisible in a name but
    # would make two identical-looking names differ; whitespace controls become spaces.
    return _join_words(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )


def _join_words(chars: Iterable[str], cjk_boundary: bool = False) -> str:
    """Collapse whitespace; drop spaces between two CJK characters; with ``cjk_boundary``, also put one
    space between a CJK character and a non-CJK one (so that CJK runs are tokens of their own)."""
    if isinstance(chars, str) and (chars.isascii() or max(chars) < _FIRST_CJK):  # no CJK: C-speed path
        return " ".join(chars.split())
    if isinstance(chars, str) and min(chars) >= _FIRST_HAN and max(chars) <= _LAST_HAN:
        return chars  # one run of Han characters (most Chinese names): no space to drop or add
    if isinstance(chars, str):
        # The loop below in C-speed passes (issue 15 items 2, 4: the loop was most of a mixed name's cost).
        # Spaces: only " " counts as one, as in the loop. Each character's script is one letter of ``kinds``
        # (by str.translate), and a small regex over those letters finds the spaces to drop and the places to
        # put one: a regex class of the CJK ranges themselves cost ~16 ms to compile on a cold start (issue 15
        # item 1).
        text = " ".join(part for part in chars.split(" ") if part)
        cuts = _JOIN_CUTS.get(cjk_boundary) or _join_cuts(cjk_boundary)
        kinds = text.translate(_KINDS)
        out: list[str] = []
        last = 0
        for cut in cuts.finditer(kinds):
            start, end = cut.span()
            out.append(text[last:start])
            if start == end:  # between a CJK character and another one: one space
                out.append(" ")
            last = end  # a space between two CJK characters: dropped
        out.append(text[last:])
        return "".join(out)
    out = []
    pending_space = False
    previous_cjk: bool | None = None  # None: nothing written yet
    for ch in chars:
        if ch == " ":
            pending_space = previous_cjk is not None
            continue
        cjk = _is_cjk(ch)
        if previous_cjk is not None:
            if previous_cjk and cjk:
                pass
            elif pending_space or (cjk_boundary and previous_cjk != cjk):
                out.append(" ")
        out.append(ch)
        previous_cjk, pending_space = cjk, False
    return "".join(out)


def _is_cjk(ch: str) -> bool:
    return bisect_right(_CJK_BOUNDS, ord(ch[0])) % 2 == 1


def is_cjk(ch: str) -> bool:
    """True when the first character of ``ch`` is Han, kana or Hangul (written without spaces)."""
    return _is_cjk(ch)


def _resolve_brackets(text: str, tables: _Tables) -> tuple[str, str | None, tuple[str, ...]]:
    region: str | None = None
    forms: list[str] = []
    while True:
        # Most names hold no bracket (the group's opening characters): no regex search (issue 15 item 4).
        if "(" not in text and "[" not in text and "【" not in text and "〔" not in text and "〖" not in text:
            return text, region, tuple(forms)
        match = _bracket_group().search(text)
        if match is None:
            return text, region, tuple(forms)
        content = _fold(match.group(1))
        outside = (text[: match.start()] + text[match.end() :]).strip()
        replacement = f" {match.group(1)} "
        # Only drop a group when something is left outside it: "（北京）" alone stays a name.
        if content and _fold(outside):
            if content in tables.places:
                region, replacement = region or _region_label(content, tables), " "
            elif content in tables.cjk_suffix_forms:
                forms.append(tables.cjk_suffix_forms[content])
                replacement = " "
            elif tuple(content.split()) in tables.latin_suffix_forms:
                forms.append(tables.latin_suffix_forms[tuple(content.split())])
                replacement = " "
        text = text[: match.start()] + replacement + text[match.end() :]


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():  # most legal terms and many names: no per-character work needed
        return " ".join(text.translate(_ASCII_FOLD).split())
    if min(text) >= _FIRST_HAN and max(text) <= _LAST_HAN:
        return text  # all Han letters (most Chinese names): each folds to itself, no space to drop or add
    # Each character folded by one table look-up in C (issue 15 item 4: the loop below was a fifth of a new
    # name's cost). Only a combining mark NFKC left alone needs its neighbour: then the loop decides.
    translated = text.translate(_FOLD_TABLE)
    if _MARK not in translated:
        return _join_words(translated, cjk_boundary=True)
    out: list[str] = []
    previous = ""
    for ch in text:
        folded = _FOLD_TABLE[ord(ch)]
        if folded == _MARK:
            # A combining mark NFKC could not compose: drop it on Latin/Greek/Cyrillic (the diacritic
            # rule), keep it elsewhere (Devanagari vowel signs, Thai tone marks are letters in effect).
            if previous < _LAST_FOLDABLE:
                continue
            folded = ch
        out.append(folded)
        previous = folded[-1:] or previous
    return _join_words("".join(out), cjk_boundary=True)


def _fold_char(ch: str) -> str:
    if ch in _DELETED:
        return ""
    if ch.isascii():
        return _ASCII_FOLD[ord(ch)]
    major = unicodedata.category(ch)[0]
    if major in "LN":
        if ch < _LAST_FOLDABLE:
            ch = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        return _NO_DECOMPOSITION.get(ch, ch)
    return _MARK if major == "M" else " "


def _split_branch(text: str, tables: _Tables) -> tuple[str, str | None]:
    tokens = text.split(" ")
    last = tokens[-1]
    for marker in _CJK_BRANCH_MARKERS_FROM_SUFFIXES:
        if last.endswith(marker) and len(last) > len(marker):
            head = " ".join(tokens[:-1] + [last[: -len(marker)]])
            cut = _last_cjk_form_end(head, tables)
            if cut is None:
                cut = _trailing_place_start(head, tables)
            if cut is None:
                cut = len(head)
            parent, branch = head[:cut].strip(), head[cut:].strip() + marker
            if len(parent.replace(" ", "")) >= _MIN_REMAINING:
                return parent, branch
            return text, None
    if last == _LATIN_BRANCH_MARKER and len(tokens) > 1:
        cut = len(tokens) - 1
        for end in range(len(tokens) - 1, 0, -1):
            if any(
                tuple(tokens[end - n : end]) in tables.latin_suffix_forms
                for n in range(1, min(tables.latin_max_tokens, end) + 1)
            ):
                cut = end
                break
        return " ".join(tokens[:cut]), " ".join(tokens[cut:])
    return text, None


def _last_cjk_form_end(text: str, tables: _Tables) -> int | None:
    best = None
    for form in tables.cjk_suffix_forms:
        index = text.rfind(form)
        if index > 0 and (best is None or index + len(form) > best):
            best = index + len(form)
    return best


def _trailing_place_start(text: str, tables: _Tables) -> int | None:
    for length in range(min(tables.place_max_len, len(text) - _MIN_REMAINING), 1, -1):
        if text[-length:] in tables.places:
            return len(text) - length
    return None


def _strip_legal_forms(text: str, tables: _Tables) -> tuple[str, tuple[str, ...]]:
    tokens = text.split(" ") if text else []
    front: list[str] = []
    back: list[str] = []
    while tokens:
        at_end = True
        step = _legal_form_at_end(tokens, tables)
        if step is None:
            at_end, step = False, _legal_form_at_start(tokens, tables)
        if step is None:
            break
        remaining, form = step
        if not remaining:  # the name is nothing but legal forms ("有限公司", "Co Ltd"): keep it whole
            break
        tokens = remaining
        if form:  # articles ("the") have an empty canonical form: removed, but not a legal form
            (back if at_end else front).append(form)
    return " ".join(tokens), tuple(front) + tuple(reversed(back))


def _legal_form_at_end(tokens: list[str], tables: _Tables) -> tuple[list[str], str] | None:
    last = tokens[-1]
    if _is_cjk(last):
        for length in range(min(tables.cjk_max_len, len(last)), 0, -1):
            form = tables.cjk_suffix_forms.get(last[-length:])
            if form is not None:
                return tokens[:-1] + ([last[:-length]] if length < len(last) else []), form
        return None
    if last in _edges(tables).latin_suffix_last:  # else no form ends with this token: none to try
        for count in range(min(tables.latin_max_tokens, len(tokens)), 0, -1):
            form = tables.latin_suffix_forms.get(tuple(tokens[-count:]))
            if form is not None:
                return tokens[:-count], form
    # Spaced initials: "S. A." folds to "s a", "S. p. A." to "s p a"; try them joined ("sa", "spa").
    letters = 0
    while letters < len(tokens) and len(tokens[-1 - letters]) == 1 and tokens[-1 - letters].isalpha():
        letters += 1
    for count in range(letters, 1, -1):
        form = tables.latin_suffix_forms.get(("".join(tokens[-count:]),))
        if form is not None:
            return tokens[:-count], form
    return None


def _legal_form_at_start(tokens: list[str], tables: _Tables) -> tuple[list[str], str] | None:
    first = tokens[0]
    if _is_cjk(first):
        for length in range(min(tables.cjk_max_len, len(first)), 0, -1):
            form = tables.cjk_prefix_forms.get(first[:length])
            if form is not None:
                return ([first[length:]] if length < len(first) else []) + tokens[1:], form
        return None
    if first not in _edges(tables).latin_prefix_first:  # no form starts with this token
        return None
    for count in range(min(tables.latin_max_tokens, len(tokens)), 0, -1):
        form = tables.latin_prefix_forms.get(tuple(tokens[:count]))
        if form is not None:
            return tokens[count:], form
    return None


def _strip_region_prefix(text: str, tables: _Tables) -> tuple[str, str | None]:
    region = None
    while True:
        place = _leading_region(text, tables)
        if place is None:
            return text, region
        rest = text[len(place) :].lstrip()
        if sum(ch.isalnum() for ch in rest) < _MIN_REMAINING or _is_generic(rest, tables):
            return text, region
        text, region = rest, _region_label(place, tables)


def _leading_region(text: str, tables: _Tables) -> str | None:
    if text[:1] not in _edges(tables).region_first:  # no region starts with this character (any Latin name)
        return None
    for length in range(min(tables.place_max_len, len(text)), 1, -1):
        place = text[:length]
        if place not in tables.region_prefixes or place in _NATIONAL_PREFIXES:
            continue
        # "北京市场研究": 市 belongs to 市场 (a trade word), not to 北京市; fall back to the bare place.
        if (
            place.endswith(_ADMIN_SUFFIXES)
            and place[:-1] in tables.region_prefixes
            and any(text[length - 1 : length - 1 + n] in tables.generic_words for n in range(2, 5))
        ):
            continue
        return place
    return None


def _is_generic(text: str, tables: _Tables) -> bool:
    """True when ``text`` is nothing but trade/suffix words (银行, 汽车集团), i.e. not a name by itself."""
    text = text.replace(" ", "")
    if not text or not _is_cjk(text):
        return False
    reachable = [True] + [False] * len(text)
    for end in range(2, len(text) + 1):
        reachable[end] = any(
            reachable[start] and text[start:end] in tables.generic_words
            for start in range(max(0, end - tables.generic_max_len), end - 1)
        )
    return reachable[-1]


def _region_label(place: str, tables: _Tables) -> str:
    # "北京市" and "北京" are the same region; report the short form when the list has it.
    if place.endswith(("市", "省")) and place[:-1] in tables.places:
        return place[:-1]
    return place


def _script(display: str) -> str:
    if display.isascii():
        return "latin"
    if min(display) >= _FIRST_HAN and max(display) <= _LAST_HAN:
        return "cjk"
    if max(display) < _FIRST_CJK:  # accented Latin, Cyrillic...: nothing CJK, without a look per character
        return "latin"
    has_cjk = any(_is_cjk(ch) for ch in display)
    has_other = any(ch.isalpha() and not _is_cjk(ch) for ch in display)
    if has_cjk:
        return "mixed" if has_other else "cjk"
    return "latin"


# --- data -------------------------------------------------------------------------------------------

# Legal forms written out in full, as registers and partners spell them, each with the abbreviation we
# report. Written by us for dealreg (cleanco's package ships the abbreviations; these are the long forms
# and the CJK forms it does not carry). Spellings are folded before use, so case, accents and punctuation
# do not matter ("Société Anonyme" == "societe anonyme").
_OWN_LATIN_FORMS: dict[str, tuple[str, ...]] = {
    "co ltd": ("co limited", "corp ltd", "coltd", "co ltd", "co inc"),
    "ltd": ("limited", "ltd", "ltd co", "limited company"),
    "inc": ("incorporated", "incorporation", "inc"),
    "corp": ("corporation", "corp"),
    "company": ("company",),
    "co": ("co",),
    "llc": ("limited liability company", "l l c", "llc"),
    "llp": ("limited liability partnership", "llp"),
    "lp": ("limited partnership",),
    "plc": ("public limited company", "public company limited", "plc"),
    "pte ltd": ("private limited", "private limited company", "pte ltd", "pte limited", "pvt ltd",
                "private ltd", "pvt limited"),
    "pty ltd": ("proprietary limited", "pty limited", "pty ltd"),
    "jsc": ("joint stock company", "joint stock co", "joint-stock company", "jsc", "pjsc", "ojsc", "cjsc",
            "public joint stock company", "open joint stock company", "closed joint stock company"),
    "gmbh": ("gesellschaft mit beschrankter haftung", "gesellschaft mbh", "ges mbh", "gesmbh", "gmbh",
             "gmbh and co kg", "gmbh und co kg", "gmbh and co", "ggmbh"),
    "ag": ("aktiengesellschaft", "ag and co kg", "ag und co kg", "kommanditgesellschaft auf aktien", "kgaa"),
    "kg": ("kommanditgesellschaft",),
    "se": ("societas europaea", "europaische gesellschaft"),
    "bv": ("besloten vennootschap", "besloten vennootschap met beperkte aansprakelijkheid", "bv"),
    "nv": ("naamloze vennootschap", "nv"),
    "sa": ("societe anonyme", "sociedad anonima", "sociedade anonima", "sa"),
    "spa": ("societa per azioni", "spa"),
    "sarl": ("societe a responsabilite limitee", "sarl"),
    "sas": ("societe par actions simplifiee", "sas"),
    "srl": ("societa a responsabilita limitata", "sociedad de responsabilidad limitada", "srl"),
    "ab": ("aktiebolag", "aktiebolaget", "ab"),
    "as": ("aktieselskab", "aksjeselskap", "as"),
    "asa": ("allmennaksjeselskap", "asa"),
    "aps": ("anpartsselskab", "aps"),
    "oy": ("osakeyhtio", "oy"),
    "oyj": ("julkinen osakeyhtio", "oyj"),
    "sp z oo": ("spolka z ograniczona odpowiedzialnoscia", "sp z oo"),
    "sdn bhd": ("sendirian berhad", "sdn bhd"),
    "bhd": ("berhad", "bhd"),
    "tbk": ("terbuka", "tbk"),
    "kk": ("kabushiki kaisha", "kabushikigaisha"),
    "ooo": ("obshchestvo s ogranichennoy otvetstvennostyu", "ooo"),
    "ao": ("aktsionernoe obshchestvo", "ао"),
}
# CJK legal forms (Chinese simplified and traditional, Japanese, Korean), written by us; (주) and (유) are
# the Korean bracketed abbreviations of 주식회사 and 유한회사.
_OWN_CJK_FORMS = (
    "股份有限公司", "有限责任公司", "有限責任公司", "有限公司", "股份公司", "无限公司", "無限公司", "两合公司",
    "兩合公司", "有限合伙", "有限合夥", "普通合伙", "普通合夥", "有限",
    "株式会社", "有限会社", "合同会社", "合名会社", "合資会社",
    "주식회사", "유한회사", "유한책임회사", "합자회사", "합명회사", "주", "유",
)
# Articles that open an organisation's name and are not part of it (The Boeing Company, La Poste).
_OWN_NAME_ARTICLES = ("the", "le", "la")
# Package data: (import name, path inside the package). Read by file, never imported (companynameparser's
# own __init__ would load jieba).
_CNP_SUFFIX = ("companynameparser", "data/suffix.txt")
_CNP_TRADE = ("companynameparser", "data/trade.txt")
_CNP_PLACE = ("companynameparser", "data/china_place.txt")
_CLEANCO_TERMDATA = ("cleanco", "termdata.py")


class _Edges(NamedTuple):
    """Derived from ``_Tables``, for skipping look-ups that cannot succeed (issue 15 item 4: a new name's
    legal-form and region loops tried every length and found nothing for most names)."""

    latin_suffix_last: frozenset[str]  # the last token of every Latin suffix form
    latin_prefix_first: frozenset[str]  # the first token of every Latin prefix form
    region_first: frozenset[str]  # the first character of every region prefix


_EDGES: list[Any] = [None, None]  # [the tables, their edges]: one pair, recomputed if the tables change


def _edges(tables: _Tables) -> _Edges:
    if _EDGES[0] is not tables:
        _EDGES[:] = [tables, _Edges(
            latin_suffix_last=frozenset(form[-1] for form in tables.latin_suffix_forms if form),
            latin_prefix_first=frozenset(form[0] for form in tables.latin_prefix_forms if form),
            region_first=frozenset(place[0] for place in tables.region_prefixes if place),
        )]
    return _EDGES[1]


class _KindTable(dict[int, str]):
    """Each code point's script for ``_join_words``, by ``str.translate``: ``c`` CJK, ``o`` anything else but the
    space (which stays " "); filled on first sight and capped like :class:`_FoldTable`."""

    def __missing__(self, code: int) -> str:
        kind = "c" if _is_cjk(chr(code)) else "o"
        if len(self) < _FOLD_CACHE_LIMIT:
            self[code] = kind
        return kind


_KINDS = _KindTable({ord(" "): " "})
_JOIN_CUTS: dict[bool, re.Pattern[str]] = {}


def _join_cuts(cjk_boundary: bool) -> re.Pattern[str]:
    """Over the ``kinds`` letters: a space between two CJK characters (dropped), and with ``cjk_boundary`` the empty
    places between a CJK character and another character (a space put there)."""
    pattern = "(?<=c) (?=c)" + ("|(?<=c)(?=o)|(?<=o)(?=c)" if cjk_boundary else "")
    return _JOIN_CUTS.setdefault(cjk_boundary, re.compile(pattern))


@lru_cache(maxsize=1)
def _bracket_group() -> re.Pattern[str]:
    return re.compile(_BRACKET_GROUP)


def _package_file(package: str, relative: str) -> str:
    """The path of a data file shipped inside an installed package, found without importing the package
    (``find_spec`` of a top-level package locates it; it does not run its ``__init__``)."""
    from importlib.util import find_spec

    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {package!r} is not installed (a declared runtime dependency)")
    return os.path.join(next(iter(spec.submodule_search_locations)), *relative.split("/"))


def _read_lines(location: tuple[str, str]) -> list[str]:
    with open(_package_file(*location), encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


def _cleanco_terms() -> dict[str, dict[str, list[str]]]:
    """cleanco's ``terms_by_type`` and ``terms_by_country``, from its data module alone (not ``cleanco``
    itself, whose ``__init__`` compiles its cleaning machinery)."""
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("_dealreg_cleanco_termdata", _package_file(*_CLEANCO_TERMDATA))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"terms_by_type": module.terms_by_type, "terms_by_country": module.terms_by_country}


# The built tables as ``make package`` writes them into the zip (``infra.package.add_generated_data``): marshal
# of the fields below a header naming the Python that wrote it. Loading them costs ~3 ms CPU on a cold start;
# building them from the packages' files ~15 ms (issue 15). A file from another Python is ignored (rebuilt).
TABLES_FILE = "name_tables.marshal"


def _tables_header() -> bytes:
    import marshal
    import sys

    return f"dealreg name tables {sys.implementation.cache_tag} marshal {marshal.version}\n".encode()


def tables_blob() -> bytes:
    """The packaged form of :func:`_tables` (built from the packages' files now)."""
    import marshal
    from dataclasses import fields

    built = _build_tables()
    return _tables_header() + marshal.dumps({f.name: getattr(built, f.name) for f in fields(built)})


def _packaged_tables() -> _Tables | None:
    import marshal

    try:
        with open(os.path.join(os.path.dirname(__file__), "data", TABLES_FILE), "rb") as handle:
            blob = handle.read()
    except FileNotFoundError:
        return None
    header = _tables_header()
    if not blob.startswith(header):
        return None
    return _Tables(**marshal.loads(blob[len(header):]))


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    """The name tables, loaded once per process: the packaged ones when present, else built."""
    packaged = _packaged_tables()
    return packaged if packaged is not None else _build_tables()


def _build_tables() -> _Tables:
    cleanco = _cleanco_terms()
    suffixes = set(_read_lines(_CNP_SUFFIX))
    trades = set(_read_lines(_CNP_TRADE))
    places = frozenset(_read_lines(_CNP_PLACE))

    cleanco_terms = [t for terms in cleanco["terms_by_type"].values() for t in terms]
    cleanco_terms += [t for terms in cleanco["terms_by_country"].values() for t in terms]
    cleanco_folded = {_fold(t) for t in cleanco_terms} - {""}

    latin: dict[tuple[str, ...], str] = {}
    for canonical, spellings in _OWN_LATIN_FORMS.items():
        for spelling in spellings:
            latin.setdefault(tuple(_fold(spelling).split()), canonical)
    for folded in sorted(cleanco_folded):
        latin.setdefault(tuple(folded.split()), folded)
    cjk: dict[str, str] = {form: form for form in _OWN_CJK_FORMS}
    for term in _CJK_LEGAL_FORMS_FROM_SUFFIXES:
        if term in suffixes:
            cjk.setdefault(term, term)
    for blocked in _NOT_LEGAL_FORMS:
        latin.pop((blocked,), None)

    prefix_terms = {_fold(t) for c in _PREFIX_FORM_COUNTRIES for t in cleanco["terms_by_country"].get(c, ())}
    latin_prefix = {
        tuple(t.split()): latin.get(tuple(t.split()), t) for t in prefix_terms - _NOT_LEGAL_FORMS - {""}
    }
    for article in _OWN_NAME_ARTICLES:
        latin_prefix.setdefault((article,), "")
    cjk_prefix = {t: c for t, c in cjk.items() if t.endswith(_CJK_PREFIX_FORM_ENDINGS)}

    # Places that may be stripped from the front of a name: anything with an administrative suffix
    # (光明区, 朝阳县), and bare names only for cities and provinces (北京 for 北京市, 山西 for 山西省) ...
    region_prefixes = {
        p for p in places if p.endswith(_ADMIN_SUFFIXES) or p + "市" in places or p + "省" in places
    }
    # ... and province-level regions (广西 for 广西壮族自治区, 香港 for 香港特别行政区).
    for full in places:
        if full.endswith(_PROVINCE_LEVEL_SUFFIXES):
            region_prefixes.update(full[:n] for n in range(_MIN_REMAINING, len(full)) if full[:n] in places)
    generic = frozenset(w for w in trades | suffixes if len(w) >= _MIN_REMAINING)
    return _Tables(
        latin_suffix_forms=latin,
        latin_prefix_forms=latin_prefix,
        latin_max_tokens=max(len(k) for k in latin),
        cjk_suffix_forms=cjk,
        cjk_prefix_forms=cjk_prefix,
        cjk_max_len=max(len(k) for k in cjk),
        places=places,
        region_prefixes=frozenset(region_prefixes),
        place_max_len=max(len(p) for p in places),
        generic_words=generic,
        generic_max_len=max(len(w) for w in generic),
    )
