"""Sharded status indexes (issue 15 item 6): every registration of one status no longer shares one partition.

Each registration carries ``status_shard = "<status>#<n>"`` with ``n`` derived from its id (:func:`shard_of`),
written with ``status`` in the same update (:func:`stamp`). ``ByStatusShardIndex`` (status_shard, created_at)
and the sparse ``ByStatusShardDueIndex`` (status_shard, due_at) replace the single-key ``ByStatusIndex`` /
``ByStatusDueIndex`` for reads: a query asks each of the ``status_shards`` partitions and merges them in
sort-key order (:func:`page`, :func:`iterate`), so callers see one ordered list as before.

A page's cursor remembers, per shard, the key of the last item handed out from it (or that the shard is done),
so the next page resumes every shard exactly where the merge stopped, whatever order the shards interleave.
It is a flat ``{name: {"S": text}}`` map like a DynamoDB key, so ``registrations.encode_cursor`` carries it.

``status_shards`` (``DEALREG_STATUS_SHARDS``, default 8) must be the same for every function. Raising it
is safe (items keep their shard, which is still queried); lowering it needs ``dealreg status-shards backfill``
to re-stamp items whose shard is now out of range.

``DEALREG_STATUS_INDEX=single`` reads the old single-key indexes instead (one "shard" keyed by ``status``):
the upgrade of a deployed stack reads them until the new indexes exist and the backfill has stamped every
item (README "Sharded status indexes"); writes stamp ``status_shard`` in both modes.
"""
from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chalicelib import settings as settings_mod

DONE = "."  # a cursor's mark for a shard with nothing left


def shard_count() -> int:
    return settings_mod.get().status_shards


def sharded() -> bool:
    """Reads go to the sharded indexes (the default), not the single-key ones (``DEALREG_STATUS_INDEX=single``)."""
    return settings_mod.get().status_index != "single"


def shard_of(key: str, count: int | None = None) -> int:
    """The shard of a registration (or holder) id: CRC-32 of its UTF-8 bytes modulo the shard count, the same
    in every process and Python version (unlike ``hash``)."""
    count = count or shard_count()
    return zlib.crc32(key.encode()) % count


def shard_key(status: str, reg_id: str, count: int | None = None) -> str:
    return f"{status}#{shard_of(reg_id, count)}"


def stamp(reg_id: str, status: str) -> list:
    """The update actions that move a registration to ``status`` with its shard attribute."""
    from chalicelib.store.models import RegistrationItem

    return [RegistrationItem.status.set(status), RegistrationItem.status_shard.set(shard_key(status, reg_id))]


def _index(name: str) -> Any:
    from chalicelib.store.models import RegistrationItem

    if not sharded():
        return {"created": RegistrationItem.by_status, "due": RegistrationItem.by_status_due}[name]
    return {"created": RegistrationItem.by_status_shard, "due": RegistrationItem.by_status_shard_due}[name]


def _layout(status: str) -> tuple[str, str, list[str]]:
    """(cursor tag prefix, hash attribute, hash values to query) of the indexes reads use now."""
    if not sharded():
        return "single-", "status", [status]
    return "", "status_shard", [f"{status}#{n}" for n in range(shard_count())]


def _range_attr(name: str) -> str:
    return {"created": "created_at", "due": "due_at"}[name]


@dataclass
class _Stream:
    """One shard's part of a merged read: fetched in chunks as the merge needs them."""
    shard: int
    hash_value: str
    start: dict | None  # where the next fetch starts (None: the beginning)
    exhausted: bool
    buffer: deque = field(default_factory=deque)
    resume: dict | None = None  # where the buffer starts: the start of the fetch that filled it
    reads: int = 0  # query calls made

    def __post_init__(self) -> None:
        self.resume = self.start


class _Merge:
    def __init__(self, index: str, status: str, range_condition: Any, *, forward: bool, chunk: int,
                 filter_condition: Any = None, cursor: dict | None = None) -> None:
        self.index, self.status, self.forward, self.chunk = index, status, forward, chunk
        self.range_condition, self.filter_condition = range_condition, filter_condition
        self.range_attr = _range_attr(index)
        self.tag, self.hash_attr, values = _layout(status)
        positions = _decode(cursor, index, status)
        self.streams = [_Stream(n, value, positions.get(n), positions.get(n, "") == DONE)
                        for n, value in enumerate(values)]
        for s in self.streams:
            if s.start == DONE:
                s.start = s.resume = None

    def _key(self, s: _Stream, item: Any) -> dict:
        from chalicelib.store.models import RegistrationItem

        value = getattr(item, self.range_attr)
        attr = getattr(RegistrationItem, self.range_attr)
        return {"id": {"S": item.id}, self.hash_attr: {"S": s.hash_value}, self.range_attr: {"S": attr.serialize(value)}}

    def _head(self, s: _Stream) -> tuple[str, Any] | None:
        while not s.buffer and not s.exhausted:
            s.resume = s.start
            result = _index(self.index).query(
                s.hash_value, self.range_condition, filter_condition=self.filter_condition,
                scan_index_forward=self.forward, limit=self.chunk, page_size=self.chunk,
                last_evaluated_key=s.start)
            s.buffer.extend((self._key(s, i)[self.range_attr]["S"], i) for i in result)
            s.reads += 1
            s.start = result.last_evaluated_key
            s.exhausted = s.start is None
        return s.buffer[0] if s.buffer else None

    def take(self) -> Any | None:
        """The next item in sort-key order across the shards (ties: the lower shard first); None at the end."""
        best: tuple[str, int] | None = None
        pick: _Stream | None = None
        for s in self.streams:
            head = self._head(s)
            if head is None:
                continue
            rank = head[0]
            if best is None or (rank < best[0] if self.forward else rank > best[0]):
                best, pick = (rank, s.shard), s
        if pick is None:
            return None
        _, item = pick.buffer.popleft()
        pick.resume = self._key(pick, item)  # the next page resumes right after what was handed out
        return item

    def cursor(self) -> dict | None:
        """Where each shard stands: after its last handed-out item, or done; None when every shard is done."""
        out: dict[str, dict[str, str]] = {"x": {"S": f"{self.tag}{self.index}|{self.status}"}}
        finished = True
        for s in self.streams:
            if not s.buffer and s.exhausted:
                out[str(s.shard)] = {"S": DONE}
                continue
            finished = False
            position = s.start if not s.buffer else s.resume
            if position is not None:
                out[str(s.shard)] = {"S": f"{position[self.range_attr]['S']}|{position['id']['S']}"}
        return None if finished else out

    @property
    def reads(self) -> int:
        return sum(s.reads for s in self.streams)


