"""The local AWS stand-in: atomic under concurrency, provisioned from the template, snapshot round-trip."""
from __future__ import annotations

import threading

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model


def _table(suite, name: str):
    ddb = suite.client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])

    class Counter(Model):
        class Meta:
            table_name = name
            host = suite.moto_url
            region = "us-east-1"

        pk = UnicodeAttribute(hash_key=True)
        n = NumberAttribute(default=0)
        owner = UnicodeAttribute(null=True)

    return Counter


def _race(n_threads: int, work) -> None:
    start = threading.Barrier(n_threads)

    def run(i: int) -> None:
        start.wait()
        work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_add_updates_are_exact(suite):
    Counter = _table(suite, "atomic-add")
    Counter("c").save()

    def work(_: int) -> None:
        for _ in range(125):
            Counter("c").update(actions=[Counter.n.add(1)])

    _race(16, work)
    assert Counter.get("c", consistent_read=True).n == 2000


def test_conditional_put_race_has_exactly_one_winner(suite):
    Counter = _table(suite, "atomic-put")
    winners: list[int] = []
    losers: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            Counter("only", owner=f"t{i}").save(condition=Counter.pk.does_not_exist())
            with lock:
                winners.append(i)
        except PutError as exc:
            assert exc.cause_response_code == "ConditionalCheckFailedException"
            with lock:
                losers.append(i)

    _race(16, work)
    assert len(winners) == 1 and len(losers) == 15
    assert Counter.get("only", consistent_read=True).owner == f"t{winners[0]}"


def test_every_template_resource_exists_locally(suite):
    from infra.resources import resources, table_gsis

    ddb, sqs, sns = suite.client("dynamodb"), suite.client("sqs"), suite.client("sns")
    tables = set(ddb.list_tables()["TableNames"])
    queues = {u.rsplit("/", 1)[1] for u in sqs.list_queues().get("QueueUrls", [])}
    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in sns.list_topics()["Topics"]}
    for res in resources(suite.prefix).values():
        props = res["Properties"]
        if res["Type"] == "AWS::DynamoDB::Table":
            assert props["TableName"] in tables
            desc = ddb.describe_table(TableName=props["TableName"])["Table"]
            assert {g["IndexName"] for g in desc.get("GlobalSecondaryIndexes", [])} == {
                g["IndexName"] for g in table_gsis(props)}
        elif res["Type"] == "AWS::SQS::Queue":
            assert props["QueueName"] in queues
        elif res["Type"] == "AWS::SNS::Topic":
            assert props["TopicName"] in topics


def test_snapshot_round_trip_keeps_items_and_secrets(suite, tmp_path):
    from infra.local.stack import load_snapshot, provision, save_snapshot
    from tests.functional.helpers import example, make_partner, post_webhook

    secret, _ = make_partner("acme")
    reg_id = post_webhook(suite.api, "acme", secret, example()).json()["id"]
    path = tmp_path / "snapshot.json"
    counts = save_snapshot(suite.moto_url, suite.prefix, "us-east-1", path)
    assert counts[f"{suite.prefix}-registrations"] == 1
    # A restart: every resource dropped, created again from the template, then restored.
    import urllib.request

    from chalicelib.store import aws, directory, registrations

    urllib.request.urlopen(urllib.request.Request(f"{suite.moto_url}/moto-api/reset", method="POST"), timeout=5)
    provision(suite.moto_url, suite.prefix, "us-east-1")
    assert registrations.get(reg_id) is None
    load_snapshot(suite.moto_url, "us-east-1", path)
    restored = registrations.get(reg_id)
    assert restored is not None and restored.customer.name == "深圳市腾讯计算机系统有限公司"
    aws.forget_secrets()
    assert directory.partner_secrets("acme") == [secret]


