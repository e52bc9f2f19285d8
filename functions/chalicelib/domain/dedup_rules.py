"""Matching rules as configuration, and the name score they use. Pure.

Like Salesforce matching + duplicate rules: each rule names the fields that must *all* match, exactly or
fuzzily (a name score at or above the rule's threshold), and the action when it fires: ``block`` (the
same customer; the registration is a duplicate or conflict outright), ``flag`` (probably the same: put it
to review) or ``allow_with_alert`` (let it through, tell someone). A blank field never matches, on either
side. Rules are a JSON document (``MatchRules``); the defaults ship in ``data/dedup_rules.default.json``
and an operator replaces them with ``DEALREG_DEDUP_RULES`` (a JSON document) without a code change.

The name score (0-100, :func:`name_score`) uses rapidfuzz on the normalised forms of two names only
(never on a whole table: candidates come from the blocking index). It is the largest of:

* ``fuzz.ratio`` of the spaceless cores (typos, "Wal-Mart" vs "Walmart"), and for multi-word names
  ``fuzz.token_sort_ratio`` (word order);
* an initialism match (``ACRONYM_SCORE``): one name written as initials ("IBM", "P&G") equal to the
  initials of the other's words ("International Business Machines", "Procter & Gamble");
* a brand match (``BRAND_SCORE``) for CJK names: both have the same brand once the trailing trade words
  (技术, 科技, 集团, 控股, from companynameparser's lists) are taken off, and the shorter name's trade words
  all appear in the longer one's (华为 vs 华为技术, 瑞德智能 vs 瑞德智能科技); two names that carry
  *different* trade words (华为技术 vs 华为终端) get no such credit, because sister companies of one group
  are different customers;
* an abbreviation match (``ABBREVIATION_SCORE``, review only) for an exchange or everyday short form of a
  registered Chinese name: 华测检测 / 华测检测认证集团, 华灿光电 / 京东方华灿光电, ST西发 / 西藏发展,
  深桑达A / 深圳市桑达实业 (see :func:`_abbreviation_match` for what it takes and its guards);
* never more than ``REGION_CONFLICT_CAP`` for two names whose regions differ (issue 12 item 7);
* a romanised match (``ROMANISED_SCORE``) across scripts: the pinyin of an all-Chinese name's leading
  characters (not a place or trade word) spelled as one word equals the other name's first word, or its
  first two words run together (华为技术 vs "Huawei Technologies", 阿里巴巴 vs "Alibaba Group"). Only a
  spelling, never a translation or an alias list: 腾讯 vs "Tencent" or 中国银行 vs "Bank of China" do not
  match.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain import names
from chalicelib.domain.dedup_keys import NameForms, romanised_prefixes

__all__ = [
    "ABBREVIATION_SCORE", "ACRONYM_SCORE", "BRAND_SCORE", "ROMANISED_SCORE", "Action", "Field_", "MatchRule",
    "MatchRules", "RuleHit", "default_rules", "evaluate", "load_rules", "name_score", "same_name",
]

ACRONYM_SCORE = 92.0
BRAND_SCORE = 92.0
ROMANISED_SCORE = 90.0  # "probably the same, review": a spelling can coincide, a registry id cannot
# An abbreviation found inside a longer name (节能铁汉 / 中节能铁汉生态环境): review, never block.
ABBREVIATION_SCORE = 90.0
# Names that differ in region (四川黄金 / 湖南黄金, 阿里云计算（杭州）/（北京）) are related at most: below every
# duplicate threshold of the shipped rules, within the alert band. Only a shared registry id makes them one.
REGION_CONFLICT_CAP = 85.0
_DEFAULT_RULES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "dedup_rules.default.json")
_MIN_BRAND = 2


class Action(StrEnum):
    """What a fired rule asks for, strongest first."""

    BLOCK = "block"
    FLAG = "flag"
    ALLOW_WITH_ALERT = "allow_with_alert"


ACTION_STRENGTH = {Action.BLOCK: 3, Action.FLAG: 2, Action.ALLOW_WITH_ALERT: 1}


class Field_(StrEnum):
    """Fields a rule can compare. Exact fields compare exact keys; ``name`` may also be fuzzy."""

    REGISTRY_ID = "registry_id"
    NAME = "name"
    WEBSITE_DOMAIN = "website_domain"
    CONTACT_EMAIL = "contact_email"
    CONTACT_PHONE = "contact_phone"


# Exact key prefixes per field (see dedup_keys.exact_keys / contact_keys).
FIELD_KEY_PREFIXES: dict[Field_, tuple[str, ...]] = {
    Field_.REGISTRY_ID: ("uscc:", "lei:", "gb-coh:", "tw-ubn:", "duns:"),
    Field_.NAME: ("name:",),
    Field_.WEBSITE_DOMAIN: ("domain:",),
    Field_.CONTACT_EMAIL: ("email:",),
    Field_.CONTACT_PHONE: ("phone:",),
}


class MatchRule(BaseModel):
    """One matching rule: all ``fields`` must match for it to fire."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
    fields: Annotated[tuple[Field_, ...], Field(min_length=1)]
    match: Literal["exact", "fuzzy"]
    threshold: Annotated[float, Field(ge=0, le=100)] = Field(
        default=100, description="fuzzy: the lowest name score that matches (exact rules ignore it)")
    action: Action

    @model_validator(mode="after")
    def _fuzzy_only_on_names(self) -> MatchRule:
        if self.match == "fuzzy" and self.fields != (Field_.NAME,):
            raise ValueError("a fuzzy rule compares the name field only")
        if len(set(self.fields)) != len(self.fields):
            raise ValueError("fields repeat")
        return self


