"""Tender storage: linking refs, conditional tender writes, feed state, subscriptions, alerts.

Every write is conditional: a tender is created only if its id is new and updated only at the version
read; a ref is claimed only if unclaimed; an alert is written only if that rep has none for the tender.
A lost race is re-read once and otherwise left to the next poll (which is idempotent).
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError

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


# -- subscriptions --------------------------------------------------------------------------------------


def subscriptions_stamp() -> tuple[str, int]:
    """(epoch, counter) of the subscriptions table, for the matching index's cache check.

    The counter is bumped with every subscription write; the epoch is a random token set the first time
    the counter item is written, so a table that was recreated or restored (its counter back at an earlier
    value) never matches an index cached from before.
    """
    try:
        item = SubscriptionItem.get(META_VERSION)
    except DoesNotExist:
        return "", 0
    return item.created_at or "", int(item.counter or 0)


def subscriptions_version() -> int:
    return subscriptions_stamp()[1]


def _bump_version() -> list[Any]:
    # ``created_at`` of the counter item holds the epoch (set if absent); see ``subscriptions_stamp``.
    return [SubscriptionItem.counter.add(1),
            SubscriptionItem.created_at.set(SubscriptionItem.created_at | f"epoch-{secrets.token_hex(8)}")]


def new_subscription_id() -> str:
    return "sub_" + secrets.token_hex(10)


def create_subscription(sub: Any) -> None:
    """Store ``sub`` (schemas.tender.Subscription) and bump the version counter in one transaction."""
    from pynamodb.transactions import TransactWrite

    item = SubscriptionItem(id=sub.id, rep_id=sub.rep_id, data=sub.model_dump(mode="json"),
                            created_at=sub.created_at.isoformat())
    with TransactWrite(connection=connection()) as tx:
        tx.save(item, condition=SubscriptionItem.id.does_not_exist())
        tx.update(SubscriptionItem(id=META_VERSION), actions=_bump_version())


def delete_subscription(sub_id: str, rep_id: str) -> bool:
    """Delete the rep's own subscription; False if there is none (or it is someone else's)."""
    from pynamodb.transactions import TransactWrite

    try:
        with TransactWrite(connection=connection()) as tx:
            tx.delete(SubscriptionItem(id=sub_id), condition=SubscriptionItem.rep_id == rep_id)
            tx.update(SubscriptionItem(id=META_VERSION), actions=_bump_version())
    except TransactWriteError as exc:
        if any(r is not None and r.code == "ConditionalCheckFailed" for r in (exc.cancellation_reasons or [])):
            return False
        raise
    return True


def subscriptions_of(rep_id: str) -> list[Any]:
    from schemas.tender import Subscription

    return [Subscription.model_validate(i.data) for i in SubscriptionItem.by_rep.query(rep_id)]


def all_subscriptions() -> list[Any]:
    """Every subscription (a scan: used to rebuild the in-memory matching index)."""
    from schemas.tender import Subscription

    return [Subscription.model_validate(i.data) for i in SubscriptionItem.scan() if i.id != META_VERSION and i.data]


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
    """A rep's alerts (a scan with a filter; for tests and the CLI, not a hot path)."""
    return list(TenderAlertItem.scan(TenderAlertItem.rep_id == rep_id))
