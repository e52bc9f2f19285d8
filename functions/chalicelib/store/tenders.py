"""Tender storage: linking refs, conditional tender writes, feed state, subscriptions, alerts.

Every write is conditional: a tender is created only if its id is new and updated only at the version
read; a ref is claimed only if unclaimed; an alert is written only if that rep has none for the tender.
A lost race is re-read once and otherwise left to the next poll (which is idempotent).
"""
from __future__ import annotations

import hashlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError

from chalicelib.domain.backoff import backoff_seconds
from chalicelib.domain.errors import DealregError
from chalicelib.store.models import (
    SubscriptionItem,
    TenderAlertItem,
    TenderFeedItem,
    TenderItem,
    TenderRefItem,
    connection,
)

logger = logging.getLogger("dealreg.tenders")
META_VERSION = "meta#version"


def _conditional_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


# -- tenders --------------------------------------------------------------------------------------------


def resolve_id(keys: list[str], new_id: str, now: datetime) -> str:
    """The tender id these link keys belong to; claims the unclaimed keys for it."""
    found: dict[str, str] = {}
    for item in TenderRefItem.batch_get(keys):
        found[item.ref] = item.tender_id
    tender_id = next((found[k] for k in keys if k in found), new_id)
    for key in keys:
        if key in found:
            continue
        try:
            TenderRefItem(ref=key, tender_id=tender_id, created_at=now).save(
                condition=TenderRefItem.ref.does_not_exist())
        except PutError as exc:
            if not _conditional_failed(exc):
                raise
            # Another poller claimed it meanwhile; its tender wins for this key.
    return tender_id


def get_tender(tender_id: str) -> TenderItem | None:
    try:
        return TenderItem.get(tender_id)
    except DoesNotExist:
        return None


def tender_of(item: TenderItem) -> Any:
    from schemas.tender import Tender

    return Tender.model_validate(item.data)


def save_tender(tender_id: str, current: TenderItem | None, tender: Any, source_ref: str, now: datetime,
                *, alerts_pending: bool = False) -> bool:
    """Create (``current is None``) or update the tender at the version read. False when the race was lost.

    ``alerts_pending`` marks a new tender whose alerts are still to be published (see ``alerts_published``).
    """
    data = tender.model_dump(mode="json")
    try:
        if current is None:
            TenderItem(
                tender_id=tender_id, data=data, status=str(tender.status), title=tender.title,
                sources=[source_ref], day=now.strftime("%Y-%m-%d"), seen_at=now.isoformat(),
                updated_at=now, cancelled="yes" if tender.status == "cancellation" else "no",
                alert_state="pending" if alerts_pending else None,
            ).save(condition=TenderItem.tender_id.does_not_exist())
        else:
            current.data = data
            current.status = str(tender.status)
            current.title = tender.title
            current.updated_at = now
            current.cancelled = "yes" if tender.status == "cancellation" else "no"
            if source_ref not in current.sources:
                current.sources = [*current.sources, source_ref]
            current.save()  # VersionAttribute adds the version condition
    except PutError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def list_recent(days: list[str], limit: int) -> list[TenderItem]:
    """Newest first over the given UTC days (YYYY-MM-DD), at most ``limit`` items."""
    out: list[TenderItem] = []
    for day in days:
        for item in TenderItem.by_day.query(day, scan_index_forward=False, limit=limit - len(out)):
            out.append(item)
            if len(out) >= limit:
                return out
    return out


# -- feed state -----------------------------------------------------------------------------------------


def feed_state(source: str) -> TenderFeedItem:
    try:
        return TenderFeedItem.get(source)
    except DoesNotExist:
        return TenderFeedItem(source=source)


def save_feed_state(state: TenderFeedItem) -> bool:
    """Write the state at the version read; False when a concurrent run wrote first."""
    try:
        state.save()
    except PutError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


# -- subscriptions and the persisted matching index (issue 15) --------------------------------------------
#
# Every subscription write moves the table's version by one in one transaction with the subscription item
# and ``log#<version>`` (the compiled change), conditional on the version read: two writers never take the
# same version, and a change is never stored without its log entry. The poller keeps its index from a
# snapshot (``idx#<id>#<n>`` chunks, named by ``meta#version``) plus the log entries after it, and writes a
# new snapshot when the log has grown (``services.tenders``); no Scan except the one-time bootstrap of a
# table written before the log existed.

LOG_PREFIX = "log#"
CHUNK_PREFIX = "idx#"
WRITE_ATTEMPTS = 8  # versioned writes lost to concurrent writers before giving up (503, safe to retry)
_BATCH_GET_KEYS = 100  # DynamoDB's BatchGetItem limit
_JITTER = random.Random()
_CHUNKS_PER_GET = 16  # snapshot chunks per BatchGetItem: ≤ 16 x 350 KB, under the 16 MB response cap


