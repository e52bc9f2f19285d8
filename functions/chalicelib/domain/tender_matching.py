"""Which subscriptions does a tender match? One predicate, and an index that finds the same answer fast.

``matches(criteria, prepared)`` is the definition. ``naive_match`` applies it to every subscription;
``SubscriptionIndex.match`` applies it only to *candidates* found through inverted lists, and returns
exactly the same set (tests/unit/domain/test_tender_matching.py checks both on the corpus), because each
subscription is filed under one *anchor* criterion that every match must satisfy:

- include keywords (first choice): a non-CJK keyword under its first word (a tender must contain that
  word to match the phrase); a CJK keyword under its first two characters (a substring match implies
  the tender text has that bigram);
- else category prefixes: under the prefix; a tender looks up every prefix of each of its codes;
- else buyers: under the normalised buyer core; a tender looks up fuzzy neighbours of its buyer with the
  same scorer and cut-off as the predicate (rapidfuzz ``process.extract``);
- else regions: under the region text; a tender looks up its country and every prefix of its region.

Matching rules (case-insensitive, NFKC-folded): keywords are matched in the title and the first
``MATCH_TEXT_CHARS`` characters of the text; a keyword with any CJK character is a substring (no word
segmentation), any other keyword is a whole-word phrase. Buyers match when the normalised cores
(``domain.names``, the dedup normalisation) are equal or ``fuzz.ratio`` >= ``BUYER_MIN_SCORE``. A value
range excludes a tender only when the tender states a value: in another currency, or outside the range.

Where the index lives: in the memory of the function that polls (``handlers/tenders.py``), rebuilt from
the subscriptions table when the table's version counter (bumped in the same transaction as every
subscription write) differs from the one the cached index was built at.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MATCH_TEXT_CHARS = 4000
BUYER_MIN_SCORE = 90.0
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x3400 <= o <= 0x9FFF) or (0xF900 <= o <= 0xFAFF) or (0x20000 <= o <= 0x3134F) or (0x3040 <= o <= 0x30FF) or (0xAC00 <= o <= 0xD7AF)


def fold(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed to single spaces."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(frozen=True)
class Keyword:
    """A compiled keyword: CJK substring or word phrase."""

    text: str  # folded
    cjk: bool
    words: tuple[str, ...]

    @classmethod
    def compile(cls, raw: str) -> Keyword | None:
        text = fold(raw)
        if any(_is_cjk(c) for c in text):
            return cls(text=text, cjk=True, words=())
        words = tuple(_WORD.findall(text))
        return cls(text=text, cjk=False, words=words) if words else None

    def anchor(self) -> str:
        return self.text[:2] if self.cjk else self.words[0]


@dataclass(frozen=True)
class Criteria:
    """A subscription compiled for matching."""

    id: str
    rep_id: str
    include: tuple[Keyword, ...] = ()
    exclude: tuple[Keyword, ...] = ()
    buyers: tuple[str, ...] = ()  # normalised cores
    regions: tuple[str, ...] = ()  # folded
    categories: tuple[str, ...] = ()  # folded prefixes, with or without scheme
    value_min: Decimal | None = None
    value_max: Decimal | None = None
    currency: str | None = None
    delivery: str = "immediate"

    @classmethod
    def from_subscription(cls, sub: Any) -> Criteria:
        """Compile a ``schemas.tender.Subscription``."""
        from chalicelib.domain.names import normalise

        return cls(
            id=sub.id,
            rep_id=sub.rep_id,
            include=tuple(k for k in (Keyword.compile(w) for w in sub.keywords.include) if k),
            exclude=tuple(k for k in (Keyword.compile(w) for w in sub.keywords.exclude) if k),
            buyers=tuple(dict.fromkeys(c for c in (normalise(b).core for b in sub.buyers) if c)),
            regions=tuple(dict.fromkeys(fold(r) for r in sub.regions)),
            categories=tuple(dict.fromkeys(fold(c).replace(" ", "") for c in sub.categories)),
            value_min=sub.value_min,
            value_max=sub.value_max,
            currency=sub.currency,
            delivery=str(sub.delivery),
        )


@dataclass
class Prepared:
    """A tender reduced to what matching reads; computed once per tender."""

    text: str
    words: frozenset[str]
    word_list: list[str]
    grams: frozenset[str]
    buyer_core: str | None
    places: tuple[str, ...]  # folded country and every prefix of the folded region
    codes: tuple[str, ...]  # folded "scheme:code"
    code_prefixes: frozenset[str]
    value: Decimal | None
    currency: str | None
    _positions: dict[str, list[int]] = field(default_factory=dict)

    def has_phrase(self, words: tuple[str, ...]) -> bool:
        if words[0] not in self.words:
            return False
        if len(words) == 1:
            return True
        if not self._positions:
            for i, w in enumerate(self.word_list):
                self._positions.setdefault(w, []).append(i)
        n = len(words)
        return any(self.word_list[i:i + n] == list(words) for i in self._positions.get(words[0], ()))


def prepare(tender: Any) -> Prepared:
    """Reduce a ``schemas.tender.Tender`` for matching."""
    from connectors.formats.sanitize import html_to_text

    from chalicelib.domain.names import normalise

    body = html_to_text(tender.text)[:MATCH_TEXT_CHARS] if tender.text else ""
    text = fold(f"{tender.title}\n{body}")
    word_list = _WORD.findall(text)
    grams = frozenset(text[i:i + 2] for i in range(len(text) - 1)) | frozenset(text)
    places: list[str] = []
    if tender.country:
        places.append(fold(tender.country))
    if tender.region:
        region = fold(tender.region)
        places += [region[:i] for i in range(1, len(region) + 1)]
    codes = tuple(fold(c).replace(" ", "") for c in tender.categories)
    prefixes: set[str] = set()
    for code in codes:
        bare = code.split(":", 1)[-1]
        prefixes.update(code[:i] for i in range(1, len(code) + 1))
        prefixes.update(bare[:i] for i in range(1, len(bare) + 1))
    buyer_core = normalise(tender.buyer.name).core if tender.buyer is not None else None
    return Prepared(
        text=text, words=frozenset(word_list), word_list=word_list, grams=grams, buyer_core=buyer_core or None,
        places=tuple(dict.fromkeys(places)), codes=codes, code_prefixes=frozenset(prefixes),
        value=tender.value, currency=tender.currency,
    )


def _keyword_hit(k: Keyword, p: Prepared) -> bool:
    return k.text in p.text if k.cjk else p.has_phrase(k.words)


def buyer_score(a: str, b: str) -> float:
    """Similarity of two normalised buyer cores, 0..100 (``fuzz.ratio``: equal cores score 100)."""
    from rapidfuzz import fuzz

    return fuzz.ratio(a, b)


def matches(c: Criteria, p: Prepared) -> bool:
    """The definition of a match (see the module docstring)."""
    if c.include and not any(_keyword_hit(k, p) for k in c.include):
        return False
    if c.exclude and any(_keyword_hit(k, p) for k in c.exclude):
        return False
    if c.categories and not any(pre in p.code_prefixes for pre in c.categories):
        return False
    if c.regions and not any(r in p.places for r in c.regions):
        return False
    if c.buyers:
        if p.buyer_core is None or not any(buyer_score(b, p.buyer_core) >= BUYER_MIN_SCORE for b in c.buyers):
            return False
    if (c.value_min is not None or c.value_max is not None) and p.value is not None:
        if p.currency != c.currency:
            return False
        if c.value_min is not None and p.value < c.value_min:
            return False
        if c.value_max is not None and p.value > c.value_max:
            return False
    return True


def naive_match(subscriptions: Iterable[Criteria], p: Prepared) -> set[str]:
    """Every subscription, one by one: the reference the index must agree with."""
    return {c.id for c in subscriptions if matches(c, p)}


def _grams(text: str) -> set[tuple[str, int]]:
    """Bigrams with their occurrence number, so that set intersections count repeated bigrams."""
    seen: dict[str, int] = {}
    out = set()
    for i in range(len(text) - 1):
        g = text[i:i + 2]
        seen[g] = seen.get(g, 0) + 1
        out.add((g, seen[g]))
    return out


class BuyerBlocker:
    """Finds every key with ``buyer_score(key, query) >= BUYER_MIN_SCORE`` without scoring them all.

    Count filter: a ratio of at least 0.9 means an LCS of at least 0.45 (la + lb) characters and
    lengths within a factor 0.818 of each other; each character outside the LCS breaks at most one of
    the LCS's adjacent pairs, so the two strings share at least ``0.35 (la + lb) - 1 >= 0.636 la - 1``
    bigram occurrences. Keys sharing fewer are skipped; the rest are scored exactly.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        # Postings per key length, so a query reads only keys of a compatible length.
        self._by_len: dict[int, dict[tuple[str, int], list[str]]] = defaultdict(lambda: defaultdict(list))
        self._freq: dict[tuple[str, int], int] = defaultdict(int)
        self._short: dict[int, list[str]] = defaultdict(list)
        for key in keys:
            if len(key) < 6:
                self._short[len(key)].append(key)
            for g in _grams(key):
                self._by_len[len(key)][g].append(key)
                self._freq[g] += 1

    def near(self, query: str) -> list[str]:
        """Keys scoring at least ``BUYER_MIN_SCORE`` against ``query`` (exactly those)."""
        grams = sorted(_grams(query), key=lambda g: self._freq.get(g, 0))
        need = max(0, int(0.6 * len(query) - 1))  # a little under the bound, for float safety
        # Prefix filter: a key sharing >= need of the query's grams shares at least one of any
        # (len(grams) - need + 1) of them; taking the rarest keeps the unions small.
        take = grams[: len(grams) - need + 1] if need else grams
        # Lengths within a factor 9/11 of each other: necessary for a 0.9 ratio.
        lo, hi = math.floor(len(query) * 9 / 11), math.ceil(len(query) * 11 / 9)
        pool: set[str] = set()
        for length in range(lo, hi + 1):
            postings = self._by_len.get(length)
            if postings:
                for g in take:
                    found = postings.get(g)
                    if found:
                        pool.update(found)
            if length in self._short and len(query) <= 8:
                pool.update(self._short[length])  # short keys may share no bigram with a short query
        if not pool:
            return []
        from rapidfuzz import fuzz, process

        # One C call scores the pool with the same scorer and cut-off as ``buyer_score``.
        return [k for k, _score, _i in process.extract(query, list(pool), scorer=fuzz.ratio,
                                                        score_cutoff=BUYER_MIN_SCORE, limit=None)]


