"""The DynamoDB blocking index (store.dedup) on the suite's moto, over HTTP: the bulk loader writes exactly
what the handler's per-customer writes do, and a check reads a bounded number of items, never scanning
(counted with botocore event hooks on the client PynamoDB uses)."""
from __future__ import annotations

import pytest

from bench.dedup_writes import item_size
from chalicelib.domain.dedup_keys import exact_keys, name_forms
from chalicelib.domain.dedup_match import EXACT_LIMIT, MAX_QUERY_KEYS, POSTING_BUDGET

NAMES = ["华为技术有限公司", "华为终端有限公司", "京东方科技集团股份有限公司", "北京京东世纪贸易有限公司",
         "General Motors Company", "General Mills Inc.", "International Business Machines Corp.",
         "Kelsun Robotics GmbH", "Kelsun Foods Ltd"] + [f"Norpra{chr(97 + i)} Trading Co" for i in range(4)]


def _entries(names):
    return [(f"name:{name_forms(n).compact}", n, name_forms(n), exact_keys(n)) for n in names]


def _table():
    from chalicelib.store.models import DedupIndexItem

    return {(i.pk, i.sk): (i.name, i.core, i.keys, i.n, i.ref) for i in DedupIndexItem.scan()}


class _Reads:
    """Items returned by Query/GetItem and keys requested by BatchGetItem; a Scan fails the test."""

    def __init__(self, client):
        self.items, self.operations, self.queried = 0, [], []
        client.meta.events.register("before-parameter-build.dynamodb", self.before)
        client.meta.events.register("after-call.dynamodb", self.after)
        self.client = client

    def before(self, params, model, **_):
        assert model.name != "Scan", "a duplicate check must never Scan"
        self.operations.append(model.name)
        if model.name == "BatchGetItem":
            self.items += sum(len(t["Keys"]) for t in params["RequestItems"].values())
        elif model.name == "Query":
            self.queried.extend(v.get("S") for v in params.get("ExpressionAttributeValues", {}).values())

    def after(self, parsed, model, **_):
        if model.name == "Query":
            self.items += len(parsed.get("Items", []))
        elif model.name == "GetItem":
            self.items += 1 if parsed.get("Item") else 0

    def close(self):
        self.client.meta.events.unregister("before-parameter-build.dynamodb", self.before)
        self.client.meta.events.unregister("after-call.dynamodb", self.after)


@pytest.fixture
def reads(suite):
    from chalicelib.store.models import DedupIndexItem

    counter = _Reads(DedupIndexItem._get_connection().connection.client)
    yield counter
    counter.close()


def test_bulk_load_writes_the_same_items_as_indexing_one_customer_at_a_time(suite):
    from chalicelib.clock import now
    from chalicelib.store import dedup as store
    from chalicelib.store.models import DedupIndexItem

    names = ["华为技术有限公司", "华为终端有限公司", "华为云计算技术有限公司", "Kelsun Robotics GmbH", "Kelsun Foods Ltd",
             "Kelsun Food Systems"]
    at = now()
    for key, name, forms, exact in _entries(names):
        assert store.index_customer(key, name, forms, exact, now=at)
    one_by_one = _table()
    for item in DedupIndexItem.scan():
        item.delete()
    assert store.load_empty_index(_entries(names), now=at) == len(one_by_one)
    assert _table() == one_by_one


def test_a_check_reads_a_bounded_number_of_items_and_never_scans(suite, reads):
    from chalicelib.clock import now
    from chalicelib.store import dedup as store

    store.load_empty_index(_entries(NAMES), now=now())
    # fuzzy: a typo in the brand, no exact key known
    reads.items, reads.operations = 0, []
    found = store.candidates(name_forms("Kelsnu Robotics"), [])
    assert found[0].name == "Kelsun Robotics GmbH"
    assert 0 < reads.items <= MAX_QUERY_KEYS + POSTING_BUDGET
    assert set(reads.operations) <= {"BatchGetItem", "Query"}
    # exact: the name key is known, so only its head (which carries its one posting) and the rest of its
    # postings (none) are read
    reads.items, reads.operations = 0, []
    forms = name_forms("华为技术有限公司")
    found = store.candidates(forms, exact_keys("华为技术有限公司"))
    assert [c.name for c in found] == ["华为技术有限公司"]
    assert reads.items == 1 and reads.operations == ["BatchGetItem", "Query"]
    # cross-script: the Latin spelling finds the Chinese name through its pinyin key
    assert "华为技术有限公司" in [c.name for c in store.candidates(name_forms("Huawei"), [])]


