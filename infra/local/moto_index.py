"""Index look-ups for the local stand-in's DynamoDB: a ``Query`` reads the items it can match, not the table.

moto 5.2.5 answers every ``Query`` by listing *all* items of the table, sorted (``Table.all_items``), and
testing each: on a table of 100k dedup postings, every index read (dedup's candidates, the schedulers'
status index, listings) costs the whole table, under the stand-in's one lock, so intake waits behind it.

This patch keeps, per table and per index, a map from the index's hash-key value(s) to the primary keys of the
items carrying them (items without every hash-key attribute are in no bucket: a sparse index), maintained on
every path that changes an item in moto 5.2.5 — ``Table.put_item``, ``Table.delete_item``,
``DynamoDBBackend.update_item`` (which edits the stored item in place) and the transaction rollback of
``infra.local.stack`` — and rebuilt if the table's item store is replaced. While moto's own ``Table.query``
runs, ``all_items`` of that table answers only the candidates (the items of one partition for a table query,
one bucket for an index query), sorted as moto sorts them; moto then applies every condition, range, filter,
page and projection itself, so the answer is moto's own. A candidate list is a superset of the matches: a
stale entry is refused by moto's own test of the item's attributes.

Written against moto 5.2.5 only: :func:`install` raises on any other version rather than patch code it was
not checked against.
"""
from __future__ import annotations

import threading
from typing import Any

PATCHED_MOTO = "5.2.5"
_candidates = threading.local()  # id(table) -> the list all_items answers during that table's query


class MotoVersionError(RuntimeError):
    """The installed moto is not the version a patch was written and tested against."""


def _sort_key(item: Any) -> Any:  # as moto's Table.all_items sorts
    return (item.hash_key, item.range_key) if item.range_key else item.hash_key


class _IndexMaps:
    """Per table: {(index name, hash attrs): {hash values: {primary key}}} and the reverse per item."""

    def __init__(self, table: Any) -> None:
        self.items_store = table.items  # rebuilt if moto ever swaps the store (restores, copies)
        self.buckets: dict[tuple[str, tuple[str, ...]], dict[tuple, set]] = {}
        self.placed: dict[tuple, dict[tuple[str, tuple[str, ...]], tuple]] = {}

    def build(self, table: Any, index: tuple[str, tuple[str, ...]]) -> None:
        bucket: dict[tuple, set] = {}
        self.buckets[index] = bucket
        for item in _stored_items(table):
            values = _index_values(item, index[1])
            if values is not None:
                pk = (item.hash_key, item.range_key)
                bucket.setdefault(values, set()).add(pk)
                self.placed.setdefault(pk, {})[index] = values

    def reindex(self, table: Any, pk: tuple) -> None:
        item = _stored(table, *pk)
        placed = self.placed.get(pk, {})
        for index, bucket in self.buckets.items():
            old = placed.get(index)
            new = _index_values(item, index[1]) if item is not None else None
            if old == new:
                continue
            if old is not None:
                keys = bucket.get(old)
                if keys is not None:
                    keys.discard(pk)
                    if not keys:
                        del bucket[old]
            if new is not None:
                bucket.setdefault(new, set()).add(pk)
                placed[index] = new
            else:
                placed.pop(index, None)
        if placed:
            self.placed[pk] = placed
        else:
            self.placed.pop(pk, None)


def _stored(table: Any, hash_key: Any, range_key: Any) -> Any:
    """The stored item at a primary key, or None (without adding an empty partition to moto's defaultdict)."""
    stored = table.items.get(hash_key)
    if not table.range_key_attr:
        return stored
    return stored.get(range_key) if stored is not None and range_key is not None else None


def _stored_items(table: Any) -> list:
    if table.range_key_attr:
        return [item for partition in table.items.values() for item in partition.values()]
    return list(table.items.values())


def _index_values(item: Any, attrs: tuple[str, ...]) -> tuple | None:
    values = tuple(item.attrs.get(a) for a in attrs)
    return None if any(v is None for v in values) else values


