"""Which subscriptions does a tender match? One predicate, and an index that finds the same answer fast.

``matches(criteria, prepared)`` is the definition. ``naive_match`` applies it to every subscription;
``SubscriptionIndex.match`` applies it only to *candidates*, and returns exactly the same set
(tests/unit/domain/test_tender_matching.py checks both on the corpus), because each subscription is filed
under one *anchor* criterion that every match must satisfy:

- include keywords (first choice): under each keyword's pattern. Two Aho-Corasick automata (pyahocorasick)
  hold every keyword of every subscription, so a tender's text is scanned once, not once per keyword: CJK
  keywords are searched in the folded text (a substring, no segmentation), word keywords as
  `` w1 w2 `` in the tender's words joined by single spaces (a whole-word phrase). The set of keywords
  found then answers include and exclude for every candidate without scanning again;
- else category prefixes: under the prefix; a tender looks up every prefix of each of its codes;
- else buyers: under the normalised buyer core; a tender finds the cores within the fuzzy cut-off through
  ``BuyerBlocker`` (a pigeonhole filter, then the same rapidfuzz scorer), so fuzzy scoring touches only
  the few plausible names;
- else regions: under the region text; a tender looks up its country and every prefix of its region.

Value range, region and buyer filters that are not a subscription's anchor run only on its candidates.

Matching rules (case-insensitive, NFKC-folded): keywords are matched in the title and the first
``MATCH_TEXT_CHARS`` characters of the text; a keyword with any CJK character is a substring (no word
segmentation), any other keyword is a whole-word phrase. Buyers match when the normalised cores
(``domain.names``, the dedup normalisation) are equal or ``fuzz.ratio`` >= ``BUYER_MIN_SCORE``. A value
range excludes a tender only when the tender states a value: in another currency, or outside the range.

Only opportunities alert: ``alertable`` is true for planning and open notices and false for awards,
corrections, closed and cancelled processes (``schemas.tender.ALERTABLE_STATUSES``), whatever matches.

Where the index lives: in the memory of the function that polls (``services/tenders.py``), rebuilt from
the subscriptions table when the table's version counter (bumped in the same transaction as every
subscription write) differs from the one the cached index was built at.
"""
from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_left, bisect_right
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
    """A compiled keyword: CJK substring or word phrase.

    ``pattern`` is what the index's automata search: the CJK text, or the words between single spaces.
    """

    text: str  # folded
    cjk: bool
    words: tuple[str, ...]
    pattern: str

    @classmethod
    def compile(cls, raw: str) -> Keyword | None:
        text = fold(raw)
        if any(_is_cjk(c) for c in text):
            return cls(text=text, cjk=True, words=(), pattern=text)
        words = tuple(_WORD.findall(text))
        return cls(text=text, cjk=False, words=words, pattern=f" {' '.join(words)} ") if words else None


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
    # Derived once, so the index tests keyword hits with one set operation per subscription.
    include_patterns: frozenset[str] = field(init=False, repr=False, compare=False)
    exclude_patterns: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "include_patterns", frozenset(k.pattern for k in self.include))
        object.__setattr__(self, "exclude_patterns", frozenset(k.pattern for k in self.exclude))

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
    buyer_core: str | None
    places: tuple[str, ...]  # folded country and every prefix of the folded region
    place_set: frozenset[str]
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
    from chalicelib.domain.names import normalise
    from connectors.formats.sanitize import html_to_text

    body = html_to_text(tender.text)[:MATCH_TEXT_CHARS] if tender.text else ""
    text = fold(f"{tender.title}\n{body}")
    word_list = _WORD.findall(text)
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
        text=text, words=frozenset(word_list), word_list=word_list, buyer_core=buyer_core or None,
        places=tuple(dict.fromkeys(places)), place_set=frozenset(places), codes=codes, code_prefixes=frozenset(prefixes),
        value=tender.value, currency=tender.currency,
    )


def _keyword_hit(k: Keyword, p: Prepared) -> bool:
    return k.text in p.text if k.cjk else p.has_phrase(k.words)


def buyer_score(a: str, b: str) -> float:
    """Similarity of two normalised buyer cores, 0..100 (``fuzz.ratio``: equal cores score 100)."""
    from rapidfuzz import fuzz

    return fuzz.ratio(a, b)


