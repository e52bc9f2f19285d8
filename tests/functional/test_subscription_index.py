"""The persisted subscriptions index (issue 15 item 4): changes reach the next poll without any Scan, a cold
poller loads the snapshot plus the log, two writers never lose a change, two compactors never corrupt it.

Feeds are our own RSS documents served from 127.0.0.1; AWS is moto over HTTP. Scans are counted on the
recorder every AWS call of a function passes through (``infra/iam_check.py``), so the checks below see the
calls the Lambda functions would make.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import iam_check
from tests.contract.harness import LocalServer, Reply
from tests.functional.helpers import make_user

T0 = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)


class Feed:
    """One RSS feed whose items the test sets before each poll."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []  # (guid, title)
        self.server = LocalServer(self.respond)

    def respond(self, seen: Any) -> Reply:
        items = "".join(f"<item><guid>{g}</guid><title>{t}</title><link>https://example.org/{g}</link></item>"
                        for g, t in self.items)
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
        return Reply(200, body.encode(), {"Content-Type": "application/rss+xml"})


@contextmanager
def _scans() -> Iterator[list[str]]:
    """The names of the tables Scanned while the block runs."""
    from chalicelib.store.models import SubscriptionItem

    calls: list[str] = []

    def scans(**kw: Any) -> None:
        calls.append(kw["model"].name)

    client = SubscriptionItem._get_connection().connection.client
    client.meta.events.register("before-call.dynamodb.Scan", scans)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.dynamodb.Scan", scans)


@pytest.fixture
def feed(suite, monkeypatch):
    from chalicelib import settings
    from chalicelib.services import tenders as service

    f = Feed()
    with f.server:
        source = {"name": "council", "connector": "tender_rss", "every_minutes": 5,
                  "config": {"source": "council", "feed_url": f.server.url("/rss.xml")}}
        monkeypatch.setenv("DEALREG_TENDER_SOURCES", json.dumps([source]))
        monkeypatch.setenv("DEALREG_TENDER_ALLOW_LOOPBACK", "1")
        settings.reset()
        monkeypatch.setattr(service, "_INDEX", None)
        yield f
    settings.reset()


def _poll(suite, at: datetime) -> None:
    from chalicelib import clock

    clock.set_clock(clock.FrozenClock(at))
    suite.runner.run_schedule("poll_tender_feeds")


def _alerted(rep: str) -> set[str]:
    from chalicelib.store import tenders as store

    return {a.tender_id for a in store.alerts_for(rep)}


def _tender_id(guid: str) -> str:
    from chalicelib.store.models import TenderItem

    title = dict(_FEED_ITEMS)[guid]
    return next(t.tender_id for t in TenderItem.scan() if t.title == title)


_FEED_ITEMS = [("n1", "Cycle lane improvements on the high street"), ("n2", "Cycle lane and bridge works"),
               ("n3", "Bridge resurfacing, 自行车道 marking"), ("n4", "Resurfacing of the bridge deck")]


def _subscribe(suite, key: str, body: dict) -> str:
    answer = suite.api.post("/v1/subscriptions", body, key)
    assert answer.status == 201, answer.body
    return answer.json()["id"]


def _operations(mark: int, function: str) -> list[str]:
    return [r.operation for r in iam_check.RECORDER.since(mark) if r.function == function]


