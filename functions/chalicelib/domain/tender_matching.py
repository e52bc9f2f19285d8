"""Which subscriptions does a tender match? One predicate, and an index that finds the same answer fast.

``matches(criteria, prepared)`` is the definition. ``naive_match`` applies it to every subscription;
``SubscriptionIndex.match`` applies it only to *candidates*, and returns exactly the same set
(tests/unit/domain/test_tender_matching.py checks both on the corpus), because each subscription is filed
under one *anchor* criterion that every match must satisfy:

- include keywords (first choice): under each keyword's pattern. Two Aho-Corasick automata (pyahocorasick)
  hold every keyword of every subscription, so a tender's text is scanned once, not once per keyword: CJK
  keywords are searched in the folded text (a substring, no segmentation), phrases of two words or more as
  `` w1 w2 `` in the tender's words joined by single spaces (a whole-word phrase); one-word keywords are
  looked up by the tender's words in a dict. The set of keywords found then answers include and exclude
  for every candidate without scanning again;
- else category prefixes: under the prefix; a tender looks up every prefix of each of its codes;
- else buyers: under the normalised buyer core; a tender finds the cores within the fuzzy cut-off through
  ``BuyerBlocker`` (a pigeonhole filter, then the same rapidfuzz scorer), so fuzzy scoring touches only
  the few plausible names;
- else regions: under the region text; a tender looks up its country and every prefix of its region.

Value range, region and buyer filters that are not a subscription's anchor run only on its candidates;
a subscription whose anchor is its only criterion (most) is a match as soon as it is found, unchecked.

Matching rules (case-insensitive, NFKC-folded): keywords are matched in the title and the first
``MATCH_TEXT_CHARS`` characters of the text; a keyword with any CJK character is a substring (no word
segmentation), any other keyword is a whole-word phrase. Buyers match when the normalised cores
(``domain.names``, the dedup normalisation) are equal or ``fuzz.ratio`` >= ``BUYER_MIN_SCORE``. A value
range excludes a tender only when the tender states a value: in another currency, or outside the range.

Only opportunities alert: ``alertable`` is true for planning and open notices and false for awards,
corrections, closed and cancelled processes (``schemas.tender.ALERTABLE_STATUSES``), whatever matches.

Where the index lives: in the memory of the function that polls (``services/tenders.py``), loaded from a
persisted snapshot plus the change log after it and kept current by applying the log's changes in place
(``SubscriptionIndex.apply``); subscriptions reach it already compiled (``Criteria.to_row``, written by the
API with each change), so loading neither validates nor normalises anything. See docs/ARCHITECTURE.md.
"""
from __future__ import annotations

import marshal
import re
import sys
import unicodedata
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any, NamedTuple

MATCH_TEXT_CHARS = 4000
BUYER_MIN_SCORE = 90.0
_WORD = re.compile(r"[^\W_]+")
_CJK_CHAR = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]")  # ``_is_cjk``


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x3400 <= o <= 0x9FFF) or (0xF900 <= o <= 0xFAFF) or (0x20000 <= o <= 0x3134F) or (0x3040 <= o <= 0x30FF) or (0xAC00 <= o <= 0xD7AF)