class MatchRules(BaseModel):
    """The rule set. Order matters only for ties: the first of the strongest fired rules is reported."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    version: Literal[1] = 1
    rules: Annotated[tuple[MatchRule, ...], Field(min_length=1, max_length=32)]
    max_candidates: Annotated[int, Field(ge=1, le=50)] = Field(
        default=10, description="how many best-scoring candidates a verdict keeps")

    @model_validator(mode="after")
    def _names_unique(self) -> MatchRules:
        seen = [r.name for r in self.rules]
        if len(set(seen)) != len(seen):
            raise ValueError("rule names repeat")
        return self

    @property
    def fuzzy_floor(self) -> float:
        """The lowest fuzzy threshold: candidates scoring below it can fire no fuzzy rule."""
        return min((r.threshold for r in self.rules if r.match == "fuzzy"), default=101.0)


@lru_cache(maxsize=1)
def default_rules() -> MatchRules:
    """The shipped rules (``data/dedup_rules.default.json``)."""
    with open(_DEFAULT_RULES_FILE, encoding="utf-8") as handle:
        return MatchRules.model_validate_json(handle.read())


def load_rules(document: str | None) -> MatchRules:
    """Rules from an operator's JSON document, or the defaults when it is empty.

    Raises:
        pydantic.ValidationError: the document does not satisfy ``MatchRules``.
    """
    if not document or not document.strip():
        return default_rules()
    return MatchRules.model_validate(json.loads(document))


# --- scoring ------------------------------------------------------------------------------------------


def name_score(a: NameForms, b: NameForms) -> float:
    """Similarity of two normalised names, 0-100 (see the module docstring). Blank names score 0."""

    if not a.compact or not b.compact:
        return 0.0
    if a.region_conflict(b):
        return min(_unbounded_score(a, b), REGION_CONFLICT_CAP)
    return _unbounded_score(a, b)


def same_name(a: NameForms, b: NameForms) -> bool:
    """The exact ``name`` match: equal comparison forms, and no two different regions."""
    return bool(a.compact) and a.compact == b.compact and not a.region_conflict(b)


def _unbounded_score(a: NameForms, b: NameForms) -> float:
    from rapidfuzz import fuzz

    if a.compact == b.compact:
        return 100.0
    score = fuzz.ratio(a.compact, b.compact)
    if " " in a.core or " " in b.core:
        score = max(score, fuzz.token_sort_ratio(a.core, b.core))
    if _initialism_match(a, b) or _initialism_match(b, a):
        score = max(score, ACRONYM_SCORE)
    if _bare_brand_match(a, b) or _short_form_match(a, b) or _homophone_typo(a, b) or _honorific_match(a, b):
        score = max(score, BRAND_SCORE)
    if a.script != b.script and (_romanised_match(a, b) or _romanised_match(b, a)):
        score = max(score, ROMANISED_SCORE)
    if score < ABBREVIATION_SCORE and _abbreviation_match(a, b):
        score = ABBREVIATION_SCORE
    return float(score)


def _romanised_match(chinese: NameForms, latin: NameForms) -> bool:
    if chinese.script != "cjk" or latin.script != "latin":
        return False
    words = latin.core.split()
    if not words:
        return False
    spellings = {words[0], "".join(words[:2])}
    return any(s in spellings for s in romanised_prefixes(chinese, _not_brand_starts()))


@lru_cache(maxsize=1)
def _not_brand_starts() -> frozenset[str]:
    """Leading character runs that are no brand when romanised: trade words and the provinces and cities a
    name may start with (上海 is not "Shanghai Electric"); a county name (永兴) may well be a brand."""
    tables = names._tables()
    return tables.generic_words | tables.region_prefixes


def _initialism_match(short: NameForms, long: NameForms) -> bool:
    return short.initials and not long.initials and bool(long.acronym) and short.acronym == long.acronym


def _bare_brand_match(a: NameForms, b: NameForms) -> bool:
    if a.script == "latin" or b.script == "latin":
        return False
    brand_a, brand_b = brand(a.compact), brand(b.compact)
    if brand_a != brand_b or len(brand_a) < _MIN_BRAND or brand_a in _generic_words():
        return False
    # The shorter name's trade words must all be in the longer name's: "华为" or "华为技术" vs "华为技术",
    # an exchange short name "瑞德智能" vs "瑞德智能科技", "海融科技" vs "海融食品科技"; never "华为技术" vs
    # "华为终端" (sister companies of one group carry different trade words).
    short, long_ = sorted((a.compact, b.compact), key=len)
    tail_short, tail_long = short[len(brand_a):], long_[len(brand_a):]
    return tail_short in tail_long


# The shortest brand a short form may open with, and the longest short form (exchange short names are
# 2-4 characters).
_MIN_SHORT_PREFIX = 2
_MAX_SHORT_FORM = 4


def _short_form_match(a: NameForms, b: NameForms) -> bool:
    """A CJK short form of a longer CJK name: both start with the same brand of two or more characters
    (not a place or trade word), and the rest of the short form abbreviates the rest of the long name,
    character by character in order (恒达新材 / 恒达新材料, 银信科技 / 银信长远科技, 润贝航科 / 润贝航空科技).

    Never when the short form is the bare common start (京东 / 京东方: nothing says 方 is generic), and
    never across two different regions (the caller caps those).
    """
    if a.script != "cjk" or b.script != "cjk":
        return False
    (short, short_form), (long_, _) = sorted(((a.compact, a), (b.compact, b)), key=lambda x: len(x[0]))
    if len(short) > _MAX_SHORT_FORM or len(short) == len(long_):
        return False
    if short_form.legal_form and long_.startswith(short) and len(short) >= _MIN_SHORT_PREFIX and \
            short not in _generic_words():
        return True  # "元力股份" / 福建元力活性炭股份有限公司: an exchange short name, brand + 股份
    prefix = 0
    while prefix < len(short) and short[prefix] == long_[prefix]:
        prefix += 1
    if prefix == len(short) and prefix >= _MIN_SHORT_PREFIX:
        # The short form is the start of the long name: only when it cuts a trade word short and nothing
        # but trade words follows (恒达新材 / 恒达新材料), never a bare start (京东 / 京东方).
        return _cut_trade_word(short, long_)
    if prefix < _MIN_SHORT_PREFIX or short[:prefix] in _generic_words():
        return False
    rest = iter(long_[prefix:])
    return all(ch in rest for ch in short[prefix:])


# A short form that is the bare start of the longer name (no trade word of its own) needs this many
# characters, or a listing mark, to be taken as its abbreviation: 京东 / 京东方 are two companies.
_MIN_BARE_ABBREVIATION = 3


def _abbreviation_match(a: NameForms, b: NameForms) -> bool:
    """A short form written the way exchanges and people abbreviate a registered Chinese name: its brand
    (what is left once trailing trade words go) found whole in the longer name, its trade words after it in
    order (华测检测 / 华测检测认证集团), the whole short form found inside the longer name behind a parent's
    or group's prefix (华灿光电 / 京东方华灿光电), or the longer name's first character followed by some of
    its characters in order, as words are cut to their first character (西发 / 西藏发展).

    Guards, each because the opposite happens between different companies:

    * the short form is not itself a registered name (no 有限公司 / Ltd taken off): two registered names
      are compared by the other rules (华控赛格 vs 赛格);
    * its brand is at least two characters and not a place or trade word alone (西藏矿业, 航天科技: the
      same place or trade word says nothing about identity);
    * a short form that is just the start of the longer name, or one made of its characters in order,
      needs three characters, a listing mark or the same region (京东 / 京东方);
    * one that does not start the longer name must be found in it whole (华工科技 is not 东华工程科技);
    * a leading province or city character (粤, 深) counts as the region only with a listing mark and
      only when the longer name names that region.
    """
    if a.script != "cjk" or b.script != "cjk":
        return False
    (short, short_form), (long_, long_form) = sorted(((a.compact, a), (b.compact, b)),
                                                     key=lambda x: len(x[0]))
    if short_form.registered or len(short) == len(long_) or \
            not _MIN_SHORT_PREFIX <= len(short) <= _MAX_SHORT_FORM:
        return False
    core = brand(short)
    if len(core) < _MIN_SHORT_PREFIX:
        return False
    if core in _generic_words():
        # A place or trade word as the brand (越秀资本, 西藏矿业): only a whole four-character short form
        # that opens the longer name, never a place spread over it (航天科技 is not 航天智造科技).
        return len(short) == _MAX_SHORT_FORM and long_.startswith(short)
    # A listing mark (ST华通, 张裕A) or the same region written with it (北京利尔 / 北京利尔高温材料) says
    # the short form names this company, not any company whose name starts the same way.
    strong = len(short) >= _MIN_BARE_ABBREVIATION or short_form.listing_mark or (
        short_form.region is not None and short_form.region == long_form.region)
    if short_form.listing_mark and len(short) > _MIN_SHORT_PREFIX and long_form.region and \
            long_form.region in _REGION_ABBREVIATIONS.get(short[0], ()):
        # An exchange short name may open with the one-character name of the company's province or city
        # (深桑达A for 深圳市桑达实业, 粤高速 for 广东省高速公路): that character is the region.
        short, strong = short[1:], True
        core = brand(short)
        if len(core) < _MIN_SHORT_PREFIX or core in _generic_words():
            return False
    if long_.startswith(core):
        trade = short[len(core):]
        if (trade or strong) and _in_order(trade, long_[len(core):]):
            return True
    if not strong:
        return False
    # Found whole further in (华灿光电 / 京东方华灿光电), or made of the longer name's first character and
    # then characters of it in order, the way words are cut to their first character (西发 for 西藏发展,
    # 中油资本 for 中国石油集团资本).
    return short in long_ or (short[0] == long_[0] and _in_order(short[1:], long_[1:]))


# The one-character names of China's provinces and province-level cities (粤 for 广东, 沪 for 上海), and of
# the cities whose character listed companies' short names use (深 Shenzhen, 穗 Guangzhou, 厦 Xiamen), as
# the regions ``dedup_keys`` compares (pinyin of the place). Written by us from the official short names.
_REGION_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "京": ("beijing",), "津": ("tianjin",), "沪": ("shanghai",), "申": ("shanghai",), "渝": ("chongqing",),
    "冀": ("hebei",), "晋": ("shanxi",), "蒙": ("neimenggu",), "辽": ("liaoning",), "吉": ("jilin",),
    "黑": ("heilongjiang",), "苏": ("jiangsu", "suzhou"), "浙": ("zhejiang",), "皖": ("anhui",),
    "闽": ("fujian",), "赣": ("jiangxi",), "鲁": ("shandong",), "豫": ("henan",), "鄂": ("hubei",),
    "湘": ("hunan",), "粤": ("guangdong",), "桂": ("guangxi", "guangxizhuangzuzizhiqu", "guilin"),
    "琼": ("hainan",), "川": ("sichuan",), "蜀": ("sichuan",), "黔": ("guizhou",), "贵": ("guizhou",),
    "滇": ("yunnan",), "云": ("yunnan",), "藏": ("xizang",), "陕": ("shaanxi", "shanxi"), "甘": ("gansu",),
    "陇": ("gansu",), "青": ("qinghai",), "宁": ("ningxia", "nanjing"), "甬": ("ningbo",), "新": ("xinjiang",),
    "港": ("xianggang",), "澳": ("aomen",), "深": ("shenzhen",), "穗": ("guangzhou",), "厦": ("xiamen",),
}


def _in_order(chars: str, text: str) -> bool:
    """Every character of ``chars`` occurs in ``text``, in the same order (a subsequence)."""
    rest = iter(text)
    return all(ch in rest for ch in chars)


# A homophone typo (腾迅 for 腾讯) is only trusted in a name long enough that one character is a slip,
# not a different brand (华为 / 华威 are two companies).
_MIN_TYPO_NAME = 4
_MIN_TYPO_BRAND_NAME = 6
# Honorific words in front of a Latin name ("Koninklijke Philips", "Royal Philips"): written by us.
_HONORIFICS = frozenset({"koninklijke", "koninklijk", "royal", "kgl"})


def _homophone_typo(a: NameForms, b: NameForms) -> bool:
    """Two Chinese names of the same length that differ in one character with the same pinyin reading."""
    if a.script != "cjk" or b.script != "cjk" or len(a.compact) != len(b.compact):
        return False
    if len(a.compact) < _MIN_TYPO_NAME:
        return False
    diff = [i for i, (x, y) in enumerate(zip(a.compact, b.compact, strict=True)) if x != y]
    if len(diff) != 1:
        return False
    # In the brand of a short name a homophone is as likely another company (欣天科技 / 新天科技) as a slip.
    if len(a.compact) < _MIN_TYPO_BRAND_NAME and diff[0] < len(brand(a.compact)):
        return False
    from chalicelib.domain.dedup_keys import han_syllables

    i = diff[0]
    return han_syllables(a.compact[i], limit=1) == han_syllables(b.compact[i], limit=1) != ()


def _honorific_match(a: NameForms, b: NameForms) -> bool:
    """The same Latin name but for an honorific word in front ("Koninklijke Philips" / "Philips")."""
    if a.script != "latin" or b.script != "latin":
        return False
    words_a, words_b = a.core.split(), b.core.split()
    bare_a, bare_b = _without_honorific(words_a), _without_honorific(words_b)
    return bare_a == bare_b and (bare_a != words_a or bare_b != words_b)


def _without_honorific(words: list[str]) -> list[str]:
    return words[1:] if len(words) > 1 and words[0] in _HONORIFICS else words


def _cut_trade_word(short: str, long_: str) -> bool:
    """``short`` is ``long_`` cut inside a trade word, and only trade words follow that word."""
    generic = _generic_words()
    end = len(short)
    return any(
        long_[start:stop] in generic and _only_trade_words(long_[stop:])
        for start in range(_MIN_SHORT_PREFIX, end)
        for stop in range(end + 1, len(long_) + 1)
    )


def _only_trade_words(text: str) -> bool:
    """True for "" or a run of trailing trade words (what :func:`brand` would take off)."""
    marker = "\x00\x00"  # two placeholder letters, so that brand() may strip all of ``text``
    return brand(marker + text) == marker


def brand(compact: str) -> str:
    """``compact`` with trailing CJK trade/business words removed while a name of 2+ letters remains."""
    generic = _generic_words()
    longest = _generic_max_len()
    text = compact
    changed = True
    while changed:
        changed = False
        for length in range(min(longest, len(text) - _MIN_BRAND), 1, -1):
            tail = text[-length:]
            if tail in generic and names.is_cjk(tail[0]):
                text, changed = text[:-length], True
                break
    return text


@lru_cache(maxsize=1)
def _generic_words() -> frozenset[str]:
    tables = names._tables()
    return tables.generic_words | tables.places


@lru_cache(maxsize=1)
def _generic_max_len() -> int:
    return names._tables().generic_max_len


# --- evaluation of rules on one candidate ---------------------------------------------------------------


@dataclass(frozen=True)
class RuleHit:
    """The strongest rule that fired for one candidate, with the fields that matched."""

    rule: str
    action: Action
    fields: tuple[Field_, ...]


def _shared_prefixes(query_keys: Iterable[str], candidate_keys: Iterable[str]) -> set[str]:
    shared = set(query_keys) & set(candidate_keys)
    return {k.split(":", 1)[0] + ":" for k in shared}


def evaluate(rules: MatchRules, score: float, query_keys: Iterable[str], candidate_keys: Iterable[str],
             *, names_equal: bool) -> RuleHit | None:
    """The strongest rule that fires for a candidate, or None.

    Args:
        rules: the rule set.
        score: :func:`name_score` of the two names.
        query_keys: exact keys of the query (``dedup_keys.exact_keys`` + ``contact_keys``).
        candidate_keys: exact keys of the candidate.
        names_equal: whether the two names' comparison forms are equal (the exact ``name`` match; the
            ``name:`` key is the claim key and may differ when only the dedup form strips more).
    """
    prefixes = _shared_prefixes(query_keys, candidate_keys)
    best: RuleHit | None = None
    for rule in rules.rules:
        if not all(_field_matches(rule, f, score, prefixes, names_equal) for f in rule.fields):
            continue
        hit = RuleHit(rule.name, rule.action, rule.fields)
        if best is None or ACTION_STRENGTH[hit.action] > ACTION_STRENGTH[best.action]:
            best = hit
    return best


def _field_matches(rule: MatchRule, field: Field_, score: float, prefixes: set[str], names_equal: bool) -> bool:
    if field is Field_.NAME:
        if rule.match == "fuzzy":
            return score > 0 and score >= rule.threshold
        return names_equal or "name:" in prefixes
    return any(p in prefixes for p in FIELD_KEY_PREFIXES[field])


def strongest(hits: Iterable[RuleHit | None]) -> RuleHit | None:
    """The strongest of several hits (first wins ties)."""
    best = None
    for hit in hits:
        if hit is not None and (best is None or ACTION_STRENGTH[hit.action] > ACTION_STRENGTH[best.action]):
            best = hit
    return best


def is_duplicate_action(action: Action | None) -> bool:
    """Whether an action means "the same customer" for evaluation and verdicts (block or flag)."""
    return action in (Action.BLOCK, Action.FLAG)


def rules_from_mapping(doc: Mapping) -> MatchRules:
    """Validate an already-parsed rules document."""
    return MatchRules.model_validate(doc)
