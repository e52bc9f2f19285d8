"""store/status_index.py (issue 15 item 6): the shard key derivation, and merged paging across shards against an
in-memory index that answers like a DynamoDB GSI query (sort key order, Limit, ExclusiveStartKey, LastEvaluatedKey)."""
from __future__ import annotations

import random
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from chalicelib.store import registrations, status_index
from chalicelib.store.models import RegistrationItem

T0 = datetime(2026, 12, 1, tzinfo=UTC)


# --- shard keys ------------------------------------------------------------------------------------------------

def test_shard_of_is_crc32_of_the_id_modulo_the_count_and_stable():
    assert status_index.shard_of("reg_01JABC", 8) == zlib.crc32(b"reg_01JABC") % 8
    assert status_index.shard_of("reg_01JABC", 8) == status_index.shard_of("reg_01JABC", 8)
    assert status_index.shard_of("登记-1", 5) == zlib.crc32("登记-1".encode()) % 5
    assert status_index.shard_key("approved", "reg_01JABC", 8) == f"approved#{zlib.crc32(b'reg_01JABC') % 8}"
    assert {status_index.shard_of(f"reg_{i}", 1) for i in range(50)} == {0}


def test_shards_spread_ids_evenly():
    counts = Counter(status_index.shard_of(f"reg_{i:08d}", 8) for i in range(8000))
    assert set(counts) == set(range(8))
    assert all(800 <= c <= 1200 for c in counts.values()), counts


def test_the_shard_count_comes_from_settings(monkeypatch):
    from chalicelib import settings

    assert settings.from_env({}).status_shards == 8
    assert settings.from_env({"DEALREG_STATUS_SHARDS": "16"}).status_shards == 16
    assert settings.from_env({"DEALREG_STATUS_SHARDS": "0"}).status_shards == 1


def test_a_status_move_writes_the_status_and_its_shard_together(monkeypatch):
    monkeypatch.setattr(status_index, "shard_count", lambda: 4)
    actions = status_index.stamp("reg_x", "approved")
    names = [a.values[0].attribute.attr_name for a in actions]
    assert names == ["status", "status_shard"]
    assert actions[1].values[1].value == {"S": f"approved#{zlib.crc32(b'reg_x') % 4}"}


# --- merged paging ---------------------------------------------------------------------------------------------

class FakeIndex:
    """A GSI keyed by status_shard with a datetime sort key: what DynamoDB answers to Query, and what it read."""

    def __init__(self, items: list, range_attr: str) -> None:
        self.items, self.range_attr = items, range_attr
        self.calls: Counter[str] = Counter()
        self.read = 0

    def _order(self, item) -> tuple[str, str]:
        return (getattr(RegistrationItem, self.range_attr).serialize(getattr(item, self.range_attr)), item.id)

    def query(self, hash_value, range_condition=None, *, filter_condition=None, scan_index_forward=True,
              limit=None, page_size=None, last_evaluated_key=None):
        assert range_condition is None and filter_condition is None
        self.calls[hash_value] += 1
        rows = sorted((i for i in self.items if i.status_shard == hash_value), key=self._order,
                      reverse=not scan_index_forward)
        if last_evaluated_key is not None:
            assert last_evaluated_key["status_shard"]["S"] == hash_value  # DynamoDB refuses another partition
            after = (last_evaluated_key[self.range_attr]["S"], last_evaluated_key["id"]["S"])
            rows = [r for r in rows if (self._order(r) > after if scan_index_forward else self._order(r) < after)]
        page = rows[:limit]
        self.read += len(page)
        last = page[-1] if limit is not None and len(page) == limit else None
        lek = None if last is None else {"id": {"S": last.id}, "status_shard": {"S": hash_value},
                                         self.range_attr: {"S": self._order(last)[0]}}
        return SimpleNamespace(items=page, last_evaluated_key=lek)


class _Result(list):
    last_evaluated_key: dict | None = None


def _install(monkeypatch, items, count, range_attr="created_at") -> FakeIndex:
    fake = FakeIndex(items, range_attr)

    def query(*args, **kwargs):
        answer = fake.query(*args, **kwargs)
        out = _Result(answer.items)
        out.last_evaluated_key = answer.last_evaluated_key
        return out

    monkeypatch.setattr(status_index, "shard_count", lambda: count)
    monkeypatch.setattr(status_index, "_index", lambda name: SimpleNamespace(query=query))
    return fake


