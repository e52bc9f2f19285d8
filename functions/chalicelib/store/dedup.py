"""The dedup blocking index and verdicts in DynamoDB. Never scans; every read is bounded.

The plan (which keys, which posting lists, how many) is ``chalicelib.domain.dedup_match``'s; this module
only carries it out against the ``dedup_index`` table (see ``models.DedupIndexItem``: postings keyed
``(blocking key, customer key)``, so a posting list is one partition of the base table, read with one
Query; counters and markers under their own keys) and stores verdicts.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.dedup_keys import NameForms
from chalicelib.domain.dedup_match import (
    EXACT_LIMIT,
    MAX_POSTINGS,
    TOP_CANDIDATES,
    choose_keys,
    query_keys,
    rank,
    stored_keys,
)
from chalicelib.domain.dedup_verdict import Holding
from chalicelib.store import models
from chalicelib.store.models import DedupIndexItem, DedupVerdictItem, RegistrationItem

_COUNTER = "#n|"
_MARKER = "#doc|"
_ONE = "#"  # the sort key of counters and markers (one item per partition)
HOLDINGS_PER_CUSTOMER = 20
CUSTOMERS_WITH_HOLDINGS = 5


def _counts(keys: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in DedupIndexItem.batch_get([(_COUNTER + k, _ONE) for k in keys], consistent_read=False):
        out[item.pk[len(_COUNTER):]] = int(item.n or 0)
    return out


def _marker_pk(customer_key: str, forms: NameForms) -> str:
    return f"{_MARKER}{customer_key}|{forms.compact}"


def index_customer(customer_key: str, name: str, forms: NameForms, exact: Sequence[str], *, now: datetime) -> bool:
    """Add one customer name to the index: postings and counters for its exact and blocking keys.

    Idempotent: a marker for (customer, name key) is put in the same transaction, so a redelivery writes
    nothing. Keys already carried by ``MAX_POSTINGS`` customers are only counted, not posted.

    Returns:
        False when this customer name was already indexed.
    """
    keys = stored_keys(forms, exact)  # <= 49: 2 items per key + the marker fit one transaction
    counts = _counts(keys)
    marker = DedupIndexItem(_marker_pk(customer_key, forms), _ONE, created_at=now)
    try:
        with TransactWrite(connection=models.connection()) as tx:
            tx.save(marker, condition=DedupIndexItem.pk.does_not_exist())
            for key in keys:
                tx.update(DedupIndexItem(_COUNTER + key, _ONE), actions=[DedupIndexItem.n.add(1)])
                if counts.get(key, 0) < MAX_POSTINGS:
                    tx.save(DedupIndexItem(key, customer_key, name=name, core=forms.compact, keys=list(exact),
                                           created_at=now))
    except TransactWriteError as exc:
        if any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or []):
            return False
        raise
    return True


def load_empty_index(customers: Iterable[tuple[str, str, NameForms, Sequence[str]]], *, now: datetime) -> int:
    """Bulk-load an EMPTY index with BatchWriteItem: the same items ``index_customer`` would write for
    ``(customer key, name, forms, exact keys)`` one by one, without a transaction per customer.

    Only for a table no one else writes to (a first load, a benchmark): counters are put, not added.
    Returns the number of items written.
    """
    counts: dict[str, int] = {}
    written = 0
    with DedupIndexItem.batch_write() as batch:
        for customer_key, name, forms, exact in customers:
            batch.save(DedupIndexItem(_marker_pk(customer_key, forms), _ONE, created_at=now))
            written += 1
            for key in stored_keys(forms, exact):
                before = counts.get(key, 0)
                counts[key] = before + 1
                if before < MAX_POSTINGS:
                    batch.save(DedupIndexItem(key, customer_key, name=name, core=forms.compact, keys=list(exact),
                                              created_at=now))
                    written += 1
        for key, n in counts.items():
            batch.save(DedupIndexItem(_COUNTER + key, _ONE, n=n))
            written += 1
    return written


@dataclass(frozen=True)
class Candidate:
    ref: str
    name: str
    keys: tuple[str, ...]


def _postings(key: str, limit: int) -> Iterable[DedupIndexItem]:
    # One partition of the base table; the counter and marker live under other partition keys.
    return DedupIndexItem.query(key, limit=limit, consistent_read=False)


def candidates(forms: NameForms, exact: Sequence[str]) -> list[Candidate]:
    """Candidate customers for a name and its exact keys, by the plan of ``dedup_match``.

    Reads: the counters of the exact keys and of at most ``MAX_QUERY_KEYS`` blocking keys (one
    BatchGetItem each), then posting lists (one Query of one partition each) — at most ``EXACT_LIMIT``
    per known exact key (and then nothing fuzzy), else at most ``POSTING_BUDGET`` postings in total.
    """
    exact_keys = [f"x:{k}" for k in exact]
    found: dict[str, Candidate] = {}
    if exact_keys:
        known = [k for k, n in _counts(exact_keys).items() if n]
        for key in known:
            for item in _postings(key, EXACT_LIMIT):
                found.setdefault(item.sk, Candidate(item.sk, item.name or "", tuple(item.keys or ())))
        if found:
            return list(found.values())[:TOP_CANDIDATES]
    keys = query_keys(forms)
    counts = _counts(keys) if keys else {}
    postings: dict[str, list[str]] = {}
    compacts: dict[str, str] = {}
    for key in choose_keys(keys, counts):
        refs = postings.setdefault(key, [])
        for item in _postings(key, min(counts[key], MAX_POSTINGS)):
            refs.append(item.sk)
            compacts[item.sk] = item.core or ""
            found.setdefault(item.sk, Candidate(item.sk, item.name or "", tuple(item.keys or ())))
    return [found[r] for r in rank(postings, counts, query=forms.compact, compacts=compacts)]


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


def save_verdict(registration_id: str, outcome: str, verdict_json: dict, *, now: datetime) -> bool:
    """Store a verdict once. Returns False when one was already stored (a redelivery)."""
    item = DedupVerdictItem(registration_id, outcome=outcome, verdict=verdict_json, computed_at=now)
    try:
        item.save(condition=DedupVerdictItem.registration_id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def get_verdict(registration_id: str) -> dict | None:
    """The stored verdict JSON, or None."""
    try:
        return DedupVerdictItem.get(registration_id, consistent_read=True).verdict
    except DedupVerdictItem.DoesNotExist:
        return None


def replace_verdict(registration_id: str, outcome: str, verdict_json: dict, *, now: datetime) -> bool:
    """Store a re-judged verdict (an edit, a resubmission) over an older one; never over a newer one, so a
    slow, stale re-judgement cannot undo a fresh one. Returns False when a newer verdict is stored."""
    item = DedupVerdictItem(registration_id, outcome=outcome, verdict=verdict_json, computed_at=now)
    try:
        item.save(condition=DedupVerdictItem.registration_id.does_not_exist() | (DedupVerdictItem.computed_at <= now))
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