def _maps(table: Any) -> _IndexMaps | None:
    maps = table.__dict__.get("_dealreg_index_maps")
    if maps is not None and maps.items_store is not table.items:
        maps = None  # the store was replaced: start over, lazily
        table.__dict__.pop("_dealreg_index_maps", None)
    return maps


def _reindex(table: Any, hash_key: Any, range_key: Any) -> None:
    maps = _maps(table)
    if maps is not None:
        maps.reindex(table, (hash_key, range_key))


def _forget(table: Any) -> None:
    table.__dict__.pop("_dealreg_index_maps", None)


def _query_candidates(table: Any, hash_key: Any, index_name: str | None,
                      hash_key_conditions: list | None) -> list | None:
    """The items a query can match, sorted as ``all_items`` sorts, or None (let moto walk the table)."""
    if not index_name:
        if hash_key is None:
            return None
        stored = table.items.get(hash_key)
        if stored is None:
            return []
        items = list(stored.values()) if table.range_key_attr else [stored]
        return sorted(items, key=_sort_key)
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None:
        return None  # moto answers the unknown index with its own error
    attrs = tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
    wanted = dict(hash_key_conditions or [])
    if not attrs or set(wanted) != set(attrs):
        return None  # not an equality on exactly the index's hash key: moto's own walk
    key = (index_name, attrs)
    maps = _maps(table)
    if maps is None:
        maps = _IndexMaps(table)
        table.__dict__["_dealreg_index_maps"] = maps
    if key not in maps.buckets:
        maps.build(table, key)
    pks = maps.buckets[key].get(tuple(wanted[a] for a in attrs), ())
    items = [_stored(table, h, r) for h, r in pks]
    return sorted((i for i in items if i is not None), key=_sort_key)


def install() -> None:
    """Patch moto's DynamoDB ``Table.query`` as described above. Idempotent; raises on another moto version."""
    import moto
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if moto.__version__ != PATCHED_MOTO:
        raise MotoVersionError(
            f"infra/local/moto_index.py patches moto {PATCHED_MOTO}'s Table.query, but moto {moto.__version__} "
            "is installed: check the new version's query, put_item, delete_item and update_item and update it")
    if getattr(Table, "_dealreg_index_query", False):
        return

    original_query = Table.query
    original_all_items = Table.all_items
    original_put = Table.put_item
    original_delete = Table.delete_item
    original_update = DynamoDBBackend.update_item

    def all_items(self: Any) -> list:
        answer = getattr(_candidates, "by_table", {}).get(id(self))
        return answer if answer is not None else original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        candidates = _query_candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
        if candidates is None:
            return original_query(self, hash_key, *args, **kwargs)
        by_table = _candidates.__dict__.setdefault("by_table", {})
        by_table[id(self)] = candidates
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            by_table.pop(id(self), None)

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, *args, **kwargs)
        _reindex(self, item.hash_key, item.range_key)
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return original_delete(self, hash_key, range_key)
        finally:
            _reindex(self, hash_key, range_key)

    def update_item(self: Any, table_name: str, key: dict, *args: Any, **kwargs: Any) -> Any:
        try:
            return original_update(self, table_name, key, *args, **kwargs)
        finally:  # moto edits the stored item in place, also when it raises half-way
            table = self.tables.get(table_name)
            if table is not None:
                try:
                    hash_key = DynamoType(key[table.hash_key_attr])
                    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                except (KeyError, TypeError):
                    _forget(table)  # a key shape moto reads its own way: rebuild on the next query
                else:
                    _reindex(table, hash_key, range_key)

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    Table._dealreg_index_query = True  # type: ignore[attr-defined]
    Table._dealreg_unpatched_query = original_query  # type: ignore[attr-defined]  (tests compare with it)


def item_restored(table: Any, hash_key: Any, range_key: Any) -> None:
    """Tell the maps an item was put back into ``table``'s store directly (a transaction's rollback)."""
    _reindex(table, hash_key, range_key)
