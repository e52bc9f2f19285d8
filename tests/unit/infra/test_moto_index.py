"""``infra.local.moto_index``: a patched Query answers exactly what moto 5.2.5's own table walk answers, while
reading only the candidates (one partition, one index bucket) — through puts, in-place updates that move an
item between index keys or out of a sparse index, deletes, batch writes and cancelled transactions."""
from __future__ import annotations

import random

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws

from infra.local import moto_index

TABLE = "indexed"


@pytest.fixture()
def ddb():
    from infra.local.stack import _fix_cancelled_transaction_streams, _snapshot_only_touched_items

    moto_index.install()
    _snapshot_only_touched_items()
    _fix_cancelled_transaction_streams()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in
                                  (("pk", "S"), ("sk", "S"), ("g", "S"), ("gr", "N"), ("h", "S"))],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {"IndexName": "ByG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                   {"AttributeName": "gr", "KeyType": "RANGE"}],
                 "Projection": {"ProjectionType": "ALL"}},
                {"IndexName": "ByH", "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "KEYS_ONLY"}},
            ])
        yield client


@pytest.fixture()
def walked(monkeypatch) -> list[tuple]:
    """Every ``Table.query`` a request makes is answered a second time by moto's own walk of the whole table
    (the unpatched query: same arguments, same table state, right after): a list of (patched, walked) pairs.

    Each is moto's query result — the items as JSON, ScannedCount, LastEvaluatedKey — from which moto's
    response writes the whole answer, so equal pairs are equal answers; the walk just needs no second request
    (writing and reading a second answer was most of this file's time). ``_unpatched`` below still compares
    whole answers, request to response."""
    from moto.dynamodb.models.table import Table

    moto_index.install()
    patched = Table.query
    pairs: list[tuple] = []

    def query(self, *args, **kwargs):
        answer = patched(self, *args, **kwargs)
        pairs.append((_result(answer), _result(Table._dealreg_unpatched_query(self, *args, **kwargs))))
        return answer

    monkeypatch.setattr(Table, "query", query)
    return pairs


def _result(answer: tuple) -> tuple:
    items, scanned, last_key = answer
    return ([i.to_json() for i in items], scanned,
            None if last_key is None else {k: v.to_json() for k, v in last_key.items()})


def _compared(client, walked: list[tuple], round_: int, **kwargs) -> None:
    """Every page of a query, each page's result asserted equal to moto's own walk's."""
    start = len(walked)
    pages = _answer(client, **kwargs)
    made = walked[start:]
    assert len(made) == len(pages)  # each page was one query of the table, and each was walked again
    for patched, walk in made:
        assert patched == walk, (round_, kwargs)


def _answer(client, **kwargs) -> list[dict]:
    """Every page of a query (of ``TABLE`` unless a TableName is given), without response metadata."""
    kwargs.setdefault("TableName", TABLE)
    pages, start = [], None
    while True:
        page = client.query(**kwargs, **({"ExclusiveStartKey": start} if start else {}))
        page.pop("ResponseMetadata", None)
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


def _unpatched(client, monkeypatch, **kwargs) -> list[dict]:
    with monkeypatch.context() as m:
        m.setattr(moto_index, "_query_candidates", lambda *a, **k: None)  # moto's own walk of the table
        return _answer(client, **kwargs)


