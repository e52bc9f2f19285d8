"""The DynamoDB blocking index (store.dedup) on the suite's moto, over HTTP: the bulk loader writes exactly
what the handler's per-customer writes do, and a check reads a bounded number of items, never scanning
(counted with botocore event hooks on the client PynamoDB uses)."""
from __future__ import annotations

import pytest

from chalicelib.domain.dedup_keys import exact_keys, name_forms
from chalicelib.domain.dedup_match import EXACT_LIMIT, MAX_QUERY_KEYS, POSTING_BUDGET

NAMES = ["华为技术有限公司", "华为终端有限公司", "京东方科技集团股份有限公司", "北京京东世纪贸易有限公司",
         "General Motors Company", "General Mills Inc.", "International Business Machines Corp.",
         "Kelsun Robotics GmbH", "Kelsun Foods Ltd"] + [f"Norpra{chr(97 + i)} Trading Co" for i in range(4)]


def _entries(names):
    return [(f"name:{name_forms(n).compact}", n, name_forms(n), exact_keys(n)) for n in names]


def _table():
    from chalicelib.store.models import DedupIndexItem

    return {(i.pk, i.sk): (i.name, i.core, i.keys, i.n) for i in DedupIndexItem.scan()}


class _Reads:
    """Items returned by Query/GetItem and keys requested by BatchGetItem; a Scan fails the test."""

    def __init__(self, client):
        self.items, self.operations = 0, []
        client.meta.events.register("before-parameter-build.dynamodb", self.before)
        client.meta.events.register("after-call.dynamodb", self.after)
        self.client = client

    def before(self, params, model, **_):
        assert model.name != "Scan", "a duplicate check must never Scan"
        self.operations.append(model.name)
        if model.name == "BatchGetItem":
            self.items += sum(len(t["Keys"]) for t in params["RequestItems"].values())

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

    # few names: moto copies the whole table for every item of a transaction
    names = ["华为技术有限公司", "华为终端有限公司", "Kelsun Robotics GmbH", "Kelsun Foods Ltd"]
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
    # exact: the name key is known, so only its counter and its postings are read
    reads.items, reads.operations = 0, []
    forms = name_forms("华为技术有限公司")
    found = store.candidates(forms, exact_keys("华为技术有限公司"))
    assert [c.name for c in found] == ["华为技术有限公司"]
    assert reads.items <= 1 + EXACT_LIMIT and reads.operations == ["BatchGetItem", "Query"]
    # cross-script: the Latin spelling finds the Chinese name through its pinyin key
    assert "华为技术有限公司" in [c.name for c in store.candidates(name_forms("Huawei"), [])]