class SubscriptionIndex:
    """Inverted lists over the subscriptions' anchor criteria; see the module docstring.

    Args:
        subscriptions: compiled subscriptions.
        version: the subscriptions-table version it was built at (for the cache check).
    """

    def __init__(self, subscriptions: Iterable[Criteria], version: int = 0) -> None:
        self.version = version
        self.by_id: dict[str, Criteria] = {}
        self._words: dict[str, list[Criteria]] = defaultdict(list)
        self._grams: dict[str, list[Criteria]] = defaultdict(list)
        self._codes: dict[str, list[Criteria]] = defaultdict(list)
        self._buyers: dict[str, list[Criteria]] = defaultdict(list)
        self._places: dict[str, list[Criteria]] = defaultdict(list)
        self._always: list[Criteria] = []
        for c in subscriptions:
            self.by_id[c.id] = c
            if c.include:
                for k in c.include:
                    (self._grams if k.cjk else self._words)[k.anchor()].append(c)
            elif c.categories:
                for pre in c.categories:
                    self._codes[pre].append(c)
            elif c.buyers:
                for b in c.buyers:
                    self._buyers[b].append(c)
            elif c.regions:
                for r in c.regions:
                    self._places[r].append(c)
            else:
                self._always.append(c)  # not creatable through the API; kept correct anyway
        self._buyer_block = BuyerBlocker(self._buyers)

    def __len__(self) -> int:
        return len(self.by_id)

    def candidates(self, p: Prepared) -> dict[str, Criteria]:
        """Subscriptions whose anchor criterion the tender satisfies (a superset of the matches)."""
        found: dict[str, Criteria] = {}

        def add(items: list[Criteria] | None) -> None:
            if items:
                for c in items:
                    found[c.id] = c

        words, grams = self._words, self._grams
        for w in p.words:
            if w in words:
                add(words[w])
        if len(grams) < len(p.grams):
            for g, subs in grams.items():
                if g in p.grams:
                    add(subs)
        else:
            for g in p.grams:
                if g in grams:
                    add(grams[g])
        for pre in p.code_prefixes:
            if pre in self._codes:
                add(self._codes[pre])
        for place in p.places:
            if place in self._places:
                add(self._places[place])
        if p.buyer_core and self._buyers:
            for key in self._buyer_block.near(p.buyer_core):
                add(self._buyers[key])
        add(self._always)
        return found

    def match(self, p: Prepared) -> set[str]:
        """Ids of the subscriptions the tender matches."""
        return {cid for cid, c in self.candidates(p).items() if matches(c, p)}