def fold(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed to single spaces: ``" ".join(NFKC(text).casefold().split())``.

    ``str.split()`` splits on exactly the characters ``\\s`` matches (``str.isspace``; a test checks every
    code point), so this is ``re.sub(r"\\s+", " ", ...).strip()`` without a regex (issue 15 item 4: the regex
    was a quarter of ``prepare``). How: see ``_folded``.
    """
    return _folded(text)[0]


def fold_words(text: str) -> tuple[str, list[str]]:
    """``fold(text)`` and its words (``_WORD.findall``: the runs of letters and digits, ``str.isalnum``), sharing
    the passes over the text (``prepare``).

    The folded bytes (``_folded``) become the words' text by one more table pass: every ASCII character that is
    not a letter or digit becomes a space (``bytes.translate``; ``str.translate`` would look each character up
    in a dict), and each distinct character beyond ASCII is replaced by its folding with every character that
    is not a letter or digit a space (dashes, curly quotes, ideographic full stop...; issue 15 item 4, session 9:
    testing every part with ``isalnum`` and cutting the parts that failed cost ≈ 50k instructions per non-ASCII
    tender). No letter or digit is whitespace, so ``split`` then cuts exactly the runs of letters and digits.
    """
    folded, raw, beyond = _folded(text)
    if not beyond:
        return folded, raw.translate(_BYTE_NON_WORD).decode("ascii").split()
    wide = raw.translate(_BYTE_NON_WORD).decode("utf-8", "surrogatepass")
    for c in beyond:
        cut = _beyond(c)[1]
        if cut != c:
            wide = wide.replace(c, cut)
    return folded, wide.split()


def _folded(text: str) -> tuple[str, bytes, set[str]]:
    """``fold(text)``, the NFKC text's UTF-8 bytes with ASCII case folded and whitespace as spaces (not yet
    collapsed), and the distinct characters beyond ASCII in it (none for ASCII text).

    NFKC keeps every ASCII character and case folding is ``lower`` there (a test checks all 128): one table pass
    over the bytes folds ASCII text, and a text whose whitespace is then single spaces (most bodies are lines of
    single-spaced words) needs no split and join (issue 15 item 4, session 7: ≈ 40k instructions per tender).
    Beyond ASCII (session 9): the corpus' non-ASCII texts are ASCII but for ≈ 4 % of their characters (accents,
    dashes, quotes, a Cyrillic word), and ``casefold`` looked up the Unicode database for every character, then
    ``split`` + ``join`` copied the text twice (≈ 100k instructions per such tender). Case folding is per
    character (no context), so the same table pass folds the ASCII bytes and each distinct other character is
    replaced by its folding (``_beyond``), one ``replace`` each. Replacements run one after the other; they
    never rewrite each other's output because no character's folding holds a character that folding changes,
    and a character folds to whitespace exactly when it is whitespace (tests/unit/domain/test_prepare_fast.py
    checks both over every code point).

    NFKC itself (session 10): ``normalize`` first runs the quick check over the whole text (≈ 11k instructions
    for a 600-character text) and, when it answers YES (every character NFKC_QC=Yes, combining classes in order),
    hands back the text itself. ASCII characters always pass, so the text passes when its characters beyond
    ASCII pass, taken together in their order (two of them adjacent in the text are adjacent there too): that
    string is the bytes beyond ASCII, needed anyway for the distinct characters, and ``normalize`` hands it back
    itself exactly when it passes (a test checks every character). Otherwise the whole text is normalised.
    """
    if text.isascii():
        raw = text.encode("ascii").translate(_UTF8_FOLD)
        out = raw.decode("ascii")
        if b"  " in raw or raw[:1] == b" " or raw[-1:] == b" ":
            out = " ".join(out.split())
        return out, raw, set()
    raw = text.encode("utf-8", "surrogatepass")
    rest = raw.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
    if unicodedata.normalize("NFKC", rest) is not rest:  # the quick check fails: NFKC may change the text
        raw = unicodedata.normalize("NFKC", text).encode("utf-8", "surrogatepass")
        rest = raw.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
    beyond = set(rest)
    raw = raw.translate(_UTF8_FOLD)
    out = raw.decode("utf-8", "surrogatepass")
    for c in beyond:
        folded = _beyond(c)[0]
        if folded != c:
            out = out.replace(c, folded)
    if "  " in out or out[:1] == " " or out[-1:] == " ":
        out = " ".join(out.split())
    return out, raw, beyond


# For UTF-8 (or ASCII) text: an ASCII byte is case folded (``lower``) and whitespace becomes " "; the bytes of
# other characters (always >= 0x80) stay.
_UTF8_FOLD = bytes(b if b >= 0x80 else 0x20 if chr(b).isspace() else ord(chr(b).lower()) for b in range(256))
_ASCII_BYTES = bytes(range(0x80))  # deleted from UTF-8 bytes, they leave the characters beyond ASCII
# ``fold_words``: every byte of an ASCII character that is not a letter or a digit becomes a space; bytes of
# other characters (always >= 0x80 in UTF-8) stay.
_BYTE_NON_WORD = bytes(b if b >= 0x80 or chr(b).isalnum() else 0x20 for b in range(256))


@lru_cache(maxsize=8192)
def _beyond(c: str) -> tuple[str, str]:
    """What ``fold`` makes of a character beyond ASCII (its case folding; whitespace: a space), and what the
    words' text makes of that (each character that is not a letter or digit: a space). A feed's characters
    beyond ASCII repeat (é, —, ’...): each is looked at once."""
    folded = " " if c.isspace() else c.casefold()
    return folded, folded if folded.isalnum() else "".join([x if x.isalnum() else " " for x in folded])


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


ROW_FORMAT = 1  # the layout of ``Criteria.to_row`` (stored in the change log and the index snapshot)


def _intern_all(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sys.intern(v) for v in values)


class Criteria(NamedTuple):
    """A subscription compiled for matching: only what the predicate reads, already folded and normalised.

    A plain tuple (no per-object dict): 1M of them fit in a poller's memory. Keywords are kept as their
    patterns (``Keyword.pattern``): CJK text, or `` w1 w2 `` for a word phrase (the leading space tells
    which). ``to_row`` / ``from_row`` are the stored form (JSON), so loading an index never revalidates nor
    renormalises a subscription.
    """

    id: str
    rep_id: str
    delivery: str = "immediate"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # folded prefixes, with or without scheme
    regions: tuple[str, ...] = ()  # folded
    buyers: tuple[str, ...] = ()  # normalised cores
    value_min: Decimal | None = None
    value_max: Decimal | None = None
    currency: str | None = None

    @classmethod
    def from_subscription(cls, sub: Any) -> Criteria:
        """Compile a ``schemas.tender.Subscription``."""
        from chalicelib.domain.names import normalise

        def patterns(raw: Iterable[str]) -> tuple[str, ...]:
            return _intern_all(dict.fromkeys(k.pattern for k in (Keyword.compile(w) for w in raw) if k))

        return cls(
            id=sub.id,
            rep_id=sys.intern(sub.rep_id),
            delivery=sys.intern(str(sub.delivery)),
            include=patterns(sub.keywords.include),
            exclude=patterns(sub.keywords.exclude),
            categories=_intern_all(dict.fromkeys(fold(c).replace(" ", "") for c in sub.categories)),
            regions=_intern_all(dict.fromkeys(fold(r) for r in sub.regions)),
            buyers=_intern_all(dict.fromkeys(c for c in (normalise(b).core for b in sub.buyers) if c)),
            value_min=sub.value_min,
            value_max=sub.value_max,
            currency=sub.currency,
        )

    def to_row(self) -> list[Any]:
        """The stored form: a JSON array in field order, decimals as strings."""
        return [*self[:8], *(None if v is None else str(v) for v in self[8:10]), self.currency]

    @classmethod
    def from_row(cls, row: list[Any]) -> Criteria:
        """Inverse of ``to_row``; repeated strings (patterns, reps, regions...) are interned, once in memory."""
        i, rep, delivery, inc, exc, cats, regions, buyers, vmin, vmax, cur = row
        return cls(i, sys.intern(rep), sys.intern(delivery), _intern_all(inc), _intern_all(exc), _intern_all(cats),
                   _intern_all(regions), _intern_all(buyers), None if vmin is None else Decimal(vmin),
                   None if vmax is None else Decimal(vmax), None if cur is None else sys.intern(cur))

    def anchors(self) -> tuple[str, tuple[str, ...]]:
        """The criterion the index files this subscription under (see the module docstring)."""
        if self.include:
            return "keywords", self.include
        if self.categories:
            return "codes", self.categories
        if self.buyers:
            return "buyers", self.buyers
        if self.regions:
            return "places", self.regions
        return "always", ("",)


@dataclass(slots=True)
class Prepared:
    """A tender reduced to what matching reads; computed once per tender.

    ``words`` (the set of ``word_list``) is made on first use: the index never needs it (it looks the tender's
    words up in its one-word dict straight from ``word_list``), only the naive loop's ``has_phrase`` does
    (issue 15 item 4, session 7: building it was ≈ a tenth of ``prepare``). Equality compares the fields
    ``words`` is made from, not the cache."""

    text: str
    word_list: list[str]
    buyer_core: str | None
    places: tuple[str, ...]  # folded country and every prefix of the folded region
    place_set: frozenset[str]
    codes: tuple[str, ...]  # folded "scheme:code"
    code_prefixes: frozenset[str]
    value: Decimal | None
    currency: str | None
    _words: frozenset[str] | None = field(default=None, compare=False, repr=False)
    _positions: dict[str, list[int]] | None = field(default=None, compare=False, repr=False)

    @property
    def words(self) -> frozenset[str]:
        if self._words is None:
            self._words = frozenset(self.word_list)
        return self._words

    def has_phrase(self, words: tuple[str, ...]) -> bool:
        if words[0] not in self.words:
            return False
        if len(words) == 1:
            return True
        if self._positions is None:
            self._positions = {}
            for i, w in enumerate(self.word_list):
                self._positions.setdefault(w, []).append(i)
        n = len(words)
        return any(self.word_list[i:i + n] == list(words) for i in self._positions.get(words[0], ()))


@lru_cache(maxsize=1)
def _prepare_steps() -> tuple[Any, Any, Any]:
    """``names.normalise``, ``sanitize.visible_text`` and ``sanitize.collapsed_head``, imported on first use (a
    cold API function that only compiles subscriptions never loads them) and then kept: an ``import``
    statement inside a function costs ≈ 1–2 µs on every call in CPython 3.11 (its ``__spec__._initializing``
    check raises and formats an AttributeError each time), paid per tender (issue 15 item 4, session 7)."""
    from chalicelib.domain.names import normalise
    from connectors.formats.sanitize import collapsed_head, visible_text

    return normalise, visible_text, collapsed_head


@lru_cache(maxsize=1)
def _rapidfuzz() -> tuple[Any, Any, Any]:
    """``rapidfuzz.fuzz.ratio``, ``rapidfuzz.process.extract`` and ``rapidfuzz.distance.Indel.distance``, imported
    on first use and kept (see ``_prepare_steps``: no ``import`` statement per tender)."""
    from rapidfuzz import fuzz, process
    from rapidfuzz.distance import Indel

    return fuzz.ratio, process.extract, Indel.distance


def prepare(tender: Any) -> Prepared:
    """Reduce a ``schemas.tender.Tender`` for matching."""
    normalise, visible_text, collapsed_head = _prepare_steps()
    # The text is ``fold(title + "\n" + html_to_text(body)[:MATCH_TEXT_CHARS])``. ``html_to_text`` is
    # ``collapse(visible_text(...))``, and collapsing changes only whitespace runs (none vanishes between two
    # other characters), which ``fold`` collapses to single spaces anyway; it never lengthens the text. So a
    # visible text no longer than the cut gives the same ``fold`` without being collapsed first, and a
    # longer one is collapsed only as far as the cut (issue 15 item 4; tests/unit/domain/test_prepare_fast.py).
    body = visible_text(tender.text)  # "" for no text
    if len(body) > MATCH_TEXT_CHARS:
        body = collapsed_head(body, MATCH_TEXT_CHARS)
    text, word_list = fold_words(f"{tender.title}\n{body}")
    places, place_set = _places(tender.country or None, tender.region or None)
    categories = tender.categories
    if len(categories) == 1:  # most tenders: the cached code and prefixes as they are, not a copy
        code, code_prefixes = _code_prefixes(categories[0])
        codes: tuple[str, ...] = (code,)
    else:
        folded = list(map(_code_prefixes, categories))
        codes = tuple(map(itemgetter(0), folded))
        code_prefixes = frozenset().union(*map(itemgetter(1), folded))
    buyer = tender.buyer
    buyer_core = normalise(buyer.name).core if buyer is not None else None
    # Positional, in the order of the fields: a class called with keywords builds a dict of them (≈ 2k instructions).
    return Prepared(text, word_list, buyer_core or None, places, place_set, codes, code_prefixes, tender.value,
                    tender.currency)


@lru_cache(maxsize=1024)
def _places(country: str | None, region: str | None) -> tuple[tuple[str, ...], frozenset[str]]:
    """The folded country and every prefix of the folded region (``Prepared.places`` and ``place_set``);
    like categories, a feed's places repeat, so a recent pair is not folded and cut again."""
    places = [fold(country)] if country else []
    if region:
        folded = fold(region)
        places += [folded[:i] for i in range(1, len(folded) + 1)]
    return tuple(dict.fromkeys(places)), frozenset(places)