def _decode(cursor: dict | None, index: str, status: str) -> dict[int, Any]:
    """Per-shard start keys of a cursor from :meth:`_Merge.cursor`; ValueError for any other map (a cursor of
    the other read mode too: its positions mean nothing in this one)."""
    if not cursor:
        return {}
    tag, hash_attr, values = _layout(status)
    count = len(values)
    if cursor.get("x", {}).get("S") != f"{tag}{index}|{status}":
        raise ValueError("cursor from another listing")
    out: dict[int, Any] = {}
    range_attr = _range_attr(index)
    for name, value in cursor.items():
        if name == "x":
            continue
        if not (name.isdigit() and int(name) < count):
            raise ValueError("cursor of another shard count")
        text = value.get("S", "")
        if text == DONE:
            out[int(name)] = DONE
            continue
        at, sep, reg_id = text.partition("|")
        if not (sep and at and reg_id):
            raise ValueError("not a cursor")
        out[int(name)] = {"id": {"S": reg_id}, hash_attr: {"S": values[int(name)]}, range_attr: {"S": at}}
    return out


def _chunk(limit: int) -> int:
    """Items fetched per shard call: an even share of the page and one more, so a page of ``limit`` over
    ``n`` shards usually costs one call per shard and reads less than ``limit + n * chunk`` items."""
    return max(2, -(-limit // (shard_count() if sharded() else 1)) + 1)


def page(index: str, status: str, range_condition: Any = None, *, forward: bool, limit: int,
         cursor: dict | None = None, filter_condition: Any = None) -> tuple[list[Any], dict | None]:
    """Up to ``limit`` items of ``status`` in ``index`` order ("created": created_at, "due": due_at; newest
    first unless ``forward``) merged across the shards, and the cursor of the next page (None: no more).
    ``cursor`` is what the previous page returned; ValueError when it belongs to another listing."""
    merge = _Merge(index, status, range_condition, forward=forward, chunk=_chunk(limit),
                   filter_condition=filter_condition, cursor=cursor)
    items = []
    while len(items) < limit:
        item = merge.take()
        if item is None:
            break
        items.append(item)
    return items, merge.cursor()


def iterate(index: str, status: str, range_condition: Any = None, *, forward: bool, page_size: int = 100,
            filter_condition: Any = None) -> Iterator[Any]:
    """Every item of ``status`` in ``index`` order, merged across the shards, fetched as consumed."""
    merge = _Merge(index, status, range_condition, forward=forward, chunk=_chunk(page_size),
                   filter_condition=filter_condition)
    while (item := merge.take()) is not None:
        yield item


# --- backfill (``dealreg status-shards backfill``): stamp the shard attributes on items written before them ----

def backfill_page(table: str, start: dict | None, limit: int = 200) -> tuple[dict[str, int], dict | None]:
    """Stamp one scanned page of ``table`` ("registrations": ``status_shard``; "holders": ``load_shard``):
    counts (read, stamped, raced) and the key to resume after. Each stamp is conditional on the item being as
    read (same status or count present, same old stamp), so it never overwrites what a concurrent writer
    stamped; an item already right is not written (idempotent). An operator job: it scans, on purpose."""
    from pynamodb.exceptions import UpdateError

    from chalicelib.store.models import HolderItem, RegistrationItem

    counts = {"read": 0, "stamped": 0, "raced": 0}
    if table == "registrations":
        model: Any = RegistrationItem
        result = RegistrationItem.scan(limit=limit, last_evaluated_key=start,
                                       attributes_to_get=["id", "status", "status_shard"])
    elif table == "holders":
        model = HolderItem
        result = HolderItem.scan(HolderItem.pk.startswith("holder#") & HolderItem.active.exists(), limit=limit,
                                 last_evaluated_key=start, attributes_to_get=["pk", "active", "load_shard"])
    else:
        raise ValueError(f"no shard attribute on {table}")
    conn = model._get_connection()
    for item in result:
        counts["read"] += 1
        if table == "registrations":
            key, want, have = item.id, shard_key(item.status, item.id), item.status_shard
            attr, same = RegistrationItem.status_shard, RegistrationItem.status == item.status
        else:
            key, want, have = item.pk, f"active#{shard_of(item.pk)}", item.load_shard
            attr, same = HolderItem.load_shard, HolderItem.active.exists()
        if have == want:
            continue
        unchanged = same & (attr.does_not_exist() if have is None else attr == have)
        try:
            # The table connection's update_item: no version bump, so no optimistic writer loses its race to us.
            conn.update_item(key, actions=[attr.set(want)], condition=unchanged)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            counts["raced"] += 1  # moved meanwhile: its writer stamped it (a rerun checks again)
            continue
        counts["stamped"] += 1
    return counts, result.last_evaluated_key