QUERIES = [
    *({"IndexName": "ByG", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": g}}}
      for g in ("a", "b", "c")),
    {"IndexName": "ByG", "KeyConditionExpression": "g = :g AND gr > :n",
     "ExpressionAttributeValues": {":g": {"S": "a"}, ":n": {"N": "3"}}, "ScanIndexForward": False},
    {"IndexName": "ByG", "KeyConditionExpression": "g = :g", "Limit": 2,
     "ExpressionAttributeValues": {":g": {"S": "b"}}},
    {"IndexName": "ByG", "KeyConditionExpression": "g = :g", "FilterExpression": "attribute_exists(h)",
     "ExpressionAttributeValues": {":g": {"S": "c"}}},
    *({"IndexName": "ByH", "KeyConditionExpression": "h = :h", "ExpressionAttributeValues": {":h": {"S": h}}}
      for h in ("x", "y")),
    {"IndexName": "ByH", "KeyConditionExpression": "h = :h", "Limit": 3, "ScanIndexForward": False,
     "ExpressionAttributeValues": {":h": {"S": "x"}}},
    *({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": f"p{i}"}}} for i in range(4)),
    {"KeyConditionExpression": "pk = :p AND begins_with(sk, :s)", "Limit": 2,
     "ExpressionAttributeValues": {":p": {"S": "p1"}, ":s": {"S": "s1"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "absent"}}},
    {"IndexName": "ByG", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "none"}}},
]


def _random_item(rng: random.Random) -> dict:
    item = {"pk": {"S": f"p{rng.randrange(4)}"}, "sk": {"S": f"s{rng.randrange(30)}"}}
    if rng.random() < 0.7:  # sparse: some items carry no index key at all
        item["g"] = {"S": rng.choice("abc")}
    if rng.random() < 0.8:
        item["gr"] = {"N": str(rng.randrange(8))}
    if rng.random() < 0.5:
        item["h"] = {"S": rng.choice("xy")}
    return item


def _random_write(client, rng: random.Random) -> None:
    item = _random_item(rng)
    key = {"pk": item["pk"], "sk": item["sk"]}
    kind = rng.choice(["put", "put", "move", "unindex", "delete", "batch", "tx", "tx_cancel"])
    if kind == "put":
        client.put_item(TableName=TABLE, Item=item)
    elif kind == "move":  # an update in place that moves the item to another index key (or into the index)
        client.update_item(TableName=TABLE, Key=key, UpdateExpression="SET g = :g, gr = :n, h = :h",
                           ExpressionAttributeValues={":g": {"S": rng.choice("abc")}, ":n": {"N": str(rng.randrange(8))},
                                                      ":h": {"S": rng.choice("xy")}})
    elif kind == "unindex":  # out of the sparse index, in place
        client.update_item(TableName=TABLE, Key=key, UpdateExpression="REMOVE g, h")
    elif kind == "delete":
        client.delete_item(TableName=TABLE, Key=key)
    elif kind == "batch":
        writes = {}
        for _ in range(5):
            other = _random_item(rng)
            writes[(other["pk"]["S"], other["sk"]["S"])] = (
                {"PutRequest": {"Item": other}} if rng.random() < 0.7 else
                {"DeleteRequest": {"Key": {"pk": other["pk"], "sk": other["sk"]}}})
        client.batch_write_item(RequestItems={TABLE: list(writes.values())})
    else:
        ops, seen = [], set()
        for _ in range(4):
            other = _random_item(rng)
            k = (other["pk"]["S"], other["sk"]["S"])
            if k in seen:
                continue
            seen.add(k)
            okey = {"pk": other["pk"], "sk": other["sk"]}
            ops.append(rng.choice([
                {"Put": {"TableName": TABLE, "Item": other}},
                {"Update": {"TableName": TABLE, "Key": okey, "UpdateExpression": "SET g = :g",
                            "ExpressionAttributeValues": {":g": {"S": rng.choice("abc")}}}},
                {"Delete": {"TableName": TABLE, "Key": okey}},
            ]))
        if kind == "tx_cancel":
            ops.append({"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "never"}, "sk": {"S": "never"}},
                                           "ConditionExpression": "attribute_exists(pk)"}})
        try:
            client.transact_write_items(TransactItems=ops)
        except botocore.exceptions.ClientError as err:
            assert kind == "tx_cancel", err


def test_patched_queries_answer_what_moto_walking_the_table_answers(ddb, walked):
    rng = random.Random(24)
    for round_ in range(40):
        for _ in range(8):
            _random_write(ddb, rng)
        for query in QUERIES:
            _compared(ddb, walked, round_, **query)
    assert walked and any(patched[0] for patched, _ in walked)  # compared, and not only empty answers
    # the workload did exercise every index key and both sparse cases
    assert ddb.scan(TableName=TABLE)["Count"] > 40


def test_an_item_moved_between_index_keys_and_a_cancelled_move_and_a_delete(ddb, monkeypatch):
    key = {"pk": {"S": "p0"}, "sk": {"S": "s0"}}

    def gs(g: str) -> list[str]:
        answer = ddb.query(TableName=TABLE, IndexName="ByG", KeyConditionExpression="g = :g",
                           ExpressionAttributeValues={":g": {"S": g}})
        assert answer["Items"] == _unpatched(ddb, monkeypatch, IndexName="ByG", KeyConditionExpression="g = :g",
                                             ExpressionAttributeValues={":g": {"S": g}})[0]["Items"]
        return [i["sk"]["S"] for i in answer["Items"]]

    ddb.put_item(TableName=TABLE, Item={**key, "g": {"S": "a"}, "gr": {"N": "1"}})
    assert gs("a") == ["s0"] and gs("b") == []
    ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET g = :g", ExpressionAttributeValues={":g": {"S": "b"}})
    assert gs("a") == [] and gs("b") == ["s0"]
    with pytest.raises(botocore.exceptions.ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": key, "UpdateExpression": "SET g = :g",
                        "ExpressionAttributeValues": {":g": {"S": "c"}}}},
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "p1"}, "sk": {"S": "new"}, "g": {"S": "c"},
                                                  "gr": {"N": "2"}}}},
            {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "x"}, "sk": {"S": "x"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])
    assert gs("b") == ["s0"] and gs("c") == []  # the rollback put the item back under its old key
    ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="REMOVE gr")  # no range key: out of ByG
    assert gs("b") == []
    ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET gr = :n", ExpressionAttributeValues={":n": {"N": "5"}})
    assert gs("b") == ["s0"]
    ddb.delete_item(TableName=TABLE, Key=key)
    assert gs("b") == []