def test_api_changes_reach_the_next_poll_warm_and_cold_without_a_scan(suite, feed, monkeypatch):
    from chalicelib.services import tenders as service
    from chalicelib.store import tenders as store

    wang, li = make_user("wang", "rep"), make_user("li", "rep")
    mark = iam_check.RECORDER.mark()
    cycle = _subscribe(suite, wang, {"keywords": {"include": ["cycle lane"]}})
    feed.items = _FEED_ITEMS[:1]
    _poll(suite, T0)
    assert _alerted("wang") == {_tender_id("n1")}

    # WHEN wang unsubscribes and li subscribes, through the API, between two polls of a warm poller
    assert suite.api.request("DELETE", f"/v1/subscriptions/{cycle}", headers={"Authorization": f"Bearer {wang}"}).status == 204
    _subscribe(suite, li, {"keywords": {"include": ["bridge", "自行车道"]}})
    feed.items = _FEED_ITEMS[:2]
    _poll(suite, T0 + timedelta(minutes=10))
    # THEN the next poll matches with the change applied
    assert _alerted("wang") == {_tender_id("n1")} and _alerted("li") == {_tender_id("n2")}
    assert service._INDEX.version == store.index_state().version == 3

    # AND a cold poller (a fresh container) loads the log, writes a snapshot when told the log is long...
    monkeypatch.setattr(service, "_INDEX", None)
    monkeypatch.setattr(service, "COMPACT_AFTER", 2)
    _subscribe(suite, wang, {"keywords": {"include": ["resurfacing"]}})
    feed.items = _FEED_ITEMS[:3]
    _poll(suite, T0 + timedelta(minutes=20))
    assert _alerted("wang") == {_tender_id("n1"), _tender_id("n3")} and _alerted("li") == {_tender_id(g) for g in ("n2", "n3")}
    state = store.index_state()
    assert state.snap_id is not None and state.snap_version == state.version == 4
    assert store.changes(1, 4) is None  # the log the snapshot holds is deleted

    # ...and the next cold poller loads that snapshot plus the change made after it
    monkeypatch.setattr(service, "_INDEX", None)
    _subscribe(suite, li, {"regions": ["zz-nowhere"]})
    feed.items = _FEED_ITEMS[:4]
    _poll(suite, T0 + timedelta(minutes=30))
    assert _alerted("wang") == {_tender_id(g) for g in ("n1", "n3", "n4")}
    assert _alerted("li") == {_tender_id(g) for g in ("n2", "n3", "n4")}
    assert sorted(c.rep_id for c in service._INDEX) == ["li", "li", "wang"] and service._INDEX.version == 5

    poller = _operations(mark, "poll_tender_feeds")
    assert "BatchGetItem" in poller and "BatchWriteItem" in poller  # the recorder saw the poller's reads
    assert "Scan" not in poller and "Scan" not in _operations(mark, iam_check.API_FUNCTION)


def test_a_table_written_before_the_change_log_is_bootstrapped_once(suite):
    """A deployment upgraded from the Scan-built index: subscriptions and a counter, no log. The first load
    scans once and writes the snapshot; loads after it do not scan."""
    from chalicelib.services import tenders as service
    from chalicelib.store import tenders as store
    from chalicelib.store.models import SubscriptionItem
    from schemas.tender import Subscription

    for i, region in enumerate(["GB", "FR"]):
        sub = Subscription(id=f"sub_old{i}", rep_id="wang", created_at=T0, regions=[region])
        SubscriptionItem(id=sub.id, rep_id="wang", data=sub.model_dump(mode="json"), created_at=T0.isoformat()).save()
    SubscriptionItem(id=store.META_VERSION, counter=2, created_at="epoch-old").save()
    service._INDEX = None
    with _scans() as calls:
        first = service.current_index()
        assert sorted(c.regions for c in first) == [("fr",), ("gb",)] and len(calls) == 1
        assert store.index_state().snap_version == 2
        service._INDEX = None
        again = service.current_index()
        assert sorted(c.regions for c in again) == [("fr",), ("gb",)] and len(calls) == 1  # no second Scan
    service._INDEX = None


