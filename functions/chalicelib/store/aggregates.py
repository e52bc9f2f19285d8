"""Pipeline board and cockpit aggregates (issue 18): applied from the registrations stream exactly once,
read by partition or by sort-key range, rebuilt by a recount."""
from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.store import models
from chalicelib.store.models import AggregateItem

MARKER_DAYS = 7  # a stream record is redelivered within its 24 h retention at most


def apply(event_id: str, deltas: list[tuple[str, str, int, int]], *, now: datetime) -> bool:
    """Add ``deltas`` and mark ``event_id`` applied, in one transaction; False when it was applied before."""
    if not deltas:
        return True
    try:
        with TransactWrite(connection=models.connection()) as tx:
            tx.save(AggregateItem(f"applied#{event_id}", "-", expires_at=now + timedelta(days=MARKER_DAYS)),
                    condition=AggregateItem.pk.does_not_exist())
            for part, cell, count, cents in deltas:
                tx.update(AggregateItem(part, cell), actions=[
                    AggregateItem.count.add(count), AggregateItem.cents.add(cents), AggregateItem.updated_at.set(now)])
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            return False
        raise
    return True


def partition(part: str) -> list[AggregateItem]:
    """Every cell of one partition: one query, (stages x currencies) items whatever the registrations."""
    return list(AggregateItem.query(part))


def cells(part: str, low: str, high: str) -> list[AggregateItem]:
    """The cells of ``part`` whose sort key is between ``low`` and ``high`` (inclusive): one query."""
    return list(AggregateItem.query(part, AggregateItem.sk.between(low, high)))


def overwrite(figures: dict[tuple[str, str], list[int]], *, now: datetime,
              prefixes: tuple[str, ...] = ("board#",)) -> int:
    """Make the cells of the partitions starting with ``prefixes`` exactly ``figures`` (a recount): set each,
    delete cells no longer present."""
    known = set()
    for prefix in prefixes:
        known |= {i.pk for i in AggregateItem.scan(AggregateItem.pk.startswith(prefix))}
    parts = {p for p, _ in figures} | known
    written = 0
    with AggregateItem.batch_write() as batch:
        for part in parts:
            for item in partition(part):
                if (part, item.sk) not in figures:
                    batch.delete(item)
        for (part, cell), (count, cents) in figures.items():
            batch.save(AggregateItem(part, cell, count=count, cents=cents, updated_at=now))
            written += 1
    return written