class _Writes:
    """Write units of every write request made (counted from the requests, not timing): a put costs one
    unit per KB of its item, an update one (heads stay under 1 KB: checked by the tests), each item of a
    transaction two. Failed conditional writes are counted too: DynamoDB charges them."""

    def __init__(self, client):
        self.units, self.operations, self.keys = 0, [], []
        client.meta.events.register("before-parameter-build.dynamodb", self.before)
        self.client = client

    def before(self, params, model, **_):
        name = model.name
        if name == "PutItem":
            self.add(name, -(-item_size(params["Item"]) // 1024), params["Item"]["pk"]["S"])
        elif name in ("UpdateItem", "DeleteItem"):
            self.add(name, 1, params["Key"]["pk"]["S"])
        elif name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for r in requests:
                    self.add(name, -(-item_size(r["PutRequest"]["Item"]) // 1024), r["PutRequest"]["Item"]["pk"]["S"])
        elif name == "TransactWriteItems":
            self.add(name, 2 * len(params["TransactItems"]), "")

    def add(self, operation, units, pk):
        self.units += units
        self.operations.append(operation)
        self.keys.append(pk)

    def reset(self):
        self.units, self.operations, self.keys = 0, [], []

    def close(self):
        self.client.meta.events.unregister("before-parameter-build.dynamodb", self.before)


@pytest.fixture
def writes(suite):
    from chalicelib.store.models import DedupIndexItem

    counter = _Writes(DedupIndexItem._get_connection().connection.client)
    yield counter
    counter.close()


def _view():
    """The index as a reader sees it: per key its mark and the customers it carries; the indexed names."""
    from chalicelib.store.models import DedupIndexItem

    keys: dict[str, tuple[int, set]] = {}
    markers = set()
    for i in DedupIndexItem.scan():
        if i.pk.startswith("#doc|"):
            markers.add(i.pk)
            continue
        mark, refs = keys.get(i.pk, (0, set()))
        if i.sk == "#":
            mark = int(i.n or 0)
        ref = i.ref if i.sk == "#" else i.sk
        keys[i.pk] = (mark, refs | ({ref} if ref else set()))
    return keys, markers


def test_a_new_customer_costs_one_write_unit_per_key_and_a_redelivery_none(suite, writes):
    from chalicelib.clock import now
    from chalicelib.domain.dedup_match import count_mark, stored_keys
    from chalicelib.store import dedup as store
    from chalicelib.store.models import DedupIndexItem

    store.load_empty_index(_entries(NAMES), now=now())
    name = "华为数字能源技术有限公司"
    key, name, forms, exact = _entries([name])[0]
    keys = stored_keys(forms, exact)
    before, _ = _view()
    writes.reset()
    assert store.index_customer(key, name, forms, exact, now=now())
    after, _ = _view()
    new = [k for k in keys if k not in before]
    known = [k for k in keys if k in before]
    raised = [k for k in known if after[k][0] != before[k][0]]
    assert after["x:name:华为数字能源技术"] == (1, {key}) and len(new) > 1 and known
    assert all(after[k][0] == count_mark(len(after[k][1])) for k in keys)
    # one head put per new key, one posting per known key, one mark per changed count, the marker: no transaction
    assert writes.units == len(new) + len(known) + len(raised) + 1
    assert "TransactWriteItems" not in writes.operations
    assert writes.operations.count("BatchWriteItem") == len(known)
    assert all(len(DedupIndexItem.get(k, "#").to_simple_dict()) and _headitem_size(k) < 1024 for k in keys)
    # the old layout wrote 2 units per item of one transaction: the marker, a counter and a posting per key
    assert writes.units < (2 * (1 + 2 * len(keys))) / 3
    writes.reset()
    assert not store.index_customer(key, name, forms, exact, now=now())  # a redelivery
    assert writes.units == 0 and _view()[0] == after


def _headitem_size(key):
    from chalicelib.store.models import DedupIndexItem

    return item_size(DedupIndexItem.get(key, "#").serialize())


def test_a_full_key_gets_no_more_writes_and_is_never_read(suite, writes, reads):
    from chalicelib.clock import now
    from chalicelib.domain.dedup_match import FULL, MAX_POSTINGS
    from chalicelib.store import dedup as store
    from chalicelib.store.models import DedupIndexItem

    many = [f"Kelsun {chr(97 + i % 26)}{chr(97 + i // 26)}x Trading" for i in range(MAX_POSTINGS + 1)]
    store.load_empty_index(_entries(many), now=now())
    assert DedupIndexItem.get("d:kelsun", "#").n == FULL  # the brand word's key (its d: identity)
    writes.reset()
    key, name, forms, exact = _entries(["Kelsun Qqz Trading"])[0]
    assert store.index_customer(key, name, forms, exact, now=now())
    assert "d:kelsun" not in writes.keys and "w:trading" not in writes.keys  # no counter past the cap
    reads.items, reads.operations = 0, []
    store.candidates(name_forms("Kelsun Trading"), [])
    assert reads.operations[0] == "BatchGetItem"
    assert "d:kelsun" not in reads.queried and "w:trading" not in reads.queried  # full: only their heads are read
    # a known exact key carried by many customers is read up to EXACT_LIMIT postings
    shared = [(f"uscc:{i:018d}", f"Norpra{chr(97 + i)} Trading", name_forms(f"Norpra{chr(97 + i)} Trading"),
               ["domain:norpra.example"]) for i in range(EXACT_LIMIT + 3)]
    store.load_empty_index(shared, now=now())
    reads.items = 0
    found = store.candidates(name_forms("whatever"), ["domain:norpra.example"])
    assert len(found) == EXACT_LIMIT and reads.items == EXACT_LIMIT


def _old_layout(entries, at):
    """The index as the code before issue 15 item 5 left it: postings, a counter ``#n|key`` per key
    (counting past the cap), a marker per customer name; no heads."""
    from chalicelib.domain.dedup_match import MAX_POSTINGS, stored_keys
    from chalicelib.store.models import DedupIndexItem

    counts: dict[str, int] = {}
    with DedupIndexItem.batch_write() as batch:
        for key, name, forms, exact in entries:
            batch.save(DedupIndexItem(f"#doc|{key}|{forms.compact}", "#", created_at=at))
            for k in stored_keys(forms, exact):
                counts[k] = counts.get(k, 0) + 1
                if counts[k] <= MAX_POSTINGS:
                    batch.save(DedupIndexItem(k, key, name=name, core=forms.compact, keys=list(exact), created_at=at))
        for k, n in counts.items():
            batch.save(DedupIndexItem(f"#n|{k}", "#", n=n))


def test_an_index_in_the_old_layout_is_migrated_to_what_a_fresh_build_reads(suite, capsys):
    from chalicelib.clock import now
    from chalicelib.domain.dedup_match import FULL, MAX_POSTINGS
    from chalicelib.store import dedup as store
    from chalicelib.store.models import DedupIndexItem

    entries = _entries(NAMES)
    store.load_empty_index(entries, now=now())
    fresh = _view()
    queries = ["Kelsnu Robotics", "华为", "Kelsun Foods", "Norpra Trading"]
    expected = [[c.ref for c in store.candidates(name_forms(q), [])] for q in queries]
    for item in DedupIndexItem.scan():
        item.delete()
    _old_layout(entries, now())
    from infra.cli import main

    assert main(["dedup", "migrate-index"]) == 0
    assert "converted" in capsys.readouterr().out
    assert not [i for i in DedupIndexItem.scan() if i.pk.startswith("#n|")]
    assert _view() == fresh
    assert [[c.ref for c in store.candidates(name_forms(q), [])] for q in queries] == expected
    assert store.migrate_counters() == 0  # rerun: nothing left to convert
    # the old counter kept counting past the cap while the postings stopped: such a key becomes full
    DedupIndexItem("#n|w:norpra", "#", n=MAX_POSTINGS + 40).save()
    assert store.migrate_counters() == 1 and DedupIndexItem.get("w:norpra", "#").n == FULL


@pytest.mark.parametrize("judging", [False, True], ids=["heads-read-when-indexing", "heads-read-when-judging"])
def test_concurrent_consumers_never_cancel_each_other_and_build_the_sequential_index(suite, writes, judging):
    # judging: each consumer reads the heads of all its names first (store.dedup.judging_heads, as a judgement
    # reads them before it stores its verdict), then indexes them: every read is as stale as it can get
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from chalicelib.clock import now
    from chalicelib.domain.dedup_match import count_mark
    from chalicelib.store import dedup as store
    from chalicelib.store.models import DedupIndexItem

    # the same names under different customer keys race on every head; the others share words with them
    same = [(f"uscc:91{i:016d}", "Kelsun Robotics GmbH", name_forms("Kelsun Robotics GmbH"),
             exact_keys("Kelsun Robotics GmbH")) for i in range(4)]
    entries = same + _entries(NAMES + ["华为数字能源技术有限公司", "Kelsun Robotic Systems", "Kelsun Food Systems"])
    at = now()
    consumers = 4
    barrier = Barrier(consumers)

    def consume(part):
        barrier.wait()
        heads = [store.judging_heads(key, forms, exact) if judging else None for key, _, forms, exact in part]
        return [store.index_customer(key, name, forms, exact, now=at, heads=read)
                for (key, name, forms, exact), read in zip(part, heads, strict=True)]

    writes.reset()
    with ThreadPoolExecutor(consumers) as pool:
        results = list(pool.map(consume, [entries[i::consumers] for i in range(consumers)]))
    assert all(ok for part in results for ok in part)  # every customer indexed, none failed
    assert "TransactWriteItems" not in writes.operations  # nothing to cancel
    concurrent = _view()
    keys, _ = concurrent
    assert all(mark == count_mark(len(refs)) for mark, refs in keys.values())
    assert keys["d:kelsun"][1] >= {key for key, *_ in same}
    for item in DedupIndexItem.scan():
        item.delete()
    for key, name, forms, exact in entries:
        assert store.index_customer(key, name, forms, exact, now=at)
    assert _view() == concurrent


# The key set of session 5 (before a customer was stored under fewer keys than a check reads), written out
# from that code's `stored_keys` for these names: customers indexed then keep these keys in a deployed index.
_SESSION5_KEYS = {
    "Kelsun Robotics GmbH": [
        "x:name:kelsunrobotics", "t:kel", "t:els", "t:lsu", "t:sun", "t:unr", "t:nro", "t:rob", "t:obo", "t:bot",
        "t:oti", "t:tic", "t:ics", "w:kelsun", "w:robotics", "p:kelsun robotics", "a:kr", "d:elsun", "d:klsun",
        "d:kesun", "d:kelun", "d:kelsn", "d:kelsu", "d:kelsun", "d:obotics", "d:rbotics", "d:rootics", "d:robtics",
        "d:roboics", "d:robotcs", "d:robotis", "d:robotic", "d:robotics", "e:elsun robotics", "e:klsun robotics",
        "e:kesun robotics", "e:kelun robotics", "e:kelsn robotics", "e:kelsu robotics", "e:kelsun robotics"],
    "阿里巴巴集团控股有限公司": [
        "x:name:阿里巴巴集团控股", "g:阿里", "g:里巴", "g:巴巴", "g:巴集", "g:集团", "g:团控", "g:控股", "w:aliba",
        "w:alibaba", "w:alibabaji", "h:阿里巴", "h:里巴巴", "h:巴巴集", "h:巴集团", "h:集团控", "h:团控股", "s:阿里",
        "s:阿巴", "s:阿集", "s:阿团", "s:阿控", "s:阿股"],
    "Huawei Technologies Co., Ltd.": [
        "x:name:huaweitechnologies", "w:huawei", "w:technologies", "p:huawei technologies", "a:ht", "d:uawei",
        "d:hawei", "d:huwei", "d:huaei", "d:huawi", "d:huawe", "d:huawei", "d:echnologies", "d:tchnologies",
        "d:tehnologies", "d:tecnologies", "d:techologies", "d:technlogies", "d:technoogies", "d:technolgies",
        "d:technoloies", "d:technologes", "d:technologis", "d:technologie", "d:technologies", "e:uawei technologies",
        "e:hawei technologies", "e:huwei technologies", "e:huaei technologies", "e:huawi technologies",
        "e:huawe technologies", "e:huawei technologies", "t:hua", "t:uaw", "t:wei", "t:ite", "t:ech", "t:chn",
        "t:nol", "t:log", "t:gie"],
}


def test_customers_indexed_under_the_older_larger_key_set_are_still_found(suite):
    """A check reads every namespace it read before (and more), so an index built before the smaller stored
    key set needs no migration: its customers are found by typo, short and cross-script checks."""
    from chalicelib.clock import now
    from chalicelib.domain.dedup_match import stored_keys
    from chalicelib.store import dedup as store
    from chalicelib.store.models import DedupIndexItem

    at = now()
    with DedupIndexItem.batch_write() as batch:
        for name, keys in _SESSION5_KEYS.items():
            forms, exact = name_forms(name), exact_keys(name)
            ref = f"name:{forms.compact}"
            # the session-5 code wrote exactly these keys; the current code writes fewer
            assert set(stored_keys(forms, exact)) < set(keys)
            batch.save(DedupIndexItem(f"#doc|{ref}|{forms.compact}", "#", created_at=at))
            for key in keys:
                batch.save(DedupIndexItem(key, "#", n=1, ref=ref, name=name, core=forms.compact, keys=exact, created_at=at))
    # and customers indexed since, under the smaller key set
    for key, name, forms, exact in _entries(["Kelsun Foods Ltd", "华为终端有限公司"]):
        assert store.index_customer(key, name, forms, exact, now=at)
    found = {q: [c.name for c in store.candidates(name_forms(q), [])] for q in (
        "Kelsnu Robotics", "Kelsun", "Kelsun Robotic", "Alibaba Group", "阿里巴巴", "华为技术有限公司", "Huawie Technologies",
        "Kelsun Food", "Huawei")}
    assert "Kelsun Robotics GmbH" in found["Kelsnu Robotics"] and "Kelsun Robotics GmbH" in found["Kelsun Robotic"]
    assert {"Kelsun Robotics GmbH", "Kelsun Foods Ltd"} <= set(found["Kelsun"])
    assert "阿里巴巴集团控股有限公司" in found["Alibaba Group"] and "阿里巴巴集团控股有限公司" in found["阿里巴巴"]
    assert "Huawei Technologies Co., Ltd." in found["华为技术有限公司"]
    assert "Huawei Technologies Co., Ltd." in found["Huawie Technologies"]
    assert "Kelsun Foods Ltd" in found["Kelsun Food"] and "华为终端有限公司" in found["Huawei"]


def test_a_new_english_customer_costs_at_most_25_write_units(suite, writes):
    """Issue 15 item 5's goal for the names that cost most: a Latin name with a long brand and three words,
    among known names (its generic words known), costs ≤ 25 units; session 5 stored it under 41 keys."""
    from chalicelib.clock import now
    from chalicelib.domain.dedup_match import stored_keys
    from chalicelib.store import dedup as store

    store.load_empty_index(_entries(NAMES), now=now())
    for name in ("Xaroslum Cora Motors Ltd", "Dalquawen Consulting plc", "北京绿资出租汽车有限责任公司"):
        key, name, forms, exact = _entries([name])[0]
        writes.reset()
        assert store.index_customer(key, name, forms, exact, now=now())
        assert writes.units <= 25 and len(stored_keys(forms, exact)) <= 24, (name, writes.units)
        assert "TransactWriteItems" not in writes.operations