def test_concurrent_writers_never_lose_a_change(suite):
    """Writers in threads against the same table: every change gets its own version and log entry, and the
    index loaded from the log holds exactly the subscriptions left."""
    from chalicelib.services import tenders as service
    from chalicelib.store import tenders as store
    from schemas.tender import Subscription

    writers, each = 4, 5
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(w: int) -> None:
        try:
            start.wait()
            for i in range(each):
                store.create_subscription(Subscription(id=f"sub_w{w}_{i}", rep_id=f"rep{w}", created_at=T0,
                                                       keywords={"include": [f"term{w} {i}"]}))
            assert store.delete_subscription(f"sub_w{w}_0", f"rep{w}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    state = store.index_state()
    assert state.version == writers * (each + 1)
    log = store.changes(1, state.version)
    assert log is not None and len({(c["op"], c["id"]) for c in log}) == writers * (each + 1)
    service._INDEX = None
    index = service.current_index()
    assert sorted(c.id for c in index) == sorted(f"sub_w{w}_{i}" for w in range(writers) for i in range(1, each))
    service._INDEX = None


def test_a_writer_that_read_a_stale_version_retries_at_the_next_one(suite, monkeypatch):
    """Deterministic interleaving: writer A reads version 1, writer B then writes version 2, A's transaction
    is refused (the version moved) and A writes version 3; both changes are in the log."""
    from chalicelib.store import tenders as store
    from schemas.tender import Subscription

    store.create_subscription(Subscription(id="sub_first", rep_id="wang", created_at=T0, regions=["GB"]))
    real = store.index_state
    reads: list[int] = []

    def stale_once() -> Any:
        state = real()
        reads.append(state.version)
        if len(reads) == 1:  # B slips in after A's read
            monkeypatch.setattr(store, "index_state", real)
            store.create_subscription(Subscription(id="sub_b", rep_id="li", created_at=T0, regions=["FR"]))
            monkeypatch.setattr(store, "index_state", stale_once)
        return state

    monkeypatch.setattr(store, "index_state", stale_once)
    store.create_subscription(Subscription(id="sub_a", rep_id="wang", created_at=T0, regions=["DE"]))
    monkeypatch.setattr(store, "index_state", real)
    assert reads == [1, 2]  # A read 1, lost, read again (2) and wrote 3
    assert [(c["op"], c["id"]) for c in store.changes(1, 3) or []] == [
        ("put", "sub_first"), ("put", "sub_b"), ("put", "sub_a")]


def test_two_compactors_one_snapshot_wins_and_the_other_leaves_nothing(suite):
    from chalicelib.domain.tender_matching import SNAPSHOT_FORMAT, encode_snapshot
    from chalicelib.services import tenders as service
    from chalicelib.store import tenders as store
    from chalicelib.store.models import SubscriptionItem
    from schemas.tender import Subscription

    for i in range(3):
        store.create_subscription(Subscription(id=f"sub_{i}", rep_id="wang", created_at=T0, regions=[f"R{i}"]))
    service._INDEX = None
    index = service.current_index()
    state = store.index_state()
    chunks = encode_snapshot(index)
    assert store.write_snapshot(chunks, index.version, SNAPSHOT_FORMAT, state)
    assert not store.write_snapshot(chunks, index.version, SNAPSHOT_FORMAT, state)  # read the same state: refused
    ids = sorted(i.id for i in SubscriptionItem.scan() if i.id.startswith(store.CHUNK_PREFIX))
    assert ids == [f"{store.CHUNK_PREFIX}{store.index_state().snap_id}#0"]  # the loser's chunks are gone
    service._INDEX = None
    assert sorted(c.regions for c in service.current_index()) == [("r0",), ("r1",), ("r2",)]
    service._INDEX = None


def test_a_reps_alerts_are_a_query_not_a_scan(suite):
    from chalicelib.store import tenders as store
    from chalicelib.store.models import TenderAlertItem

    for rep, tender in [("wang", "tnd_1"), ("li", "tnd_1"), ("wang", "tnd_2")]:
        assert store.create_alert(rep, tender, ["sub_x"], "immediate", T0)
    seen: list[str] = []

    def record(**kw: Any) -> None:
        seen.append(kw["model"].name)

    events = TenderAlertItem._get_connection().connection.client.meta.events
    events.register("before-call.dynamodb", record)
    try:
        assert sorted(a.tender_id for a in store.alerts_for("wang")) == ["tnd_1", "tnd_2"]
    finally:
        events.unregister("before-call.dynamodb", record)
    assert seen == ["Query"]


def test_a_writer_that_keeps_losing_the_version_gets_a_503_and_nothing_is_stored(suite, monkeypatch):
    from chalicelib.store import tenders as store

    key = make_user("wang", "rep")
    _subscribe(suite, key, {"regions": ["GB"]})
    real = store.index_state
    monkeypatch.setattr(store, "index_state", lambda: store.IndexState(epoch=real().epoch, version=0))  # always stale
    monkeypatch.setattr(store.time, "sleep", lambda _s: None)
    answer = suite.api.post("/v1/subscriptions", {"regions": ["FR"]}, key)
    assert answer.status == 503 and answer.json()["code"] == "busy"
    monkeypatch.setattr(store, "index_state", real)
    assert store.index_state().version == 1 and [s.regions for s in store.subscriptions_of("wang")] == [["GB"]]


def test_a_write_without_its_log_entry_is_healed_by_one_scan(suite, monkeypatch):
    """During a deployment an API function of the previous release may still bump the counter without a log
    entry: the poller finds the hole, rebuilds once from a Scan (as a snapshot) instead of failing every poll."""
    from chalicelib.services import tenders as service
    from chalicelib.store import tenders as store
    from chalicelib.store.models import SubscriptionItem
    from schemas.tender import Subscription

    monkeypatch.setattr(service, "COMPACT_AFTER", 1)
    store.create_subscription(Subscription(id="sub_new", rep_id="wang", created_at=T0, regions=["GB"]))
    service._INDEX = None
    service.current_index()
    assert store.index_state().snap_version == 1
    old = Subscription(id="sub_oldcode", rep_id="li", created_at=T0, regions=["FR"])  # the previous release's write
    SubscriptionItem(id=old.id, rep_id="li", data=old.model_dump(mode="json"), created_at=T0.isoformat()).save()
    SubscriptionItem(id=store.META_VERSION).update(actions=[SubscriptionItem.counter.add(1)])
    service._INDEX = None
    index = service.current_index()
    assert sorted(c.id for c in index) == ["sub_new", "sub_oldcode"] and index.version == 2
    assert store.index_state().snap_version == 2  # healed: the next loads read this snapshot
    service._INDEX = None


def test_a_snapshot_of_the_previous_format_is_read_without_a_scan_and_replaced(suite):
    """An upgraded stack holds a snapshot in the previous release's format (marshalled rows): the first cold
    poller reads it (no Scan), applies the log after it and writes a snapshot of the current format; the next
    cold poller reads that one."""
    import marshal
    import zlib

    from chalicelib.domain.tender_matching import ROWS_FORMAT, SNAPSHOT_FORMAT, Criteria
    from chalicelib.services import tenders as service
    from chalicelib.store import tenders as store
    from schemas.tender import Subscription

    subs = [Subscription(id=f"sub_{i}", rep_id="wang", created_at=T0, regions=[f"R{i}"]) for i in range(3)]
    for s in subs[:2]:
        store.create_subscription(s)
    old_chunks = [zlib.compress(marshal.dumps([tuple(Criteria.from_subscription(s).to_row())]), 6) for s in subs[:2]]
    assert store.write_snapshot(old_chunks, 2, ROWS_FORMAT, store.index_state())
    store.create_subscription(subs[2])  # a change after the old snapshot
    with _scans() as calls:
        service._INDEX = None
        first = service.current_index()
        assert sorted(c.regions for c in first) == [("r0",), ("r1",), ("r2",)] and first.version == 3
        state = store.index_state()
        assert state.snap_format == SNAPSHOT_FORMAT and state.snap_version == 3  # replaced at once
        service._INDEX = None
        again = service.current_index()
        assert sorted(c.regions for c in again) == [("r0",), ("r1",), ("r2",)] and again.version == 3
        assert calls == []
    service._INDEX = None
