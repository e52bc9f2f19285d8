"""The dedup blocking index and verdicts in DynamoDB. Never scans; every read is bounded.

The plan (which keys, which posting lists, how many) is ``chalicelib.domain.dedup_match``'s; this module
only carries it out against the ``dedup_index`` table (see ``models.DedupIndexItem``) and stores verdicts.
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
    INDEX_KEY_LIMIT,
    MAX_POSTINGS,
    TOP_CANDIDATES,
    choose_keys,
    query_keys,
    rank,
)
from chalicelib.domain.dedup_verdict import Holding
from chalicelib.store import models
from chalicelib.store.models import DedupIndexItem, DedupVerdictItem, RegistrationItem

_COUNTER = "#n|"
_MARKER = "#doc|"
_TX_ITEMS = 100  # DynamoDB's TransactWriteItems limit
HOLDINGS_PER_CUSTOMER = 20
CUSTOMERS_WITH_HOLDINGS = 5


def _posting_pk(bkey: str, ref: str) -> str:
    return f"{bkey}|{ref}"


def _counts(keys: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in DedupIndexItem.batch_get([_COUNTER + k for k in keys], consistent_read=False):
        out[item.pk[len(_COUNTER):]] = int(item.n or 0)
    return out


def index_customer(customer_key: str, name: str, forms: NameForms, exact: Sequence[str], *, now: datetime) -> bool:
    """Add one customer name to the index: postings and counters for its exact and blocking keys.

    Idempotent: a marker for (customer, name key) is put in the same transaction, so a redelivery writes
    nothing. Keys already carried by ``MAX_POSTINGS`` customers are only counted, not posted.

    Returns:
        False when this customer name was already indexed.
    """
    # Same key selection as the in-process index; two items per key plus the marker fit one transaction.
    keys = list(dict.fromkeys([f"x:{k}" for k in exact] + query_keys(forms, INDEX_KEY_LIMIT)))
    keys = keys[: (_TX_ITEMS - 1) // 2]
    counts = _counts(keys)
    marker = DedupIndexItem(f"{_MARKER}{customer_key}|{forms.compact}", created_at=now)
    try:
        with TransactWrite(connection=models.connection()) as tx:
            tx.save(marker, condition=DedupIndexItem.pk.does_not_exist())
            for key in keys:
                tx.update(DedupIndexItem(_COUNTER + key), actions=[DedupIndexItem.n.add(1)])
                if counts.get(key, 0) < MAX_POSTINGS:
                    tx.save(DedupIndexItem(_posting_pk(key, customer_key), bkey=key, ref=customer_key, name=name,
                                           keys=list(exact), created_at=now))
    except TransactWriteError as exc:
        if any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or []):
            return False
        raise
    return True


@dataclass(frozen=True)
class Candidate:
    ref: str
    name: str
    keys: tuple[str, ...]


def candidates(forms: NameForms, exact: Sequence[str]) -> list[Candidate]:
    """Candidate customers for a name and its exact keys, by the plan of ``dedup_match``.

    Reads: the counters of the exact keys and of at most ``MAX_QUERY_KEYS`` blocking keys (one
    BatchGetItem each), then posting lists through ``ByBlockIndex`` — at most ``EXACT_LIMIT`` per known exact
    key (and then nothing fuzzy), else at most ``POSTING_BUDGET`` postings in total.
    """
    exact_keys = [f"x:{k}" for k in exact]
    found: dict[str, Candidate] = {}
    if exact_keys:
        known = [k for k, n in _counts(exact_keys).items() if n]
        for key in known:
            for item in DedupIndexItem.by_block.query(key, limit=EXACT_LIMIT):
                found.setdefault(item.ref, Candidate(item.ref, item.name or "", tuple(item.keys or ())))
        if found:
            return list(found.values())[:TOP_CANDIDATES]
    keys = query_keys(forms)
    counts = _counts(keys) if keys else {}
    postings: dict[str, list[str]] = {}
    for key in choose_keys(keys, counts):
        refs = postings.setdefault(key, [])
        for item in DedupIndexItem.by_block.query(key, limit=counts[key]):
            refs.append(item.ref)
            found.setdefault(item.ref, Candidate(item.ref, item.name or "", tuple(item.keys or ())))
    return [found[r] for r in rank(postings, counts)]


def holdings(customer_keys: Iterable[str]) -> dict[str, list[Holding]]:
    """The newest registrations of each customer (at most ``HOLDINGS_PER_CUSTOMER`` of the first
    ``CUSTOMERS_WITH_HOLDINGS`` customers), through ``ByCustomerIndex``."""
    out: dict[str, list[Holding]] = {}
    for key in list(dict.fromkeys(customer_keys))[:CUSTOMERS_WITH_HOLDINGS]:
        items = RegistrationItem.by_customer.query(key, scan_index_forward=False, limit=HOLDINGS_PER_CUSTOMER)
        out[key] = [
            Holding(id=i.id, customer_key=key, status=i.status, owner_id=i.owner_id, partner_id=i.partner_id,
                    submitter_id=i.submitter_id, products=tuple((i.data or {}).get("project", {}).get("products", ())))
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