class SnapshotGone(Exception):
    """A snapshot chunk or log entry vanished under a reader (a compaction replaced it): read the state again."""


class SubscriptionsBusy(DealregError):
    status = 503
    code = "busy"


@dataclass(frozen=True)
class IndexState:
    """The ``meta#version`` item: where the subscriptions and their persisted index stand."""

    epoch: str = ""  # random token set with the first write: a recreated table never looks like an old one
    version: int = 0  # the change counter; log#<v> exists for each v after ``snap_version``
    snap_version: int = 0  # the version the snapshot holds (0: no snapshot)
    snap_id: str | None = None
    snap_chunks: int = 0
    snap_format: str | None = None


def index_state() -> IndexState:
    """A strongly consistent read of the state (one GetItem)."""
    try:
        item = SubscriptionItem.get(META_VERSION, consistent_read=True)
    except DoesNotExist:
        return IndexState()
    return IndexState(epoch=item.created_at or "", version=int(item.counter or 0),
                      snap_version=int(item.snap_version or 0), snap_id=item.snap_id,
                      snap_chunks=int(item.snap_chunks or 0), snap_format=item.snap_format)


def subscriptions_version() -> int:
    return index_state().version


def new_subscription_id() -> str:
    return "sub_" + secrets.token_hex(10)


def _versioned_write(subject: Callable[[Any], None], change: dict[str, Any]) -> bool:
    """Write ``subject``'s item and ``change`` as the next version, in one transaction conditional on the
    version read. Returns False when ``subject``'s own condition failed; retried when another writer took
    the version first; ``SubscriptionsBusy`` after ``WRITE_ATTEMPTS`` such losses."""
    from pynamodb.transactions import TransactWrite

    for attempt in range(WRITE_ATTEMPTS):
        version = index_state().version + 1
        counter = SubscriptionItem.counter
        # the version read is still the current one (the counter item is created by the first write)
        moved = counter.does_not_exist() | (counter == 0) if version == 1 else counter == version - 1
        # The same token for a botocore retry of this very request: DynamoDB answers it as done, not as a
        # failed condition (issue 15 item 3).
        token = hashlib.sha256(f"{change['op']}#{change['id']}#{version}".encode()).hexdigest()[:36]
        try:
            with TransactWrite(connection=connection(), client_request_token=token) as tx:
                subject(tx)
                tx.save(SubscriptionItem(id=f"{LOG_PREFIX}{version}", data=change),
                        condition=SubscriptionItem.id.does_not_exist())
                tx.update(SubscriptionItem(id=META_VERSION), condition=moved, actions=[
                    counter.set(version),
                    # the epoch, set with the first write (see ``IndexState.epoch``)
                    SubscriptionItem.created_at.set(SubscriptionItem.created_at | f"epoch-{secrets.token_hex(8)}")])
            return True
        except TransactWriteError as exc:
            reasons = [r is not None and r.code == "ConditionalCheckFailed" for r in (exc.cancellation_reasons or [])]
            if reasons and reasons[0]:
                return False
            if not any(reasons[1:]):
                raise
            logger.info("subscriptions version %d taken by another writer; retrying", version)
            time.sleep(backoff_seconds(attempt + 1, base=0.01, cap=1.0, jitter=_JITTER))
    raise SubscriptionsBusy("subscriptions are being changed by others; retry", code="busy", status=503)


def create_subscription(sub: Any) -> None:
    """Store ``sub`` (schemas.tender.Subscription) as the next version, its compiled row in the log."""
    from chalicelib.domain.tender_matching import Criteria

    item = SubscriptionItem(id=sub.id, rep_id=sub.rep_id, data=sub.model_dump(mode="json"),
                            created_at=sub.created_at.isoformat())
    row = Criteria.from_subscription(sub).to_row()
    if not _versioned_write(lambda tx: tx.save(item, condition=SubscriptionItem.id.does_not_exist()),
                            {"op": "put", "id": sub.id, "row": row}):
        raise DealregError("subscription id taken; retry")  # 80 random bits: not expected to happen


def delete_subscription(sub_id: str, rep_id: str) -> bool:
    """Delete the rep's own subscription; False if there is none (or it is someone else's)."""
    return _versioned_write(
        lambda tx: tx.delete(SubscriptionItem(id=sub_id), condition=SubscriptionItem.rep_id == rep_id),
        {"op": "delete", "id": sub_id})


def subscriptions_of(rep_id: str) -> list[Any]:
    from schemas.tender import Subscription

    return [Subscription.model_validate(i.data) for i in SubscriptionItem.by_rep.query(rep_id)]