@lru_cache(maxsize=2048)
def _code_prefixes(category: str) -> tuple[str, frozenset[str]]:
    """A category folded (``scheme:code``, no spaces) and every prefix of it and of its bare code. Codes come
    from classifications (CPV, UNSPSC...) and repeat across a feed's tenders: the prefixes of a recent one are
    not cut again (issue 15 item 4: cutting them was a tenth of ``prepare``)."""
    code = fold(category).replace(" ", "")
    end = len(code)
    bare = code.find(":") + 1  # where the bare code starts (0: no scheme, the code is its own bare code)
    return code, frozenset([code[:i] for i in range(1, end + 1)] + [code[bare:i] for i in range(bare + 1, end + 1)])


def _keyword_hit(pattern: str, p: Prepared) -> bool:
    """A keyword given as its pattern: a word phrase starts with a space, anything else is CJK text."""
    return p.has_phrase(tuple(pattern.split())) if pattern[:1] == " " else pattern in p.text


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
        if c.include and hits.isdisjoint(c.include):
            return False
        if c.exclude and not hits.isdisjoint(c.exclude):
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


_BELOW_E3 = bytes(range(0xE3))  # UTF-8 bytes that cannot start a character from U+3000 up


def _may_hold_cjk(text: str) -> bool:
    """False when ``text`` certainly holds no CJK character (``_CJK_CHAR``), decided in C without a regex pass:
    every CJK character is at or above U+3040, so its UTF-8 form starts with a byte >= 0xE3; a text that is
    ASCII, or whose UTF-8 bytes are all below 0xE3 (``bytes.translate`` deleting them leaves nothing), has
    none. True only means the regex must look. The ``_CJK_CHAR`` scan it spares cost ~30 instructions per
    character, ~16k per tender (cachegrind at 100k subscriptions, session 6), for most tenders (no CJK)."""
    if text.isascii():
        return False
    return bool(text.encode("utf-8", "surrogatepass").translate(None, _BELOW_E3))


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
    Pieces need only be disjoint, not cover the query: when the equal pieces fall in a stretch many keys share
    (" council", "有限公司") and bring hundreds of keys, ``_rare_windows`` picks other disjoint windows, each held
    by few keys, and the smaller pool is scored (the same answer; fewer keys to collect and score).
    Most windows belong to one key (two thirds at 100k subscriptions): such a window maps to that key itself,
    not to a list of one (at 100k: 97k lists, ≈ 7 MB, fewer).

    A feed's buyers repeat (the same council, the same hospital): the answer for a query is kept (the last
    ``MEMO_SIZE`` queries) until keys are added, since an answer changes only then.
    """

    MIN_WINDOW, MAX_WINDOW = 2, 4
    MEMO_SIZE = 4096
    # When the pieces' postings hold more than ``RARE_OVER`` keys, other disjoint windows are looked for, each
    # held by at most one of ``RARE_LIMITS`` keys (the first that gives enough). Measured on the bench's 124
    # buyers at 100k subscriptions: pools 9,527 → 2,625 keys, 173k → 121k instructions per look-up.
    RARE_OVER = 400
    SCORE_EACH_UP_TO = 6  # pools of at most this many keys are scored key by key, larger ones by one ``extract``
    RARE_LIMITS = (32, 128, 256)

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._windows: dict[str, str | list[str]] = {}
        self._by_len: dict[int, list[str]] = {}
        self._known: set[str] = set()
        self._memo: dict[str, list[str]] = {}
        self.add(keys)

    def forget(self) -> None:
        """Drop the remembered answers (benchmarks: every query pays its first look-up again)."""
        self._memo.clear()

    @property
    def keys(self) -> set[str]:
        """The keys indexed (``near`` answers exactly, among these, the ones scoring high enough)."""
        return self._known

    def state(self) -> tuple[dict[str, str | list[str]], dict[int, list[str]]]:
        """What ``from_state`` takes back (plain dicts, lists and strings: the snapshot stores them as they are)."""
        return self._windows, self._by_len

    @classmethod
    def from_state(cls, windows: dict[str, str | list[str]], by_len: dict[int, list[str]]) -> BuyerBlocker:
        blocker = cls()
        blocker._windows, blocker._by_len = windows, by_len
        blocker._known = set().union(*by_len.values())
        return blocker

    def add(self, keys: Iterable[str]) -> None:
        """Index more keys (postings stay sorted by key length). Keys are never removed: a key nobody
        subscribes to any more only costs a look-up that finds no subscription."""
        new = sorted(set(keys) - self._known, key=len)  # shortest first: mostly appends
        if not new:
            return
        self._memo.clear()  # an answer may now hold one of the new keys
        longest = max((len(k) for k in self._known), default=0)
        self._known.update(new)
        windows, by_len, sizes = self._windows, self._by_len, range(self.MIN_WINDOW, self.MAX_WINDOW + 1)
        for key in new:
            by_len.setdefault(len(key), []).append(key)
            for window in {key[i:i + size] for size in sizes for i in range(len(key) - size + 1)}:
                held = windows.get(window)
                if held is None:
                    windows[window] = key
                elif isinstance(held, str):
                    windows[window] = [held, key] if len(held) <= len(key) else [key, held]
                elif len(key) >= longest:
                    held.append(key)
                else:  # a key shorter than ones already indexed (a change after the build)
                    insort(held, key, key=len)

    def near(self, query: str) -> list[str]:
        """Keys scoring at least ``BUYER_MIN_SCORE`` against ``query`` (exactly those)."""
        memo = self._memo
        found = memo.get(query)
        if found is None:
            if len(memo) >= self.MEMO_SIZE:
                del memo[next(iter(memo))]  # the oldest
            found = memo[query] = self._near(query)
        return found

    def _near(self, query: str) -> list[str]:
        lb = len(query)
        lo, hi, pieces = _SPANS[lb] if lb < _SPANS_UP_TO else _span(lb)
        if lb < pieces * 2:  # too short for pieces of ``MIN_WINDOW`` (2) characters
            pool: set[str] = set()
            for length in range(lo, hi + 1):
                pool.update(self._by_len.get(length, ()))
        else:
            get = self._windows.get
            found: list[Any] = []  # per piece, the keys of a compatible length holding its rarest window
            for n in range(pieces):
                a, b = n * lb // pieces, (n + 1) * lb // pieces
                if b - a <= 4:  # the piece is its one window (``MAX_WINDOW``: 4 characters)
                    best = get(query[a:b])
                else:
                    best = None
                    for i in range(a, b - 3):
                        held = get(query[i:i + 4])
                        if held is None or type(held) is str:  # no key / one key holds it: no rarer window
                            best = held
                            break
                        if best is None or len(held) < len(best):
                            best = held
                if best is not None:
                    found.append(_of_length(best, lo, hi))
            total = sum(map(len, found))
            if total > self.RARE_OVER:
                # A common stretch of the query (" council", "有限公司") is in every piece's postings that
                # falls in it; any ``pieces`` disjoint windows will do (the pigeonhole needs no more), so look
                # for windows that avoid it (issue 15 item 4, session 7).
                windows = _rare_windows(get, query, pieces, self.RARE_LIMITS)
                if windows is not None:
                    held_by = [get(query[a:a + size]) for a, size in windows]  # a window may be held by none
                    rare = [_of_length(h, lo, hi) for h in held_by if h is not None]
                    if sum(map(len, rare)) < total:
                        found = rare
            pool = set().union(*found)
        if not pool:
            return []
        ratio, extract, distance = _rapidfuzz()
        if len(pool) <= self.SCORE_EACH_UP_TO:
            # ``extract`` costs ≈ 20k instructions before it scores anything and ≈ 0.9k a key (callgrind, rapidfuzz
            # 3.13), and most pools hold a few keys (session 9: median 3.5 over the bench's buyers at 100k): those
            # are scored one by one by ``_close`` (≈ 2k a key; issue 15 item 4, session 10: 2 → 6 keys measured
            # best; ``bench.match_instructions``: buyer look-ups 87.7k → 85.6k per tender).
            return [k for k in pool if _close(distance, query, lb, k)]
        # One C call scores the pool with the same scorer and cut-off as ``buyer_score``.
        return [k for k, _score, _i in extract(query, list(pool), scorer=ratio, score_cutoff=BUYER_MIN_SCORE,
                                               limit=None)]


def _close(distance: Any, query: str, lb: int, key: str) -> bool:
    """``fuzz.ratio(query, key) >= BUYER_MIN_SCORE`` (``lb``: the query's length), from the Indel distance ``d``:
    ``ratio`` is ``100 (1 - d / (lb + lk))``, at least 90 exactly when ``10 d <= lb + lk`` (``ratio`` computes it in
    floats, and a quotient ``d / (lb + lk)`` other than 1/10 is at least ``1 / (10 (lb + lk))`` away from it;
    tests/unit/domain/test_tender_matching.py compares both for every total length up to 1,200 at every distance
    near the line). ``Indel.distance`` with that cut-off costs ≈ 2k instructions, ``ratio`` ≈ 6.6k (callgrind,
    rapidfuzz 3.13: its processor and float cut-off handling)."""
    edits = (lb + len(key)) // 10
    return distance(query, key, score_cutoff=edits) <= edits


def _span(lb: int) -> tuple[int, int, int]:
    """Key lengths ``lo``..``hi`` a query of ``lb`` characters can score 90 with (``floor(9 lb / 11)``,
    ``ceil(11 lb / 9)``), and the pieces to cut it into: at most ``edits = floor(0.1 (lb + hi) + 0.01)``
    (+ 0.01: a cut-off of exactly 90 computed as 89.999... loses no key), so ``edits + 1`` pieces leave one whole.
    In integers: ``9 lb / 11`` and ``11 lb / 9`` are integers or at least 1/11 from one, and
    ``(10 (lb + hi) + 1) / 100`` is at least 1/100 from one, so the float formulas (used up to session 8) give the
    same for every length (``test_buyer_spans_are_the_float_formulas``)."""
    hi = -(-11 * lb // 9)
    return 9 * lb // 11, hi, (10 * (lb + hi) + 1) // 100 + 1


# Looked up rather than computed per query (session 8: 3 float operations and 3 ``math`` calls per query).
_SPANS_UP_TO = 512
_SPANS = [_span(lb) for lb in range(_SPANS_UP_TO)]


def _of_length(held: str | list[str], lo: int, hi: int) -> Any:
    """The keys of a window's posting (one key, or a list sorted by length) with a length in [lo, hi]:
    at most the one bisection the range needs (none when the whole list, or none of it, is in range)."""
    if type(held) is str:
        return (held,) if lo <= len(held) <= hi else ()
    if len(held[0]) >= lo:
        if len(held[-1]) <= hi:  # every key of a compatible length: the list as it is
            return held
        return held[:bisect_right(held, hi, key=len)] if len(held[0]) <= hi else ()
    if len(held[-1]) < lo:
        return ()
    if len(held[-1]) <= hi:
        return held[bisect_left(held, lo, key=len):]
    return held[bisect_left(held, lo, key=len):bisect_right(held, hi, key=len)]


def _rare_windows(get: Any, query: str, count: int, limits: tuple[int, ...]) -> list[tuple[int, int]] | None:
    """``count`` disjoint windows of ``query`` (start, size; 2 to 4 characters), each held by at most ``limit``
    keys of the window map ``get`` for the first of ``limits`` that allows that many, or None.

    Earliest end first (of the windows ending at one place, the one with the fewest keys): the interval
    scheduling greedy, which finds ``count`` disjoint windows whenever that many exist among those allowed.
    Disjoint is all the pigeonhole needs: ``count`` = edits + 1, each edit breaks at most one window."""
    lb = len(query)
    held = [[0 if h is None else 1 if type(h) is str else len(h) for h in map(get, [query[a:a + size] for a in
                                                                                   range(lb - size + 1)])]
            for size in (2, 3, 4)]  # keys per window, by size then start: looked up once for every limit
    two, three, four = held
    for limit in limits:
        out: list[tuple[int, int]] = []
        start, end = 0, 2
        while end <= lb:
            best, fewest = -1, limit + 1
            a = end - 2
            if two[a] < fewest:
                best, fewest = a, two[a]
            a -= 1
            if a >= start:
                if three[a] < fewest:
                    best, fewest = a, three[a]
                a -= 1
                if a >= start and four[a] < fewest:
                    best, fewest = a, four[a]
            if best < 0:
                end += 1
                continue
            out.append((best, end - best))
            if len(out) == count:
                return out
            start, end = end, end + 2
    return None


_KINDS = ("keywords", "codes", "buyers", "places", "always")
_ALWAYS = ("",)
_PATTERN = itemgetter(1)


def decides_alone(c: Criteria) -> bool:
    """Whether the subscription's anchor criterion is its only criterion (no exclude, no value range, no
    second filter): then the tender satisfying the anchor is a match, and the index checks nothing else."""
    return (not c.exclude and c.value_min is None and c.value_max is None
            and (bool(c.include) + bool(c.categories) + bool(c.buyers) + bool(c.regions)) <= 1)


class SubscriptionIndex:
    """Keyword automata and inverted lists over the subscriptions' anchor criteria; see the module docstring.

    Built once from compiled subscriptions (or loaded as it is from a snapshot, ``decode_snapshot``), then kept
    up to date in place by ``apply`` (the change log's puts and deletes), so a warm poller never rebuilds it.

    Each anchor key has two postings (one value when a single subscription has it, else a list; no
    per-subscription object): ``_sure`` holds the *ids* of the subscriptions the anchor decides alone
    (``decides_alone``: most of them), added to the result as they are found, with no check at all;
    ``_check`` holds the others as plain tuples (``tuple(c)``: the fields of their ``Criteria``, one tuple per
    subscription shared by its keys), which the rest of the predicate is run on: CPython 3.11 unpacks an exact
    tuple in its fast path and a tuple subclass through an iterator (≈ 420 against ≈ 1,020 instructions for 11
    fields; issue 15 item 4, session 10: match 282.6k → 267.8k instructions per tender, −5.2 %, for one more tuple per
    checked subscription).

    Args:
        subscriptions: compiled subscriptions.
        version: the subscriptions-table version it holds (for the cache check).
        epoch: the table's epoch (``store.tenders.IndexState``), so a recreated table is never mistaken.
    """

    def __init__(self, subscriptions: Iterable[Criteria] = (), version: int = 0, epoch: str = "") -> None:
        import ahocorasick

        self.version = version
        self.epoch = epoch
        self.by_id: dict[str, Criteria] = {}
        self._sure: dict[str, dict[str, str | list[str]]] = {kind: {} for kind in _KINDS}
        self._check: dict[str, dict[str, tuple[Any, ...] | list[tuple[Any, ...]]]] = {kind: {} for kind in _KINDS}
        self._cjk: Any = ahocorasick.Automaton()
        self._words: Any = ahocorasick.Automaton()  # phrases of two words or more
        self._single: dict[str, str] = {}  # one-word keywords: the word -> its pattern
        self._buyer_block = BuyerBlocker()
        # Every category prefix a subscription was ever anchored on (grows only: a key whose postings are gone
        # costs one look-up that finds nothing). A tender brings ≈ 30 code prefixes (every prefix of each code,
        # with and without its scheme), few of them anyone's anchor: one C intersection with this set leaves the
        # few to look up in both tables (issue 15 item 4, session 8: two ``dict.get`` per prefix before).
        self._code_keys: set[str] = set()
        # Likewise every place someone was anchored on: a tender brings its country and every prefix of its
        # region (≈ 5), one intersection leaves the few to look up (session 8: ≈ 2k instructions per tender).
        self._place_keys: set[str] = set()
        self.apply(subscriptions, version)

    def __len__(self) -> int:
        return len(self.by_id)

    def __iter__(self) -> Iterator[Criteria]:
        return iter(self.by_id.values())

    def forget(self) -> None:
        """Drop what matching remembers between tenders (``BuyerBlocker.near``'s answers): benchmarks call
        it so that each pass pays every look-up once again."""
        self._buyer_block.forget()

    def apply(self, changes: Iterable[Criteria | str], version: int) -> None:
        """Apply changes in order — a ``Criteria`` adds or replaces that subscription, a ``str`` removes that id
        (an absent one is ignored) — and mark the index at ``version``.

        Idempotent: replaying a change the index already holds leaves it as it is, so a snapshot taken while
        writes went on is brought up to date by replaying the log from the snapshot's version.
        """
        import gc

        import ahocorasick

        # Building makes many small objects and no reference cycles: cyclic collections triggered meanwhile
        # would walk them all again and again (measured: build time x2.5 at 100k).
        enabled = gc.isenabled()
        gc.disable()
        try:
            buyers: set[str] = set()
            for change in changes:
                if type(change) is str:
                    self._remove(change)
                else:
                    self._add(change, buyers)  # type: ignore[arg-type]
            self._buyer_block.add(buyers)
            for automaton in (self._cjk, self._words):
                # Adding a word turns a built automaton back into a trie: build it again, once per batch.
                if len(automaton) and automaton.kind != ahocorasick.AHOCORASICK:
                    automaton.make_automaton()
            self.version = version
        finally:
            if enabled:
                gc.enable()

    def _add(self, c: Criteria, buyers: set[str]) -> None:
        if c.id in self.by_id:
            self._remove(c.id)
        self.by_id[c.id] = c
        for patterns in (c.include, c.exclude):
            for pattern in patterns:
                if pattern[:1] == " ":
                    if pattern.find(" ", 1) == len(pattern) - 1:  # one word: a set look-up, no automaton
                        self._single[pattern[1:-1]] = pattern
                    elif pattern not in self._words:
                        self._words.add_word(pattern, pattern)
                else:
                    key = _as_bytes(pattern)
                    if key not in self._cjk:
                        self._cjk.add_word(key, pattern)
        kind, keys = c.anchors()
        alone = decides_alone(c)
        postings: dict[str, Any] = (self._sure if alone else self._check)[kind]
        value = c.id if alone else tuple(c)
        for key in keys:
            held = postings.get(key)
            if held is None:
                postings[key] = value
            elif type(held) is list:
                held.append(value)
            else:
                postings[key] = [held, value]
        if kind == "buyers":
            buyers.update(keys)
        elif kind == "codes":
            self._code_keys.update(keys)
        elif kind == "places":
            self._place_keys.update(keys)

    def _remove(self, sub_id: str) -> None:
        c = self.by_id.pop(sub_id, None)
        if c is None:
            return
        kind, keys = c.anchors()
        alone = decides_alone(c)
        postings: dict[str, Any] = (self._sure if alone else self._check)[kind]
        for key in keys:
            held = postings.get(key)
            if type(held) is list:
                held[:] = [x for x in held if (x if alone else x[0]) != sub_id]
                if len(held) == 1:
                    postings[key] = held[0]
            elif held is not None and (held if alone else held[0]) == sub_id:
                del postings[key]
        # Its keywords stay in the automata: a pattern nobody holds any more is found and ignored.

    def keyword_hits(self, p: Prepared) -> set[str]:
        """Patterns of every indexed keyword the tender contains (one pass of each automaton)."""
        hits: set[str] = set()
        # A CJK keyword holds a CJK character (``Keyword.compile``): a text without one holds none of them.
        text = p.text
        if len(self._cjk) and _may_hold_cjk(text) and _CJK_CHAR.search(text):
            hits.update(map(_PATTERN, self._cjk.iter(_as_bytes(text))))
        if self._single:
            single = self._single
            hits.update(map(single.__getitem__, single.keys() & p.word_list))  # iterates the tender's words
        if len(self._words):
            hits.update(map(_PATTERN, self._words.iter(f" {' '.join(p.word_list)} ")))
        return hits

    def _anchor_keys(self, p: Prepared, hits: set[str]) -> tuple[tuple[str, Iterable[str]], ...]:
        """Per kind of anchor, the keys the tender satisfies."""
        buyers = self._sure["buyers"] or self._check["buyers"]
        near = self._buyer_block.near(p.buyer_core) if p.buyer_core and buyers else ()
        codes = self._code_keys.intersection(p.code_prefixes)
        places = self._place_keys.intersection(p.place_set)
        return (("keywords", hits), ("codes", codes), ("places", places), ("buyers", near), ("always", _ALWAYS))

    def match(self, p: Prepared) -> set[str]:
        """Ids of the subscriptions the tender matches: ``matches(c, p)`` for the subscriptions whose anchor the
        tender satisfies (the candidates, a superset of the matches), with those their anchor decides alone
        taken without a check and the rest checked in line."""
        hits = self.keyword_hits(p)
        out: set[str] = set()
        checks: list[Any] = []  # checked subscriptions (plain tuples of their fields)
        add, update, append, extend = out.add, out.update, checks.append, checks.extend
        sure, check = self._sure, self._check
        anchors = self._anchor_keys(p, hits)
        for kind, keys in anchors:
            if not keys:  # no code, place or buyer key (a quarter, half and a tenth of the bench's tenders)
                continue
            table: dict[str, Any] = sure[kind]
            if table:
                for held in filter(None, map(table.get, keys)):
                    if type(held) is str:
                        add(held)
                    else:
                        update(held)
            table = check[kind]
            if table:
                for held in filter(None, map(table.get, keys)):
                    if type(held) is list:
                        extend(held)
                    else:
                        append(held)
        if checks:
            near = anchors[3][1]  # a list when the blocker was asked (it keeps keys no subscription anchors on)
            _check_all(checks, p, hits, add, near, self._buyer_block.keys if type(near) is list else frozenset())
        return out

    # -- the persisted form ----------------------------------------------------------------------------

    def to_payload(self) -> tuple[Any, ...]:
        """The index as plain tuples, lists, dicts and strings (``marshal``-able), what ``from_payload`` takes
        back building nothing but the two automata: the subscriptions as columns (one list per field of
        ``Criteria.to_row``), the postings (sure ones
        as ids, checked ones as row numbers), the automata's patterns, the one-word keywords' dict and the
        buyer blocker's windows. Strings repeated across them are the same objects, stored once."""
        crits = list(self.by_id.values())
        # ``Criteria.to_row`` as columns, not rows: a row would be loaded as an 11-tuple then replaced by a
        # ``Criteria``, one size class larger (a tuple subclass is allocated with one spare slot), so the
        # freed rows' memory would stay with the allocator, unused (at 1M: ≈ 130 MB of RSS; session 6). The
        # strings are the very objects the postings and the automata hold (an id in its column and in the
        # sure postings, a pattern in every subscription that has it and in the automata): marshal stores
        # each once. Equal tuples of criteria (the same regions, the same excluded words...) are made one
        # object too, so the loaded subscriptions share them (at 100k: 43k of 142k tuples were copies).
        shared: dict[Any, Any] = {(): ()}
        one = shared.setdefault
        columns: list[list[Any]] = [[c[i] for c in crits] for i in range(3)]
        columns += [[one(c[i], c[i]) for c in crits] for i in range(3, 8)]
        columns += [[None if c[i] is None else str(c[i]) for c in crits] for i in (8, 9)]
        columns.append([c.currency for c in crits])
        slot = {c.id: i for i, c in enumerate(crits)}

        def sure(held: Any) -> Any:
            return held if type(held) is str else list(held)

        def check(held: Any) -> Any:
            return [slot[x[0]] for x in held] if type(held) is list else slot[held[0]]

        cjk: dict[str, None] = {}
        phrases: dict[str, None] = {}
        single: dict[str, str] = {}
        for c in crits:  # only the patterns someone holds (the live automata may keep removed ones)
            for pattern in (*c.include, *c.exclude):
                if pattern[:1] != " ":
                    cjk[pattern] = None
                elif pattern.find(" ", 1) == len(pattern) - 1:
                    single[pattern[1:-1]] = pattern
                else:
                    phrases[pattern] = None
        windows, by_len = self._buyer_block.state()
        # The automata are built again from their patterns at load. Their pickled form (pyahocorasick's
        # ``__reduce__``) loads in 0.1 s instead of 0.28 s at 100k, but is 9 MB more to read: measured through
        # botocore, the read cost more CPU than the build saves (bench/RESULTS.md, session 6).
        return (INDEX_FORMAT, columns,
                {kind: {k: sure(v) for k, v in table.items()} for kind, table in self._sure.items()},
                {kind: {k: check(v) for k, v in table.items()} for kind, table in self._check.items()},
                list(cjk), list(phrases), single, windows, by_len)

    @classmethod
    def from_payload(cls, payload: list[Any], version: int = 0, epoch: str = "") -> SubscriptionIndex:
        """The index ``to_payload`` describes (given as a list, which this empties): columns zipped into
        ``Criteria`` (decimals parsed, equal ones shared), checked postings pointed at them, the automata
        built from their patterns; postings and windows used as they are. Row numbers become ``Criteria``
        in place. Format 2 (rows, not columns; every buyer window a list) is read too."""
        import ahocorasick

        fmt, crits, sure, check, cjk, phrases, single, windows, by_len = payload
        payload.clear()
        if fmt not in (INDEX_FORMAT, 2):
            raise ValueError(f"index payload format {fmt} is not {INDEX_FORMAT}")
        crits = _criteria(fmt, crits)
        index = cls.__new__(cls)
        index.version, index.epoch = version, epoch
        index.by_id = {c.id: c for c in crits}
        index._sure = sure
        _rows_to_tuples(check, crits)
        del crits
        index._check = check
        index._single = single
        for name, patterns, key in (("_cjk", cjk, _as_bytes), ("_words", phrases, None)):
            automaton = ahocorasick.Automaton()
            add = automaton.add_word
            for pattern in patterns:
                add(pattern if key is None else key(pattern), pattern)
            if len(automaton):
                automaton.make_automaton()
            setattr(index, name, automaton)
        index._buyer_block = BuyerBlocker.from_state(windows, by_len)
        index._code_keys = set(sure["codes"]).union(check["codes"])
        index._place_keys = set(sure["places"]).union(check["places"])
        return index


def _rows_to_tuples(check: dict[str, dict[str, Any]], crits: list[Criteria]) -> None:
    """Replace the row numbers in the checked postings of a snapshot by the fields of those rows' ``Criteria`` as
    plain tuples (see ``SubscriptionIndex``), one tuple per subscription shared by all its keys."""
    made: list[tuple[Any, ...] | None] = [None] * len(crits)

    def plain(row: int) -> tuple[Any, ...]:
        t = made[row]
        if t is None:
            t = made[row] = tuple(crits[row])
        return t

    for table in check.values():
        for key, held in table.items():
            if type(held) is list:
                held[:] = map(plain, held)
            else:
                table[key] = plain(held)


def _criteria(fmt: int, stored: list[Any]) -> list[Criteria]:
    """The subscriptions of an index payload: format 3's columns zipped (emptied), format 2's rows replaced in
    place; decimals parsed, equal ones one object."""
    decimals: dict[str, Decimal] = {}

    def decimal(v: str) -> Decimal:
        d = decimals.get(v)
        if d is None:
            d = decimals[v] = Decimal(v)
        return d

    make = Criteria._make
    if fmt == INDEX_FORMAT:
        for column in stored[8:10]:
            for i, v in enumerate(column):
                if v is not None:
                    column[i] = decimal(v)
        crits = list(map(make, zip(*stored, strict=True))) if stored[0] else []
        stored.clear()
        return crits
    for i, r in enumerate(stored):
        if r[8] is None and r[9] is None:
            stored[i] = make(r)
        else:
            stored[i] = make((*r[:8], None if r[8] is None else decimal(r[8]),
                              None if r[9] is None else decimal(r[9]), r[10]))
    return stored


def _check_all(checks: list[tuple[Any, ...]], p: Prepared, hits: set[str], add: Any, near: Iterable[str] = (),
               blocked: set[str] | frozenset[str] = frozenset()) -> None:
    """``add(c.id)`` for each of ``checks`` (the candidates ``SubscriptionIndex.match`` gathered) that matches:
    ``matches(c, p, hits)`` in line (one call per tender,
    not per subscription; tests/unit/domain/test_tender_matching.py checks the results are the same). Each
    candidate (the fields of a ``Criteria`` as a plain tuple, see ``SubscriptionIndex``) is unpacked in one step
    (a named field is a descriptor call; at ~24 candidates per tender the field reads were a third of this loop).

    ``near`` is the buyer blocker's answer for the tender's buyer core (exactly the keys of ``blocked``, the
    blocker's keys, that score at least ``BUYER_MIN_SCORE`` against it; ``fuzz.ratio`` is symmetric): a buyer
    criterion among the blocker's keys is decided by that answer, and only the others are scored (one
    ``fuzz.ratio`` call costs ≈ 3k instructions by session 7's count, ≈ 6.6k by session 10's; issue 15 item 4)."""
    ratio = _rapidfuzz()[0]
    prefixes, places, core, value, currency = p.code_prefixes, p.place_set, p.buyer_core, p.value, p.currency
    disjoint = hits.isdisjoint
    # A candidate's anchor criterion is not tested again (issue 15 item 4, session 8): it is a candidate only through
    # a posting of one of its own anchor keys that the tender satisfies (``Criteria.anchors``: keywords first, then
    # categories, buyers, regions), so that criterion holds. Include keywords are always the anchor when present;
    # categories only when there are no include keywords; and so on. ≈ 25 set tests per tender (≈ 15k instructions);
    # tests/unit/domain/test_tender_matching.py fails if an anchor is tested again.
    for sub_id, _rep, _delivery, include, exclude, categories, regions, buyers, vmin, vmax, cur in checks:
        if exclude and not disjoint(exclude):
            continue
        if categories and include and prefixes.isdisjoint(categories):
            continue
        if regions and (include or categories or buyers) and places.isdisjoint(regions):
            continue
        if buyers and (include or categories) and (
                core is None or not any(b in near if b in blocked else ratio(b, core) >= BUYER_MIN_SCORE for b in buyers)):
            continue
        if value is not None and (vmin is not None or vmax is not None):
            if currency != cur:
                continue
            if vmin is not None and value < vmin:
                continue
            if vmax is not None and value > vmax:
                continue
        add(sub_id)


# -- the persisted snapshot (issue 15) -------------------------------------------------------------------

# The index itself (``SubscriptionIndex.to_payload``) as one ``marshal`` blob, zlib-compressed and cut into
# chunks of at most ``CHUNK_BYTES`` (a DynamoDB item holds 400 KB), read back in order: marshal loads plain
# tuples, lists, dicts and strings in C and keeps one copy of a string however often it is referenced, so a
# cold poller loads the postings and the buyer blocker as they were, instead of building them. marshal's
# format belongs to the Python version, which is why it is in the name: a snapshot of an unknown format is
# not read but rebuilt from a Scan (``services.tenders``). The format before this one (``ROWS_FORMAT``: the
# rows alone, in independent chunks) is still read (``decode_chunk``), and replaced by a snapshot of this one;
# so is format 2 (``INDEX2_FORMAT``: every buyer window a list; code that knows only 2 rebuilds from a Scan on
# a snapshot of 3 instead of misreading it).
INDEX_FORMAT = 3  # the layout of ``SubscriptionIndex.to_payload``
_PY = f"marshal{marshal.version}-py{sys.version_info[0]}.{sys.version_info[1]}-zlib"
SNAPSHOT_FORMAT = f"index{INDEX_FORMAT}-rows{ROW_FORMAT}-{_PY}"
INDEX2_FORMAT = f"index2-rows{ROW_FORMAT}-{_PY}"
ROWS_FORMAT = f"rows{ROW_FORMAT}-{_PY}"
READABLE_FORMATS = (SNAPSHOT_FORMAT, INDEX2_FORMAT, ROWS_FORMAT)
CHUNK_BYTES = 350_000  # compressed bytes per chunk: a DynamoDB item holds 400 KB


def encode_snapshot(subscriptions: SubscriptionIndex | Iterable[Criteria]) -> list[bytes]:
    """The snapshot chunks of this index (or of an index of these subscriptions), each at most ``CHUNK_BYTES``,
    to be read back in order (``decode_snapshot``)."""
    import zlib

    index = subscriptions if isinstance(subscriptions, SubscriptionIndex) else SubscriptionIndex(subscriptions)
    blob = zlib.compress(marshal.dumps(index.to_payload()), 6)  # read at every cold start: small beats fast
    return [blob[i:i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [blob]


def decode_snapshot(chunks: Iterable[bytes], fmt: str = SNAPSHOT_FORMAT, version: int = 0,
                    epoch: str = "") -> SubscriptionIndex:
    """The index a snapshot of a readable format holds (its chunks in order), at ``version``."""
    import gc
    import zlib

    enabled = gc.isenabled()
    gc.disable()  # many objects, no cycles (see ``SubscriptionIndex.apply``)
    try:
        if fmt == ROWS_FORMAT:
            return SubscriptionIndex((c for blob in chunks for c in decode_chunk(blob)), version=version, epoch=epoch)
        if fmt not in (SNAPSHOT_FORMAT, INDEX2_FORMAT):
            raise ValueError(f"snapshot format {fmt} is not readable (readable: {', '.join(READABLE_FORMATS)})")
        inflate = zlib.decompressobj()
        data = bytearray()
        for blob in chunks:
            data += inflate.decompress(blob)
        data += inflate.flush()
        payload = list(marshal.loads(data))
        del data
        return SubscriptionIndex.from_payload(payload, version=version, epoch=epoch)
    finally:
        if enabled:
            gc.enable()


def decode_chunk(blob: bytes) -> list[Criteria]:
    """The subscriptions of one chunk of a ``ROWS_FORMAT`` snapshot (the format before ``SNAPSHOT_FORMAT``)."""
    import zlib

    make, from_row = Criteria._make, Criteria.from_row
    return [make(r) if r[8] is None and r[9] is None else from_row(r) for r in marshal.loads(zlib.decompress(blob))]
