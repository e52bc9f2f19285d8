"""The holders table: one item per holder (``holder#<kind>:<id>``) with its counters, and the operator jobs'
checkpoints (``job#<name>``). The only module that reads or writes it.

- ``active``: registrations the holder owns (approved), bounded by the holding limit (ownership rules);
- ``pending``: registrations the holder submitted that await a decision (``domain.ownership.PENDING``),
  bounded by ``pending_cap``.
The counters move inside the registration's own transaction (``count_pending``, ``holder_moves``), so they
never disagree with the registrations; drift from outside (a restore, a bug) is repaired by
``dealreg holders recount`` (``services.ownership.recount`` with ``set_count``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.ownership import PENDING, Change, HolderRef, Holding
from chalicelib.store.models import HolderItem, Transaction
from schemas.common import Actor


def holder_pk(ref: HolderRef) -> str:
    return f"holder#{ref.key}"


def _load(pk: str) -> Any:
    """The action stamping a holder item's ``load_shard`` (``active#<n>``, ByActiveIndex): with every move of
    ``active``, so the over-limit job finds the holder by its count, whichever partition its key lands in."""
    from chalicelib.store.status_index import shard_of

    return HolderItem.load_shard.set(f"active#{shard_of(pk)}")


def submitter_counter(submitter: Actor) -> str | None:
    """The holders-table key counting ``submitter``'s registrations awaiting a decision (None: a system)."""
    ref = HolderRef.of(submitter.kind.value, submitter.id)
    return holder_pk(ref) if ref is not None else None


def held_count(ref: HolderRef) -> int:
    try:
        return int(HolderItem.get(holder_pk(ref), consistent_read=True).active or 0)
    except HolderItem.DoesNotExist:
        return 0


def count_pending(tx: Transaction, submitter: Actor, delta: int, *, now: datetime, cap: int) -> None:
    """Move the submitter's pending counter in ``tx``; an increase is refused at ``cap`` (0 = no cap).
    A decrease has no floor: drift is repaired by ``dealreg holders recount``, never by refusing a decision."""
    operation = pending_update(submitter, delta, now=now, cap=cap)
    if operation is not None:
        tx.update_op(operation)


def pending_update(submitter: Actor, delta: int, *, now: datetime, cap: int) -> dict | None:
    """The pending counter's Update, serialised as PynamoDB renders ``HolderItem.pending.add(delta)``,
    ``updated_at.set(now)`` and (an increase under a cap) ``pending.does_not_exist() | (pending < cap)``; built
    directly, as it is on every intake (issue 15 item 2). None when there is nothing to count."""
    key = submitter_counter(submitter)
    if key is None or delta == 0:
        return None
    table, stamp, by = HolderItem.Meta.table_name, HolderItem.updated_at.serialize(now), HolderItem.pending.serialize(delta)
    if delta > 0 and cap > 0:
        return {"TableName": table, "Key": {"pk": {"S": key}},
                "ConditionExpression": "(attribute_not_exists (#0) OR #0 < :0)", "UpdateExpression": "SET #1 = :1 ADD #0 :2",
                "ExpressionAttributeNames": {"#0": "pending", "#1": "updated_at"},
                "ExpressionAttributeValues": {":0": {"N": HolderItem.pending.serialize(cap)}, ":1": {"S": stamp},
                                              ":2": {"N": by}}}
    return {"TableName": table, "Key": {"pk": {"S": key}}, "UpdateExpression": "SET #0 = :0 ADD #1 :1",
            "ExpressionAttributeNames": {"#0": "updated_at", "#1": "pending"},
            "ExpressionAttributeValues": {":0": {"S": stamp}, ":1": {"N": by}}}


def pending_count(submitter: Actor) -> int:
    key = submitter_counter(submitter)
    if key is None:
        return 0
    try:
        return int(HolderItem.get(key, consistent_read=True).pending or 0)
    except HolderItem.DoesNotExist:
        return 0