def _items(n: int, count: int, rng: random.Random, status: str = "approved") -> list:
    out = []
    for i in range(n):
        reg_id = f"reg_{i:04d}"
        at = T0 + timedelta(minutes=rng.randrange(n // 3 + 1))  # ties on the sort key, within and across shards
        out.append(SimpleNamespace(id=reg_id, created_at=at, due_at=at,
                                   status_shard=status_index.shard_key(status, reg_id, count)))
    return out


def _all_pages(limit: int, *, forward: bool, index: str = "created") -> tuple[list, int]:
    got, cursor, pages = [], None, 0
    while True:
        page, cursor = status_index.page(index, "approved", forward=forward, limit=limit, cursor=cursor)
        assert len(page) <= limit
        got.extend(page)
        pages += 1
        if cursor is None:
            return got, pages
        cursor = registrations.decode_cursor(registrations.encode_cursor(cursor))  # as a client sends it back


@pytest.mark.parametrize("count", [1, 3, 8])
@pytest.mark.parametrize("limit", [1, 4, 25, 500])
@pytest.mark.parametrize("forward", [True, False])
def test_pages_across_shards_return_every_item_once_in_sort_key_order(monkeypatch, count, limit, forward):
    items = _items(57, count, random.Random(count * 100 + limit))
    _install(monkeypatch, items, count)
    got, pages = _all_pages(limit, forward=forward)
    assert sorted(i.id for i in got) == sorted(i.id for i in items)  # each exactly once
    keys = [i.created_at for i in got]
    assert keys == sorted(keys, reverse=not forward)
    assert pages <= len(items) // limit + 2


def test_the_due_index_pages_by_due_at(monkeypatch):
    items = _items(40, 8, random.Random(5))
    for n, i in enumerate(items):
        i.due_at = T0 + timedelta(hours=(n * 7) % 40)
    _install(monkeypatch, items, 8, range_attr="due_at")
    got, _ = _all_pages(6, forward=True, index="due")
    assert [i.due_at for i in got] == sorted(i.due_at for i in items)


def test_a_page_reads_its_share_from_each_shard_not_every_shard_whole(monkeypatch):
    items = _items(2000, 8, random.Random(1))
    fake = _install(monkeypatch, items, 8)
    page, cursor = status_index.page("created", "approved", forward=False, limit=50)
    assert len(page) == 50 and cursor is not None
    chunk = status_index._chunk(50)
    assert fake.read <= 50 + 8 * chunk  # the page plus at most one chunk per shard left over
    assert set(fake.calls) == {f"approved#{n}" for n in range(8)}  # every shard asked
    assert sum(fake.calls.values()) <= 8 + 50 // (chunk - 1) + 1


def test_an_empty_status_answers_no_items_and_no_cursor(monkeypatch):
    _install(monkeypatch, [], 8)
    assert status_index.page("created", "approved", forward=True, limit=10) == ([], None)


def test_iterate_merges_every_shard_in_order(monkeypatch):
    items = _items(120, 8, random.Random(3))
    _install(monkeypatch, items, 8)
    got = list(status_index.iterate("created", "approved", forward=False, page_size=7))
    assert sorted(i.id for i in got) == sorted(i.id for i in items)
    assert [i.created_at for i in got] == sorted((i.created_at for i in items), reverse=True)


def test_a_cursor_of_another_listing_or_shard_count_is_refused(monkeypatch):
    items = _items(30, 8, random.Random(2))
    _install(monkeypatch, items, 8)
    _, cursor = status_index.page("created", "approved", forward=True, limit=5)
    assert cursor is not None and cursor["x"] == {"S": "created|approved"}
    with pytest.raises(ValueError, match="another listing"):
        status_index.page("created", "reclaimed", forward=True, limit=5, cursor=cursor)
    with pytest.raises(ValueError, match="another listing"):
        status_index.page("due", "approved", forward=True, limit=5, cursor=cursor)
    with pytest.raises(ValueError, match="another listing"):  # a plain DynamoDB key from before the shards
        status_index.page("created", "approved", forward=True, limit=5,
                          cursor={"id": {"S": "reg_1"}, "status": {"S": "approved"}, "created_at": {"S": "x"}})
    monkeypatch.setattr(status_index, "shard_count", lambda: 4)
    with pytest.raises(ValueError, match="shard count"):
        status_index.page("created", "approved", forward=True, limit=5,
                          cursor={**cursor, "7": {"S": "2026-12-01T00:00:00.000000+0000|reg_1"}})
    monkeypatch.setattr(status_index, "shard_count", lambda: 8)
    with pytest.raises(ValueError, match="not a cursor"):
        status_index.page("created", "approved", forward=True, limit=5, cursor={**cursor, "1": {"S": "garbage"}})
