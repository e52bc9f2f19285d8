"""Candidate selection over a blocking index, and scoring of the candidates. Pure.

The same plan drives the DynamoDB index (``store.dedup``) and the in-process ``BlockingIndex`` (used by
the evaluation CLI and the benchmark), so what the benchmark measures is what production does:

1. Exact keys (registry id, name key, website domain, contact email/phone) are looked up first. If any
   is known, its customers are the candidates and nothing fuzzy is read (the short-circuit).
2. Otherwise the query's blocking keys (``dedup_keys.blocking_keys``, at most ``MAX_QUERY_KEYS``) have
   their frequency marks read (one head item per key: ``count_mark``, 1 for up to three customers, then
   the power of two at or below the count, ``FULL`` past the cap — so a key's mark changes 7 times in
   its life, not once per customer), and posting lists are read rarest first while the postings actually
   read stay within ``POSTING_BUDGET`` (``read_plan``): the cap on a key is what the rarer keys left of
   the budget, so a query made only of fairly common words still reads its rarest one, and a name with
   rare keys does not spend its budget on common ones. A key held by more customers than the whole
   budget does not discriminate and is never read (it is marked ``FULL`` and gets no more postings).
3. Customers are ranked by the keys they share with the query, each key weighted by its rarity, ties
   broken by a cheap string similarity of the comparison forms (rapidfuzz ``ratio``), and the best
   ``TOP_CANDIDATES`` are scored with rapidfuzz (``dedup_rules.name_score``).

Reads per check are therefore bounded by ``MAX_QUERY_KEYS + POSTING_BUDGET`` (plus at most
``EXACT_LIMIT`` per exact key), whatever the size of the table.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.dedup_keys import NameForms, blocking_keys, name_forms
from chalicelib.domain.dedup_rules import MatchRules, RuleHit, evaluate, name_score, same_name

__all__ = [
    "EXACT_LIMIT", "FULL", "MAX_POSTINGS", "MAX_QUERY_KEYS", "POSTING_BUDGET", "STORED_KEY_LIMIT", "TOP_CANDIDATES",
    "BlockingIndex", "Match", "count_mark", "index_keys", "mark_bound", "query_keys", "rank",
    "read_plan", "score_candidates", "stored_keys",
]

POSTING_BUDGET = 150
MAX_POSTINGS = POSTING_BUDGET  # a key carried by more customers than the budget can never be read
MAX_QUERY_KEYS = 40
TOP_CANDIDATES = 30
EXACT_LIMIT = 10
INDEX_KEY_LIMIT = MAX_QUERY_KEYS  # blocking keys stored per customer (fewer than a check of the name reads)
# All keys of one customer name (each is one posting write when the key is not full).
STORED_KEY_LIMIT = 49
_FIRST_MARK = 4  # marks: 1 (one to three customers), 4, 8, … 128, FULL
FULL = MAX_POSTINGS + 1  # the mark of a key carried by more customers than MAX_POSTINGS: never read, never written


def count_mark(n: int) -> int:
    """The frequency mark a key's head records for ``n`` customers: 1 for one to three, then the power of
    two at or below ``n``, ``FULL`` past ``MAX_POSTINGS``. Coarse on purpose: the mark is rewritten only
    when it changes (at 4, 8 … 128 and past the cap: 7 writes in a key's life, not one per customer);
    the postings read give the exact count of a list (``read_plan``)."""
    if n > MAX_POSTINGS:
        return FULL
    if n < _FIRST_MARK:
        return min(max(n, 0), 1)
    return 1 << (n.bit_length() - 1)


def mark_bound(mark: int) -> int:
    """The most customers a key with this mark can carry (``FULL`` for a full key)."""
    if mark >= FULL:
        return FULL
    if mark <= 1:
        return max(mark, 0) * (_FIRST_MARK - 1)
    return min(2 * mark - 1, MAX_POSTINGS)


def read_plan(keys: Sequence[str], marks: Mapping[str, int], fetch: Callable[[str, int], list[str]],
              *, budget: int = POSTING_BUDGET) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Read posting lists rarest first (by mark), the postings read staying within ``budget``.

    A key whose mark alone exceeds what is left of the budget is skipped (it carries at least that many);
    otherwise ``fetch(key, limit)`` reads at most ``limit`` postings: the mark's bound, or what is left of
    the budget. A list that filled a limit below its bound may be longer: it is dropped, as the plan skips
    a key that does not fit, but its reads count.

    Returns:
        The whole lists read (key -> refs) and their exact lengths (for ``rank``).
    """
    lists: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    spent = 0
    for mark, key in sorted((marks.get(k, 0), k) for k in dict.fromkeys(keys) if 0 < marks.get(k, 0) < FULL):
        room = budget - spent
        if mark > room:
            continue
        limit = min(mark_bound(mark), room)
        refs = fetch(key, limit)
        spent += len(refs)
        if refs and (len(refs) < limit or limit == mark_bound(mark)):
            lists[key] = refs
            counts[key] = len(refs)
    return lists, counts


def query_keys(forms: NameForms, limit: int = MAX_QUERY_KEYS, *, stored: bool = False) -> list[str]:
    """The blocking keys a check reads marks for (with ``stored``, the keys a customer is indexed under).

    When there are more than ``limit``, a check keeps the keys the same name is stored under first (so a
    check always reads every key its own name is stored under), then the other non-trigram keys, then
    trigrams spread evenly over the name; in the order ``blocking_keys`` gives them."""
    keys = blocking_keys(forms, query=not stored)
    if len(keys) <= limit:
        return keys
    own = set(keys) if stored else set(blocking_keys(forms))
    first = [k for k in keys if k in own]
    strong = [k for k in keys if k not in own and not k.startswith("t:")]
    trigrams = [k for k in keys if k not in own and k.startswith("t:")]
    chosen = (first + strong)[:limit]
    room = limit - len(chosen)
    if room > 0 and trigrams:
        step = len(trigrams) / room
        chosen += [trigrams[int(i * step)] for i in range(min(room, len(trigrams)))]
    keep = set(chosen)
    return [k for k in keys if k in keep]


def index_keys(forms: NameForms) -> list[str]:
    """The blocking keys a customer name is indexed under (each one a check of the same name reads too)."""
    return query_keys(forms, INDEX_KEY_LIMIT, stored=True)


def stored_keys(forms: NameForms, exact: Iterable[str]) -> list[str]:
    """Every key one customer name is stored under: its exact keys (``x:``) first, then its blocking keys,
    at most ``STORED_KEY_LIMIT``. The DynamoDB index and the in-process index both use this."""
    return list(dict.fromkeys([f"x:{k}" for k in exact] + index_keys(forms)))[:STORED_KEY_LIMIT]


def rank(postings: Mapping[str, Iterable[str]], counts: Mapping[str, int], limit: int = TOP_CANDIDATES, *,
         query: str = "", compacts: Mapping[str, str] | None = None) -> list[str]:
    """Customers ranked by the rarity-weighted number of keys they share with the query (best first).

    Args:
        postings: the posting lists read, by key.
        counts: key frequencies.
        limit: how many to return.
        query: the query's compact form; with ``compacts`` (ref -> compact form) it breaks ties by
            rapidfuzz ``ratio``, so among many customers sharing the same keys the closest names come first.
    """
    weight: dict[str, float] = {}
    for key, refs in postings.items():
        w = 1.0 / math.sqrt(max(1, counts.get(key, 1)))
        for ref in refs:
            weight[ref] = weight.get(ref, 0.0) + w
    if compacts is None or not query or len(weight) <= limit:
        return [ref for ref, _ in sorted(weight.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]
    from rapidfuzz.fuzz import ratio

    # Rounded so that float noise from summing the same weights in another order is still a tie.
    return sorted(weight, key=lambda r: (-round(weight[r], 9), -ratio(query, compacts.get(r, "")), r))[:limit]


@dataclass(frozen=True)
class Match:
    """One scored candidate."""

    ref: str
    name: str
    score: float
    hit: RuleHit | None
    keys: tuple[str, ...] = ()


def score_candidates(query: NameForms, query_exact: Iterable[str],
                     candidates: Iterable[tuple[str, str, Iterable[str], NameForms | None]],
                     rules: MatchRules) -> list[Match]:
    """Score candidates ``(ref, name, exact keys, forms or None)`` against the query and apply the rules.

    Returns:
        Matches sorted by rule strength, then score (best first), at most ``rules.max_candidates``;
        candidates that fire no rule and score below the rules' lowest fuzzy threshold are dropped.
    """
    from chalicelib.domain.dedup_rules import ACTION_STRENGTH

    query_exact = tuple(query_exact)
    out = []
    for ref, name, keys, forms in candidates:
        forms = forms or name_forms(name)
        score = name_score(query, forms)
        keys = tuple(keys)
        hit = evaluate(rules, score, query_exact, keys, names_equal=same_name(query, forms))
        if hit is None and score < rules.fuzzy_floor:
            continue
        out.append(Match(ref=ref, name=name, score=round(score, 1), hit=hit, keys=keys))
    out.sort(key=lambda m: (-(ACTION_STRENGTH[m.hit.action] if m.hit else 0), -m.score, m.ref))
    return out[: rules.max_candidates]


@dataclass
class BlockingIndex:
    """The blocking index in memory: the same keys, caps and plan as the DynamoDB index.

    Used by ``dealreg dedup eval`` and the benchmark. Customers are numbered in insertion order; ``refs``
    are those numbers as strings.
    """

    names: list[str] = field(default_factory=list)
    forms: list[NameForms] = field(default_factory=list)
    exact: list[tuple[str, ...]] = field(default_factory=list)
    postings: dict[str, list[int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, exact_keys: Iterable[str] = ()) -> int:
        """Index one customer; returns its number."""
        ref = len(self.names)
        forms = name_forms(name)
        self.names.append(name)
        self.forms.append(forms)
        exact = tuple(exact_keys)
        self.exact.append(exact)
        for key in stored_keys(forms, exact):
            count = self.counts.get(key, 0) + 1
            self.counts[key] = count
            if count <= MAX_POSTINGS:
                self.postings.setdefault(key, []).append(ref)
        return ref

    def _fetch(self, key: str, limit: int) -> list[str]:
        return [str(r) for r in self.postings.get(key, [])[:limit]]

    def candidates(self, forms: NameForms, exact_keys: Iterable[str] = (),
                   limit: int = TOP_CANDIDATES) -> tuple[list[int], int]:
        """Candidate numbers for a query, and how many index items the plan reads in DynamoDB (a head per
        key asked for, which carries its first posting, and the other postings read)."""
        exact = [f"x:{k}" for k in exact_keys]
        read = len(exact)
        found = {k: self.postings.get(k, [])[:EXACT_LIMIT] for k in exact if self.counts.get(k)}
        if found:
            read += sum(len(v) - 1 for v in found.values())
            refs = list(dict.fromkeys(r for v in found.values() for r in v))
            return refs[:limit], read
        keys = query_keys(forms)
        read += len(keys)
        marks = {k: count_mark(self.counts[k]) for k in keys if k in self.counts}
        fetched: list[int] = []

        def fetch(key: str, limit: int) -> list[str]:
            refs = self._fetch(key, limit)
            fetched.append(len(refs))
            return refs

        lists, counts = read_plan(keys, marks, fetch)
        read += sum(max(0, n - 1) for n in fetched)
        candidates = {r for v in lists.values() for r in v}
        ranked = rank(lists, counts, limit, query=forms.compact,
                      compacts={r: self.forms[int(r)].compact for r in candidates})
        return [int(r) for r in ranked], read

    def search(self, name: str, rules: MatchRules, exact_keys: Iterable[str] = ()) -> list[Match]:
        """Candidates for ``name``, scored and judged by ``rules``."""
        forms = name_forms(name)
        exact_keys = tuple(exact_keys)
        refs, _ = self.candidates(forms, exact_keys)
        return score_candidates(forms, exact_keys,
                                ((str(r), self.names[r], self.exact[r], self.forms[r]) for r in refs), rules)

    def score_pair(self, ref: int, forms: NameForms) -> float:
        """The name score of a stored customer against query forms (no re-normalisation)."""
        return name_score(forms, self.forms[ref])