def alertable(tender: Any) -> bool:
    """Whether a new tender may raise alerts: only a planned or open process is an opportunity."""
    from schemas.tender import ALERTABLE_STATUSES

    return tender.status in ALERTABLE_STATUSES


def matches(c: Criteria, p: Prepared, hits: set[str] | frozenset[str] | None = None) -> bool:
    """The definition of a match (see the module docstring).

    Args:
        c: the subscription.
        p: the tender.
        hits: the patterns of the keywords found in ``p`` by the index's automata (which hold every
            keyword of ``c``); ``None`` checks each keyword against the text instead (the naive loop).
    """
    if hits is None:
        if c.include and not any(_keyword_hit(k, p) for k in c.include):
            return False
        if c.exclude and any(_keyword_hit(k, p) for k in c.exclude):
            return False
    else:
        if c.include and hits.isdisjoint(c.include_patterns):
            return False
        if c.exclude and not hits.isdisjoint(c.exclude_patterns):
            return False
    if c.categories and p.code_prefixes.isdisjoint(c.categories):
        return False
    if c.regions and p.place_set.isdisjoint(c.regions):
        return False
    if c.buyers and (p.buyer_core is None
                     or not any(buyer_score(b, p.buyer_core) >= BUYER_MIN_SCORE for b in c.buyers)):
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


def _as_bytes(text: str) -> str:
    """UTF-8 bytes as a latin-1 string, for the CJK automaton.

    An automaton over thousands of distinct CJK first characters searches a huge root fan-out at every
    character of the text (measured: 2.6 ms per tender at 100k subscriptions); over UTF-8 bytes each node
    has at most 256 children (measured: 4 us). A substring of UTF-8 bytes that starts and ends on
    characters is the same substring of characters (UTF-8 is self-synchronising), so the hits are the same.
    """
    return text.encode("utf-8").decode("latin-1")