def test_a_query_reads_its_bucket_not_the_table(ddb, monkeypatch):
    with ddb_batch(ddb) as put:
        for i in range(300):
            put({"pk": {"S": f"p{i % 3}"}, "sk": {"S": f"s{i}"}, "g": {"S": "hot" if i < 5 else f"g{i}"},
                 "gr": {"N": str(i)}})
    seen: list[int] = []
    real = moto_index._query_candidates

    def spy(*args, **kwargs):
        answer = real(*args, **kwargs)
        seen.append(len(answer))
        return answer

    monkeypatch.setattr(moto_index, "_query_candidates", spy)
    answer = ddb.query(TableName=TABLE, IndexName="ByG", KeyConditionExpression="g = :g",
                       ExpressionAttributeValues={":g": {"S": "hot"}})
    assert [i["sk"]["S"] for i in answer["Items"]] == [f"s{i}" for i in range(5)]
    assert seen == [5]  # five candidates read, not 300
    ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p0"}})
    assert seen[-1] == 100  # one partition


class ddb_batch:  # noqa: N801 - a tiny context manager: puts in batches of 25
    def __init__(self, client) -> None:
        self.client, self.pending = client, []

    def __enter__(self):
        return self.pending.append

    def __exit__(self, *exc) -> None:
        for start in range(0, len(self.pending), 25):
            self.client.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": i}}
                                                               for i in self.pending[start:start + 25]]})


def test_another_moto_version_is_refused_loudly(monkeypatch):
    import moto

    monkeypatch.setattr(moto, "__version__", "5.2.6")
    with pytest.raises(moto_index.MotoVersionError, match="5.2.6"):
        moto_index.install()


def test_the_sharded_status_indexes_and_the_holders_active_index_are_kept_by_the_patch(walked):
    """Issue 15: ByStatusShardIndex / ByStatusShardDueIndex (string keys, sparse on due_at) and the holders'
    ByActiveIndex (number range key) answer through the patch exactly what moto's own walk answers, while
    status moves carry items between shards and counters move."""
    from infra.local.stack import _fix_cancelled_transaction_streams, _snapshot_only_touched_items
    from infra.resources import table_gsis, table_resource

    moto_index.install()
    _snapshot_only_touched_items()
    _fix_cancelled_transaction_streams()
    rng = random.Random(15)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for logical in ("registrations", "holders"):
            p = table_resource("t", logical)["Properties"]
            client.create_table(TableName=p["TableName"], BillingMode="PAY_PER_REQUEST", KeySchema=p["KeySchema"],
                                AttributeDefinitions=p["AttributeDefinitions"], GlobalSecondaryIndexes=table_gsis(p))
        statuses = ("approved", "reclaimed", "pending_review")
        for round_ in range(30):
            for _ in range(6):
                reg = f"reg_{rng.randrange(40)}"
                status = rng.choice(statuses)
                values = {":s": {"S": status}, ":h": {"S": f"{status}#{rng.randrange(3)}"},
                          ":c": {"S": f"2026-01-{rng.randrange(1, 28):02d}"}}
                if status == "approved":
                    values[":d"] = {"S": f"2026-02-{rng.randrange(1, 28):02d}"}
                    expr = "SET #s = :s, status_shard = :h, created_at = if_not_exists(created_at, :c), due_at = :d"
                else:
                    expr = "SET #s = :s, status_shard = :h, created_at = if_not_exists(created_at, :c) REMOVE due_at"
                client.update_item(TableName="t-registrations", Key={"id": {"S": reg}}, UpdateExpression=expr,
                                   ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=values)
                holder = f"holder#user:u{rng.randrange(12)}"
                client.update_item(TableName="t-holders", Key={"pk": {"S": holder}},
                                   UpdateExpression="ADD active :one SET load_shard = :l",
                                   ExpressionAttributeValues={":one": {"N": str(rng.choice((1, 1, -1)))},
                                                              ":l": {"S": f"active#{rng.randrange(3)}"}})
            queries = [
                *({"TableName": "t-registrations", "IndexName": index, "KeyConditionExpression": "status_shard = :h",
                   "ExpressionAttributeValues": {":h": {"S": f"{s}#{n}"}}, "ScanIndexForward": forward}
                  for index in ("ByStatusShardIndex", "ByStatusShardDueIndex") for s in statuses for n in range(3)
                  for forward in (True, False)),
                {"TableName": "t-registrations", "IndexName": "ByStatusShardDueIndex", "Limit": 2,
                 "KeyConditionExpression": "status_shard = :h AND due_at <= :d",
                 "ExpressionAttributeValues": {":h": {"S": "approved#1"}, ":d": {"S": "2026-02-15"}}},
                *({"TableName": "t-holders", "IndexName": "ByActiveIndex",
                   "KeyConditionExpression": "load_shard = :l AND active > :n",
                   "ExpressionAttributeValues": {":l": {"S": f"active#{n}"}, ":n": {"N": str(floor)}}}
                  for n in range(3) for floor in (0, 2)),
            ]
            for query in queries:
                _compared(client, walked, round_, **query)
        answered = _answer(client, TableName="t-registrations", IndexName="ByStatusShardDueIndex",
                           KeyConditionExpression="status_shard = :h",
                           ExpressionAttributeValues={":h": {"S": "reclaimed#0"}})
        assert all(not page["Items"] for page in answered)  # sparse: no due time, not in the due index