def test_a_cancelled_transaction_leaves_the_stream_untouched_and_later_writes_are_streamed(suite):
    """moto 5.2.5 alone streams the cancelled writes and then streams nothing more (see
    ``infra.local.stack._fix_cancelled_transaction_streams``); DynamoDB does neither."""
    import botocore.exceptions
    import pytest

    ddb, streams = suite.client("dynamodb"), suite.client("dynamodbstreams")
    arn = ddb.create_table(
        TableName="streamed", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    ddb.put_item(TableName="streamed", Item={"pk": {"S": "taken"}})
    with pytest.raises(botocore.exceptions.ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "streamed", "Item": {"pk": {"S": "phantom"}}}},
            {"Put": {"TableName": "streamed", "Item": {"pk": {"S": "taken"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    ddb.put_item(TableName="streamed", Item={"pk": {"S": "later"}})
    keys = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator)
        keys += [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]]
        if not page["Records"]:
            break
        iterator = page.get("NextShardIterator")
    assert keys == ["taken", "later"]
    assert "Item" not in ddb.get_item(TableName="streamed", Key={"pk": {"S": "phantom"}})


def test_a_cancelled_transaction_rolls_back_exactly_its_items_without_copying_the_table(suite, monkeypatch):
    """``infra.local.stack._snapshot_only_touched_items``: moto 5.2.5 alone deep-copies the whole table per
    operation and swaps the copy in on a cancellation; the patch keeps the table and restores the items."""
    import copy

    import botocore.exceptions
    import pytest
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table import Table

    ddb = suite.client("dynamodb")
    ddb.create_table(TableName="ranged", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    for i in range(200):  # bystanders: never touched, never copied
        ddb.put_item(TableName="ranged", Item={"pk": {"S": f"p{i % 7}"}, "sk": {"S": f"s{i}"}, "n": {"N": "1"}})
    ddb.put_item(TableName="ranged", Item={"pk": {"S": "counter"}, "sk": {"S": "#"}, "n": {"N": "5"}})
    ddb.put_item(TableName="ranged", Item={"pk": {"S": "doomed"}, "sk": {"S": "#"}, "v": {"S": "kept"}})
    ddb.put_item(TableName="ranged", Item={"pk": {"S": "guard"}, "sk": {"S": "#"}})
    before = {(i["pk"]["S"], i["sk"]["S"]): i for i in ddb.scan(TableName="ranged")["Items"]}
    table = dynamodb_backends["123456789012"]["us-east-1"].tables["ranged"]
    copied = []
    real_deepcopy = copy.deepcopy

    def spy(obj, memo=None):
        if isinstance(obj, Table):
            copied.append(obj)
        return real_deepcopy(obj, memo)

    monkeypatch.setattr(copy, "deepcopy", spy)
    with pytest.raises(botocore.exceptions.ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "new"}, "sk": {"S": "#"}}}},
            {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "p1"}, "sk": {"S": "fresh"}}}},
            {"Update": {"TableName": "ranged", "Key": {"pk": {"S": "counter"}, "sk": {"S": "#"}},
                        "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Delete": {"TableName": "ranged", "Key": {"pk": {"S": "doomed"}, "sk": {"S": "#"}}}},
            {"ConditionCheck": {"TableName": "ranged", "Key": {"pk": {"S": "guard"}, "sk": {"S": "#"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    monkeypatch.setattr(copy, "deepcopy", real_deepcopy)
    assert copied == []  # not one whole-table copy
    assert dynamodb_backends["123456789012"]["us-east-1"].tables["ranged"] is table
    after = {(i["pk"]["S"], i["sk"]["S"]): i for i in ddb.scan(TableName="ranged")["Items"]}
    assert after == before
    # and a transaction that succeeds still writes everything
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "new"}, "sk": {"S": "#"}}}},
        {"Update": {"TableName": "ranged", "Key": {"pk": {"S": "counter"}, "sk": {"S": "#"}},
                    "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ])
    n = ddb.get_item(TableName="ranged", Key={"pk": {"S": "counter"}, "sk": {"S": "#"}})["Item"]["n"]["N"]
    assert n == "6" and "Item" in ddb.get_item(TableName="ranged", Key={"pk": {"S": "new"}, "sk": {"S": "#"}})