class BuyerBlocker:
    """Finds every key with ``buyer_score(key, query) >= BUYER_MIN_SCORE`` without scoring them all.

    ``fuzz.ratio`` is the Indel similarity: ``100 * (1 - d / (la + lb))`` with ``d`` insertions and
    deletions. A ratio of at least 90 needs lengths within a factor 9/11 and ``d <= 0.1 (la + lb)``.
    Pigeonhole: cut the query into ``d + 1`` disjoint pieces; each edit breaks at most one piece, so at
    least one piece survives whole and the key contains it (and every window of it). The key index maps
    every 2- to 4-character window of every key to its keys; a query looks up, for each piece, its rarest
    window, and scores only the keys of a compatible length found (same scorer and cut-off as the
    predicate); postings are sorted by key length, so that range is two bisections, not a filter. Queries
    too short to cut into pieces of two characters score every key of a compatible length (few are short).
    """

    MIN_WINDOW, MAX_WINDOW = 2, 4

    def __init__(self, keys: Iterable[str]) -> None:
        self._windows: dict[str, list[str]] = defaultdict(list)
        self._by_len: dict[int, list[str]] = defaultdict(list)
        sizes = range(self.MIN_WINDOW, self.MAX_WINDOW + 1)
        for key in sorted(dict.fromkeys(keys), key=len):  # shortest first: every posting sorted by length
            self._by_len[len(key)].append(key)
            for window in {key[i:i + size] for size in sizes for i in range(len(key) - size + 1)}:
                self._windows[window].append(key)

    def near(self, query: str) -> list[str]:
        """Keys scoring at least ``BUYER_MIN_SCORE`` against ``query`` (exactly those)."""
        lb = len(query)
        lo, hi = math.floor(lb * 9 / 11), math.ceil(lb * 11 / 9)
        # One edit more than the cut-off allows, so float rounding at exactly 90 cannot lose a key.
        pieces = math.floor(0.1 * (lb + hi)) + 2
        pool: set[str] = set()
        if lb < pieces * self.MIN_WINDOW:
            for length in range(lo, hi + 1):
                pool.update(self._by_len.get(length, ()))
        else:
            windows = self._windows
            for n in range(pieces):
                piece = query[n * lb // pieces:(n + 1) * lb // pieces]
                size = min(len(piece), self.MAX_WINDOW)
                best: list[str] | None = None
                for i in range(len(piece) - size + 1):
                    found = windows.get(piece[i:i + size])
                    if found is None:
                        best = None
                        break  # no key holds this window: no key keeps this piece whole
                    if best is None or len(found) < len(best):
                        best = found
                else:
                    if best:
                        pool.update(best[bisect_left(best, lo, key=len):bisect_right(best, hi, key=len)])
        if not pool:
            return []
        from rapidfuzz import fuzz, process

        # One C call scores the pool with the same scorer and cut-off as ``buyer_score``.
        return [k for k, _score, _i in process.extract(query, list(pool), scorer=fuzz.ratio,
                                                        score_cutoff=BUYER_MIN_SCORE, limit=None)]


class SubscriptionIndex:
    """Keyword automata and inverted lists over the subscriptions' anchor criteria; see the module docstring.

    Args:
        subscriptions: compiled subscriptions.
        version: the subscriptions-table version it was built at (for the cache check).
    """

    def __init__(self, subscriptions: Iterable[Criteria], version: int = 0) -> None:
        import gc

        # The build makes about a million small objects and no reference cycles: cyclic collections
        # triggered meanwhile would walk them all again and again (measured: build time x2.5 at 100k).
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(subscriptions, version)
        finally:
            if enabled:
                gc.enable()

    def _build(self, subscriptions: Iterable[Criteria], version: int) -> None:
        import ahocorasick

        self.version = version
        self.by_id: dict[str, Criteria] = {}
        # Each anchor maps to {subscription id: criteria}: candidates are merged with dict.update (in C).
        self._keywords: dict[str, dict[str, Criteria]] = defaultdict(dict)
        self._codes: dict[str, dict[str, Criteria]] = defaultdict(dict)
        self._buyers: dict[str, dict[str, Criteria]] = defaultdict(dict)
        self._places: dict[str, dict[str, Criteria]] = defaultdict(dict)
        self._always: dict[str, Criteria] = {}
        cjk, words = ahocorasick.Automaton(), ahocorasick.Automaton()
        patterns: set[str] = set()
        for c in subscriptions:
            self.by_id[c.id] = c
            for k in (*c.include, *c.exclude):
                if k.pattern not in patterns:
                    patterns.add(k.pattern)
                    if k.cjk:
                        cjk.add_word(_as_bytes(k.pattern), k.pattern)
                    else:
                        words.add_word(k.pattern, k.pattern)
            if c.include:
                for pattern in c.include_patterns:
                    self._keywords[pattern][c.id] = c
            elif c.categories:
                for pre in c.categories:
                    self._codes[pre][c.id] = c
            elif c.buyers:
                for b in c.buyers:
                    self._buyers[b][c.id] = c
            elif c.regions:
                for r in c.regions:
                    self._places[r][c.id] = c
            else:
                self._always[c.id] = c  # not creatable through the API; kept correct anyway
        self._cjk = self._words = None
        if len(cjk):
            cjk.make_automaton()
            self._cjk = cjk
        if len(words):
            words.make_automaton()
            self._words = words
        self._buyer_block = BuyerBlocker(self._buyers)

    def __len__(self) -> int:
        return len(self.by_id)

    def keyword_hits(self, p: Prepared) -> set[str]:
        """Patterns of every indexed keyword the tender contains (one pass of each automaton)."""
        hits: set[str] = set()
        if self._cjk is not None:
            hits.update(pattern for _end, pattern in self._cjk.iter(_as_bytes(p.text)))
        if self._words is not None:
            hits.update(pattern for _end, pattern in self._words.iter(f" {' '.join(p.word_list)} "))
        return hits

    def candidates(self, p: Prepared, hits: set[str] | None = None) -> dict[str, Criteria]:
        """Subscriptions whose anchor criterion the tender satisfies (a superset of the matches)."""
        found: dict[str, Criteria] = {}
        keywords, codes, places, buyers = self._keywords, self._codes, self._places, self._buyers
        for pattern in self.keyword_hits(p) if hits is None else hits:
            if pattern in keywords:
                found.update(keywords[pattern])
        if codes:
            for pre in p.code_prefixes:
                if pre in codes:
                    found.update(codes[pre])
        if places:
            for place in p.places:
                if place in places:
                    found.update(places[place])
        if p.buyer_core and buyers:
            for key in self._buyer_block.near(p.buyer_core):
                found.update(buyers[key])
        found.update(self._always)
        return found

    def match(self, p: Prepared) -> set[str]:
        """Ids of the subscriptions the tender matches."""
        hits = self.keyword_hits(p)
        return {cid for cid, c in self.candidates(p, hits).items() if matches(c, p, hits)}
