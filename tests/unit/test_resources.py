"""infra/resources.py against what the code declares: PynamoDB models for tables, handlers for queues.

The deployment template and the local stand-in both come from ``infra.resources.resources``, so a table
that drifts from its model breaks both; these tests catch it before a deploy does.
"""
from __future__ import annotations

from typing import Any

import pytest
from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.settings import QUEUES, TABLES
from chalicelib.store import models
from infra import package as pkg
from infra.resources import resources, table_gsis, table_logical_id

PREFIX = "dealreg-dev"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return resources(PREFIX)


@pytest.fixture(scope="module")
def shape() -> pkg.AppShape:
    # The app is imported in a child process: its decorators read the prefix at import time.
    return pkg.describe_app({"DEALREG_PREFIX": PREFIX})


def _keys(key_schema: list[dict[str, str]]) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in key_schema}


def _table_props(template: dict[str, Any], logical: str) -> dict[str, Any]:
    res = template[table_logical_id(logical)]
    assert res["Type"] == "AWS::DynamoDB::Table"
    return res["Properties"]


def _models_on(logical: str) -> list[type[Model]]:
    """Every model class stored in a table (the directory's item types, the sessions table's two)."""
    return [cls for cls, table in models.every_model().items() if table == logical]


def test_every_logical_table_has_a_model_and_a_resource(template):
    assert set(models.every_model().values()) == set(TABLES)
    tables = {r["Properties"]["TableName"] for r in template.values() if r["Type"] == "AWS::DynamoDB::Table"}
    assert tables == {f"{PREFIX}-{t}" for t in TABLES}


@pytest.mark.parametrize("logical", TABLES)
def test_table_keys_indexes_and_types_match_the_model(template, logical):
    props = _table_props(template, logical)
    for model in _models_on(logical):
        schema = model._get_schema()
        # GIVEN the model's key schema, GSIs and attribute definitions
        assert _keys(props["KeySchema"]) == _keys(schema["key_schema"]), model.__name__
        template_gsis = {g["IndexName"]: (_keys(g["KeySchema"]), g["Projection"])
                         for g in table_gsis(props)}
        model_gsis = {g["index_name"]: (_keys(g["key_schema"]), g["projection"])
                      for g in schema.get("global_secondary_indexes", [])}
        assert template_gsis == model_gsis, model.__name__
        assert not props.get("LocalSecondaryIndexes") and not schema.get("local_secondary_indexes")
        defs = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
        assert defs == {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
        assert props["BillingMode"] == model.Meta.billing_mode


@pytest.mark.parametrize("logical", TABLES)
def test_every_attribute_definition_is_used_by_a_key(template, logical):
    props = _table_props(template, logical)
    used = {k["AttributeName"] for k in props["KeySchema"]}
    for gsi in table_gsis(props):
        used |= {k["AttributeName"] for k in gsi["KeySchema"]}
    # CloudFormation rejects definitions that no key uses, and a missing one fails the table.
    assert {d["AttributeName"] for d in props["AttributeDefinitions"]} == used


@pytest.mark.parametrize("logical", TABLES)
def test_ttl_matches_the_models_ttl_attribute_and_recovery_is_on(template, logical):
    props = _table_props(template, logical)
    ttl = {a.attr_name for m in _models_on(logical) for a in m.get_attributes().values()
           if isinstance(a, TTLAttribute)}
    assert len(ttl) <= 1
    spec = props.get("TimeToLiveSpecification")
    assert (spec["AttributeName"] if spec and spec["Enabled"] else None) == (ttl.pop() if ttl else None)
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # kept on stack deletion, but not after a failed first create (a retry would hit "already exists")
    assert template[table_logical_id(logical)]["DeletionPolicy"] == "RetainExceptOnCreate"
    assert props["DeletionProtectionEnabled"] == {"Fn::If": ["DeletionProtection", True, False]}


def test_every_stream_handler_reads_a_table_stream_with_both_images(template, shape):
    streams = [s for s in shape.event_sources if s.kind == "dynamodb"]
    assert streams
    for source in streams:
        binding = pkg.bind_event_source(source, PREFIX, template)
        # The handler compares old and new images to decide which domain events happened.
        spec = template[binding.reads]["Properties"]["StreamSpecification"]
        assert spec["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert template[binding.failures]["Type"] == "AWS::SQS::Queue"


def test_every_queue_handler_has_a_queue_with_a_dlq_and_a_filtered_subscription(template, shape):
    queues = [s for s in shape.event_sources if s.kind == "sqs"]
    assert queues and {s.queue for s in queues} <= {f"{PREFIX}-{q}" for q in QUEUES}
    for source in queues:
        binding = pkg.bind_event_source(source, PREFIX, template)
        queue = template[binding.reads]["Properties"]
        # a DLQ that exists, after a bounded number of receives
        assert template[binding.failures]["Type"] == "AWS::SQS::Queue"
        assert queue["RedrivePolicy"]["maxReceiveCount"] >= 1
        # AWS asks for six times the function timeout, or messages come back while still being handled
        timeout = pkg.stage_config("dev", source.function).lambda_timeout
        assert queue["VisibilityTimeout"] >= 6 * timeout
        # one subscription from the events topic, filtered to the handler's event types
        subs = [r["Properties"] for r in template.values() if r["Type"] == "AWS::SNS::Subscription"
                and r["Properties"]["Endpoint"] == {"Fn::GetAtt": [binding.reads, "Arn"]}]
        assert len(subs) == 1
        logical = source.queue.removeprefix(f"{PREFIX}-")
        assert subs[0]["TopicArn"] == {"Ref": "EventsTopic"}
        assert subs[0]["FilterPolicy"] == {"type": list(QUEUES[logical])}
        assert subs[0]["RawMessageDelivery"] is True
        # and the topic may deliver to it
        policies = [r["Properties"] for r in template.values() if r["Type"] == "AWS::SQS::QueuePolicy"
                    and {"Ref": binding.reads} in r["Properties"]["Queues"]]
        assert len(policies) == 1


def test_the_sharded_due_index_can_be_left_out_for_the_first_upgrade_deploy(template):
    """Issue 15: CloudFormation creates one GSI per table per stack update, so the upgrade adds
    ByStatusShardIndex with StatusShardDueIndex=false, then ByStatusShardDueIndex with the default."""
    from infra import operations

    gsis = _table_props(template, "registrations")["GlobalSecondaryIndexes"]
    [conditional] = [g for g in gsis if "Fn::If" in g]
    condition, index, absent = conditional["Fn::If"]
    assert index["IndexName"] == "ByStatusShardDueIndex" and absent == {"Ref": "AWS::NoValue"}
    assert operations.CONDITIONS[condition] == {"Fn::Equals": [{"Ref": "StatusShardDueIndex"}, "true"]}
    assert operations.PARAMETERS["StatusShardDueIndex"]["Default"] == "true"
    # without it, the table still has the indexes that deployed stacks have, plus ByStatusShardIndex
    plain = {g["IndexName"] for g in gsis if "Fn::If" not in g}
    assert {"ByStatusIndex", "ByStatusDueIndex", "ByStatusShardIndex"} <= plain