def all_subscriptions() -> list[Any]:
    """Every subscription: a Scan, only for the one-time bootstrap of a table written before the change log
    (``services.tenders``), never on the polling path."""
    from schemas.tender import Subscription

    return [Subscription.model_validate(i.data) for i in SubscriptionItem.scan(SubscriptionItem.rep_id.exists())]


def _groups(keys: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(keys), size):
        yield keys[i:i + size]


def changes(first: int, last: int) -> list[dict[str, Any]] | None:
    """The log entries of versions ``first..last`` in order; None when any is gone (compacted into a newer
    snapshot: load that instead)."""
    ids = [f"{LOG_PREFIX}{v}" for v in range(first, last + 1)]
    found: dict[str, Any] = {}
    for group in _groups(ids, _BATCH_GET_KEYS):
        for item in SubscriptionItem.batch_get(group, consistent_read=True, attributes_to_get=["id", "data"]):
            found[item.id] = item.data
    if len(found) != len(ids):
        return None
    return [found[i] for i in ids]


def snapshot_chunks(state: IndexState) -> Iterator[bytes]:
    """The chunks of the state's snapshot in order, a few per request; ``SnapshotGone`` if one is missing."""
    ids = [f"{CHUNK_PREFIX}{state.snap_id}#{n}" for n in range(state.snap_chunks)]
    for group in _groups(ids, _CHUNKS_PER_GET):
        # BatchGetItem answers in any order: put them back in the snapshot's.
        blobs = {item.id: item.blob for item in
                 SubscriptionItem.batch_get(group, consistent_read=True, attributes_to_get=["id", "blob"])}
        if len(blobs) != len(group):
            raise SnapshotGone(state.snap_id)
        for key in group:
            yield blobs[key]


def write_snapshot(chunks: list[bytes], version: int, fmt: str, state: IndexState) -> bool:
    """Store a snapshot of the index at ``version`` and make it current, if the current one is still the one
    in ``state`` (conditional): False when another poller replaced it first (this one's chunks are removed).
    Then the replaced snapshot's chunks and the log entries it now holds are deleted."""
    snap_id = secrets.token_hex(8)
    ids = [f"{CHUNK_PREFIX}{snap_id}#{n}" for n in range(len(chunks))]
    with SubscriptionItem.batch_write() as batch:
        for key, blob in zip(ids, chunks, strict=True):
            batch.save(SubscriptionItem(id=key, blob=blob))
    current = SubscriptionItem.snap_id
    try:
        SubscriptionItem(id=META_VERSION).update(
            actions=[SubscriptionItem.snap_version.set(version), current.set(snap_id),
                     SubscriptionItem.snap_chunks.set(len(chunks)), SubscriptionItem.snap_format.set(fmt)],
            condition=(SubscriptionItem.created_at == state.epoch)
            & (current.does_not_exist() if state.snap_id is None else current == state.snap_id))
    except UpdateError as exc:
        if not _conditional_failed(exc):
            raise
        _delete(ids)
        return False
    old = [f"{CHUNK_PREFIX}{state.snap_id}#{n}" for n in range(state.snap_chunks)] if state.snap_id else []
    _delete(old + [f"{LOG_PREFIX}{v}" for v in range(state.snap_version + 1, version + 1)])
    return True


def _delete(ids: list[str]) -> None:
    with SubscriptionItem.batch_write() as batch:
        for key in ids:
            batch.delete(SubscriptionItem(id=key))


# -- alerts ---------------------------------------------------------------------------------------------


def alerts_published(tender_id: str) -> None:
    """Clear the tender's pending-alerts mark once its alerts are published. Written without a version bump,
    so it never makes a concurrent sighting of the notice lose its race."""
    TenderItem._get_connection().update_item(tender_id, actions=[TenderItem.alert_state.remove()])


def create_alert(rep_id: str, tender_id: str, subscription_ids: list[str], delivery: str, now: datetime) -> bool:
    """Write the one alert for (rep, tender); False if it already exists (a re-poll)."""
    item = TenderAlertItem(
        key=f"{rep_id}#{tender_id}", rep_id=rep_id, tender_id=tender_id, subscription_ids=sorted(subscription_ids),
        delivery=delivery, digest_day=now.strftime("%Y-%m-%d") if delivery == "daily_digest" else None,
        created_at=now,
    )
    try:
        item.save(condition=TenderAlertItem.key.does_not_exist())
    except PutError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


def alerts_for(rep_id: str) -> list[TenderAlertItem]:
    """A rep's alerts, oldest first (a Query of ``ByRepIndex``)."""
    return list(TenderAlertItem.by_rep.query(rep_id))
