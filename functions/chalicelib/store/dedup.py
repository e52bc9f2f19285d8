"""The dedup blocking index in DynamoDB (the verdicts: ``store.dedup_verdicts``). Never scans on a request path; every read is bounded.

The plan (which keys, which posting lists, how many) is ``chalicelib.domain.dedup_match``'s; this module
only carries it out against the ``dedup_index`` table (see ``models.DedupIndexItem``). A blocking key's
posting list is one partition of the base table: its *head* (``sk = "#"``) carries the key's frequency mark
(``dedup_match.count_mark``) and the posting of the first customer that carried the key; every later
customer is one posting ``sk = "<customer key>"``. A marker per customer name records that it is indexed.

Writes are idempotent puts, not transactions: a new key is one conditional put of its head, a known key one
posting (BatchWriteItem), a full key nothing; the mark is rewritten only when it changes, from the posting
list's length counted after the posting is written (so a redelivery, or two consumers at once, never
double-count: the count is of distinct postings, and a mark only ever rises). See ``index_customer``.

Indexes written before heads existed (a counter item ``#n|<key>`` per key) are converted by
``migrate_counters`` (``dealreg dedup migrate-index``); their postings and markers are already in this layout.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.dedup_keys import NameForms
from chalicelib.domain.dedup_match import (
    EXACT_LIMIT,
    FULL,
    MAX_POSTINGS,
    TOP_CANDIDATES,
    count_mark,
    mark_bound,
    query_keys,
    rank,
    read_plan,
    stored_keys,
)
from chalicelib.domain.dedup_verdict import Holding
from chalicelib.store.models import DedupIndexItem, RegistrationItem

_OLD_COUNTER = "#n|"  # the layout before heads: one counter item per key (see migrate_counters)
_MARKER = "#doc|"
_HEAD = "#"  # the sort key of a key's head and of a marker; customer keys ("uscc:…", "name:…") sort after it
HOLDINGS_PER_CUSTOMER = 20
CUSTOMERS_WITH_HOLDINGS = 5


def _conditional_failed(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _heads(pks: Sequence[str], *, consistent: bool = False) -> dict[str, DedupIndexItem]:
    """The items ``(pk, "#")`` that exist (heads of keys, markers), by pk: one BatchGetItem."""
    return {item.pk: item for item in DedupIndexItem.batch_get([(pk, _HEAD) for pk in dict.fromkeys(pks)],
                                                               consistent_read=consistent)}


@dataclass(frozen=True)
class Heads:
    """Heads read once, consistently, for a judgement and the indexing after it (``judging_heads``): the
    candidates' exact and query keys and the customer's marker and stored keys, so the two read one
    BatchGetItem instead of one each (issue 15 item 1). A pk outside ``read`` is read when asked for."""

    read: frozenset[str]
    found: dict[str, DedupIndexItem]

    def get(self, pks: Sequence[str]) -> dict[str, DedupIndexItem]:
        missing = [pk for pk in pks if pk not in self.read]
        got = {pk: self.found[pk] for pk in pks if pk in self.found}
        if missing:
            got.update(_heads(missing, consistent=True))
        return got


def judging_heads(customer_key: str, forms: NameForms, exact: Sequence[str]) -> Heads:
    """One consistent BatchGetItem of every head that ``candidates`` and then ``index_customer`` read for this
    customer name. Reading them before the verdict is stored, instead of just before indexing, changes no
    race: a key created meanwhile makes the conditional head put fail (its head is read back), postings and
    the marker are idempotent puts, and marks are counted after posting."""
    pks = list(dict.fromkeys([_marker_pk(customer_key, forms), *stored_keys(forms, exact),
                              *(f"x:{k}" for k in exact), *query_keys(forms)]))
    return Heads(frozenset(pks), _heads(pks, consistent=True))


def _marker_pk(customer_key: str, forms: NameForms) -> str:
    return f"{_MARKER}{customer_key}|{forms.compact}"


def _posting_count(key: str, head: DedupIndexItem | None) -> int:
    """How many customers carry ``key`` (up to just past the cap): the head's own posting plus the others,
    counted by one strongly consistent Query of the partition (Select COUNT, at most ``FULL`` items)."""
    inline = 1 if head is not None and head.ref else 0
    return inline + DedupIndexItem.count(key, DedupIndexItem.sk > _HEAD, consistent_read=True, limit=FULL)


def _raise_mark(key: str, mark: int) -> None:
    """Set the key's mark to ``mark`` unless it is already that high (marks only rise: idempotent, and two
    consumers raising it at once both leave the higher one)."""
    try:
        DedupIndexItem(key, _HEAD).update(actions=[DedupIndexItem.n.set(mark)],
                                          condition=DedupIndexItem.pk.does_not_exist() | (DedupIndexItem.n < mark))
    except UpdateError as exc:
        if not _conditional_failed(exc):
            raise


def _claim_head(key: str, customer_key: str, posting: dict) -> DedupIndexItem | None:
    """Create the head of a new key carrying this customer's posting. Returns None when it did, else the
    head another consumer created first (read back consistently)."""
    try:
        DedupIndexItem(key, _HEAD, n=1, ref=customer_key, **posting).save(condition=DedupIndexItem.pk.does_not_exist())
        return None
    except PutError as exc:
        if not _conditional_failed(exc):
            raise
    return _heads([key], consistent=True)[key]


def index_customer(customer_key: str, name: str, forms: NameForms, exact: Sequence[str], *, now: datetime,
                   heads: Heads | None = None) -> bool:
    """Add one customer name to the index under its exact and blocking keys (``dedup_match.stored_keys``).

    Per key: a new key gets its head (a conditional put: of two consumers, one creates it, the other
    posts), a known key one posting (BatchWriteItem, unprocessed items resent), a full key (``FULL``)
    nothing; then, for the keys posted to, the list is counted and the mark raised if it changed. The
    marker is written last, so a redelivery after a crash redoes the idempotent rest, and a redelivery
    after success writes nothing. No transaction, no counter: the counts are the postings' own.

    ``heads``: the heads already read by ``judging_heads`` for this name (else read here, one BatchGetItem).

    Returns:
        False when this customer name was already indexed.
    """
    keys = stored_keys(forms, exact)
    marker = _marker_pk(customer_key, forms)
    heads = heads.get([marker, *keys]) if heads is not None else _heads([marker, *keys], consistent=True)
    if marker in heads:
        return False
    posting = {"name": name, "core": forms.compact, "keys": list(exact), "created_at": now}
    posted: list[tuple[str, DedupIndexItem]] = []
    for key in keys:
        head = heads.get(key)
        if head is None:
            head = _claim_head(key, customer_key, posting)
            if head is None:
                continue  # the new head carries this customer; its mark is 1
        if head.ref != customer_key and (head.n or 0) < FULL:
            posted.append((key, head))
    if posted:
        with DedupIndexItem.batch_write() as batch:
            for key, _ in posted:
                batch.save(DedupIndexItem(key, customer_key, **posting))
        for key, head in posted:
            mark = count_mark(_posting_count(key, head))
            if mark > (head.n or 0):
                _raise_mark(key, mark)
    DedupIndexItem(marker, _HEAD, created_at=now).save()
    return True


def load_empty_index(customers: Iterable[tuple[str, str, NameForms, Sequence[str]]], *, now: datetime) -> int:
    """Bulk-load an EMPTY index with BatchWriteItem: the items ``index_customer`` would leave for
    ``(customer key, name, forms, exact keys)`` indexed one by one, in that order.

    Only for a table no one else writes to (a first load, a benchmark). Returns the number of items written.
    """
    counts: dict[str, int] = {}
    firsts: dict[str, tuple[str, dict]] = {}
    written = 0
    with DedupIndexItem.batch_write() as batch:
        for customer_key, name, forms, exact in customers:
            posting = {"name": name, "core": forms.compact, "keys": list(exact), "created_at": now}
            for key in stored_keys(forms, exact):
                before = counts.get(key, 0)
                counts[key] = before + 1
                if before == 0:
                    firsts[key] = (customer_key, posting)
                elif before <= MAX_POSTINGS:  # one by one, the customer that makes a key full still posts
                    batch.save(DedupIndexItem(key, customer_key, **posting))
                    written += 1
            batch.save(DedupIndexItem(_marker_pk(customer_key, forms), _HEAD, created_at=now))
            written += 1
        for key, n in counts.items():
            ref, posting = firsts[key]
            batch.save(DedupIndexItem(key, _HEAD, n=count_mark(n), ref=ref, **posting))
            written += 1
    return written


def migrate_counters() -> int:
    """Convert an index written before heads (issue 15 item 5): each counter ``#n|<key>`` becomes the mark
    of the head ``(<key>, "#")`` (created without a posting of its own when absent; a head a new consumer
    already made keeps its posting), then the counter is deleted. The postings and markers need nothing.

    A one-off operator command (``dealreg dedup migrate-index``), the one Scan of this table; safe to rerun
    and to run while consumers write (marks only rise). Returns the number of counters converted.
    """
    done = 0
    for old in DedupIndexItem.scan(DedupIndexItem.pk.startswith(_OLD_COUNTER)):
        key = old.pk[len(_OLD_COUNTER):]
        head = _heads([key], consistent=True).get(key)
        # the old counter kept counting past the cap, the stored postings did not: take the larger
        _raise_mark(key, count_mark(max(int(old.n or 0), _posting_count(key, head))))
        old.delete()
        done += 1
    return done


@dataclass(frozen=True)
class Candidate:
    ref: str
    name: str
    keys: tuple[str, ...]


def _reader(seen: dict[str, DedupIndexItem], heads: dict[str, DedupIndexItem]):
    """``fetch(key, limit)`` for ``dedup_match.read_plan``: the head's own posting, then at most the rest of
    ``limit`` postings by one Query of the key's partition (none when the head's posting is all its mark allows)."""
    def fetch(key: str, limit: int) -> list[str]:
        head = heads[key]
        items = [head] if head.ref else []
        rest = limit - len(items)
        if rest > 0 and mark_bound(int(head.n or 0)) > len(items):
            items += list(DedupIndexItem.query(key, DedupIndexItem.sk > _HEAD, limit=rest, consistent_read=False))
        refs = []
        for item in items:
            ref = item.ref if item.sk == _HEAD else item.sk
            seen.setdefault(ref, item)
            refs.append(ref)
        return refs
    return fetch


def candidates(forms: NameForms, exact: Sequence[str], *, heads: Heads | None = None) -> list[Candidate]:
    """Candidate customers for a name and its exact keys, by the plan of ``dedup_match``.

    Reads: the heads of the exact keys and of at most ``MAX_QUERY_KEYS`` blocking keys (one BatchGetItem
    each; a head carries its key's mark and first posting), then the other postings of the lists chosen
    (one Query of one partition each, none for a key with one customer) — at most ``EXACT_LIMIT`` per known
    exact key (and then nothing fuzzy), else at most ``POSTING_BUDGET`` postings in total. ``heads``: the
    heads ``judging_heads`` read (then no BatchGetItem here).
    """
    read = heads.get if heads is not None else _heads
    seen: dict[str, DedupIndexItem] = {}
    exact_keys = [f"x:{k}" for k in exact]
    if exact_keys:
        found = read(exact_keys)
        fetch = _reader(seen, found)
        for key in exact_keys:
            if key in found:
                fetch(key, EXACT_LIMIT)
        if seen:
            return [_candidate(ref, item) for ref, item in list(seen.items())[:TOP_CANDIDATES]]
    keys = query_keys(forms)
    found = read(keys) if keys else {}
    marks = {k: int(h.n or 0) for k, h in found.items()}
    lists, counts = read_plan(keys, marks, _reader(seen, found))
    compacts = {ref: item.core or "" for ref, item in seen.items()}
    return [_candidate(r, seen[r]) for r in rank(lists, counts, query=forms.compact, compacts=compacts)]


def _candidate(ref: str, item: DedupIndexItem) -> Candidate:
    return Candidate(ref, item.name or "", tuple(item.keys or ()))


def holdings(customer_keys: Iterable[str]) -> dict[str, list[Holding]]:
    """The newest registrations of each customer (at most ``HOLDINGS_PER_CUSTOMER`` of the first
    ``CUSTOMERS_WITH_HOLDINGS`` customers), through ``ByCustomerIndex``."""
    out: dict[str, list[Holding]] = {}
    for key in list(dict.fromkeys(customer_keys))[:CUSTOMERS_WITH_HOLDINGS]:
        items = RegistrationItem.by_customer.query(key, scan_index_forward=False, limit=HOLDINGS_PER_CUSTOMER)
        out[key] = [
            Holding(id=i.id, customer_key=key, status=i.status, owner_id=i.owner_id, partner_id=i.partner_id,
                    submitter_id=i.submitter_id, products=tuple((i.data or {}).get("project", {}).get("products", ())),
                    owner_kind=(i.owner_kind or "user") if i.owner_id else None)
            for i in items
        ]
    return out