def holder_moves(tx: TransactWrite, h: Holding, change: Change, now: datetime) -> None:
    """Move the holder counters: the old owner's ``active`` -1, the new owner's +1 below its limit, and a
    decision on a pending registration (approval) frees one of its submitter's ``pending`` slots. One
    update per holder item: a transaction may touch an item only once (the submitter is often the owner)."""
    moves: dict[HolderRef, list] = {}
    conditions: dict[HolderRef, object] = {}
    if change.moves_holder and change.from_owner is not None:
        # No floor condition: a drifted counter must not block a reclaim; `dealreg holders recount` repairs it.
        moves.setdefault(change.from_owner, []).append(HolderItem.active.add(-1))
        moves[change.from_owner].append(_load(holder_pk(change.from_owner)))
    if change.moves_holder and change.to_owner is not None:
        limit = change.limit.value if change.limit else 0
        moves.setdefault(change.to_owner, []).append(HolderItem.active.add(1))
        moves[change.to_owner].append(_load(holder_pk(change.to_owner)))
        conditions[change.to_owner] = HolderItem.active.does_not_exist() | (HolderItem.active < limit)
    if h.submitter is not None and change.from_status in PENDING and change.to_status not in PENDING:
        moves.setdefault(h.submitter, []).append(HolderItem.pending.add(-1))
    for ref, actions in moves.items():
        tx.update(HolderItem(holder_pk(ref)), actions=[*actions, HolderItem.updated_at.set(now)],
                  condition=conditions.get(ref))


def release_active(tx: TransactWrite, ref: HolderRef, *, now: datetime) -> None:
    """The owner's ``active`` counter -1 in ``tx`` (no floor: a drifted counter never blocks a close)."""
    tx.update(HolderItem(holder_pk(ref)), actions=[HolderItem.active.add(-1), _load(holder_pk(ref)),
                                                   HolderItem.updated_at.set(now)])


def holder_counts(counter: str = "active") -> dict[str, int]:
    """Every holder's ``active`` (or ``pending``) counter, by holder key, where set. A scan of the (small)
    holders table: operator jobs only."""
    attr = getattr(HolderItem, counter)
    return {item.pk.removeprefix("holder#"): int(getattr(item, counter))
            for item in HolderItem.scan(HolderItem.pk.startswith("holder#") & attr.exists())}


def above(floor: int) -> list[tuple[str, int]]:
    """Holders whose ``active`` count exceeds ``floor`` (holder key, count), from ByActiveIndex: one query per
    load shard with ``active > floor`` as the key condition, so the read is bounded by the holders above
    ``floor``, not by all holders (issue 15: the over-limit job used to scan the table)."""
    from chalicelib.store.status_index import shard_count, sharded

    if not sharded():  # during an upgrade, until the backfill has stamped every holder (README)
        return sorted((k, v) for k, v in holder_counts().items() if v > floor)
    out = []
    for n in range(shard_count()):
        for item in HolderItem.by_active.query(f"active#{n}", HolderItem.active > floor):
            out.append((item.pk.removeprefix("holder#"), int(item.active)))
    return sorted(out)


def set_count(ref: HolderRef, expected: int | None, value: int, *, now: datetime, counter: str = "active") -> bool:
    """Repair a counter, only if it still holds ``expected`` (None: absent); False if it moved meanwhile."""
    attr = getattr(HolderItem, counter)
    cond = attr.does_not_exist() if expected is None else (attr == expected)
    actions = [attr.set(value), HolderItem.updated_at.set(now)]
    if counter == "active":
        actions.append(_load(holder_pk(ref)))
    try:
        HolderItem(holder_pk(ref)).update(actions=actions, condition=cond)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def checkpoint(name: str) -> dict | None:
    try:
        return HolderItem.get(f"job#{name}", consistent_read=True).checkpoint
    except HolderItem.DoesNotExist:
        return None


def save_checkpoint(name: str, data: dict | None, *, now: datetime) -> None:
    HolderItem(f"job#{name}", checkpoint=data, updated_at=now).save()
