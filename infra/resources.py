"""The AWS resources dealreg needs, as CloudFormation: one definition for the deployment template
(merged into Chalice's output by ``infra/package.py``) and for the local stand-in (``infra/local/stack.py``).

Names come from the same prefix the functions read (``DEALREG_PREFIX``), through chalicelib.settings.
"""
from __future__ import annotations

from typing import Any

from chalicelib.settings import QUEUES, TABLES

STREAM_DLQ = "stream-failures"
SCHEDULES_DLQ = "schedules"  # scheduled runs EventBridge could not deliver or that failed every retry
DLQ_ONLY = (STREAM_DLQ, SCHEDULES_DLQ)  # dead-letter queues without a main queue
QUEUE_MAX_RECEIVES = 5
QUEUE_VISIBILITY_SECONDS = 360  # six times the functions' 60 s timeout, as AWS recommends for SQS sources


def _logical(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def _gsi(name: str, hash_key: str, range_key: str) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"},
                      {"AttributeName": range_key, "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }


# Keys and indexes per table. tests/unit/test_resources.py checks them against the PynamoDB models.
TABLE_KEYS: dict[str, dict[str, Any]] = {
    "registrations": {
        "hash": "id",
        "gsis": [
            ("BySubmitterIndex", "submitter_id", "created_at"),
            ("ByOwnerIndex", "owner_id", "created_at"),
            ("ByTeamIndex", "team_id", "created_at"),
            ("ByStatusIndex", "status", "created_at"),
            ("ByStatusDueIndex", "status", "due_at"),
            ("ByCustomerIndex", "customer_key", "created_at"),
            # Issue 15: the status indexes sharded (status_shard = "<status>#<n>"); the two above are kept for
            # deployed stacks until a later release drops them (README "Sharded status indexes").
            ("ByStatusShardIndex", "status_shard", "created_at"),
            ("ByStatusShardDueIndex", "status_shard", "due_at"),
        ],
        "stream": "NEW_AND_OLD_IMAGES",
    },
    "customers": {"hash": "customer_key", "gsis": []},
    "directory": {"hash": "pk", "gsis": []},
    "claims": {"hash": "key", "gsis": [], "ttl": "expires_at"},
    # ByActiveIndex (issue 15): holders by load shard and active count, for the over-limit job (no scan).
    "holders": {"hash": "pk", "gsis": [("ByActiveIndex", "load_shard", "active")]},
    "followups": {"hash": "id", "gsis": [("ByRegistrationIndex", "registration_id", "at")]},
    "registry_cache": {"hash": "key", "gsis": [], "ttl": "expires_at"},
    "enrichments": {"hash": "customer_key", "gsis": []},
    "dedup_index": {"hash": "pk", "range": "sk", "gsis": []},
    "dedup_verdicts": {"hash": "registration_id", "gsis": []},
    "tenders": {"hash": "tender_id", "gsis": [("ByDayIndex", "day", "seen_at")]},
    "tender_refs": {"hash": "ref", "gsis": []},
    "tender_feeds": {"hash": "source", "gsis": []},
    "subscriptions": {"hash": "id", "gsis": [("ByRepIndex", "rep_id", "created_at")]},
    "tender_alerts": {"hash": "key", "gsis": [("ByDigestIndex", "digest_day", "key"), ("ByRepIndex", "rep_id", "created_at")]},
    "deliveries": {"hash": "id", "gsis": [("ByLaneIndex", "lane", "lane_at"),
                                          # one delivery per (event, recipient): the caller's notifications
                                          ("ByInboxIndex", "inbox_of", "inbox_at")]},
    "scores": {"hash": "pk", "gsis": []},
    # Pipeline board aggregates (issue 18): per partition (team, all) and stage#currency; applied markers.
    "aggregates": {"hash": "pk", "range": "sk", "gsis": [], "ttl": "expires_at"},
    # Console sessions (issue 18): short-lived bearer keys, apart from the directory; TTL removes them.
    "sessions": {"hash": "pk", "gsis": [], "ttl": "expires_at"},
}


# Key attributes that are numbers (every other key attribute is a string).
NUMBER_KEYS = {("holders", "active"): "N"}

# GSIs a template parameter can leave out: CloudFormation (DynamoDB's UpdateTable) creates one GSI per table
# per stack update, so a deployed stack gains ByStatusShardIndex in one update (parameter false) and this one
# in the next (default true). README "Sharded status indexes". Index name -> template condition.
CONDITIONAL_GSIS = {"ByStatusShardDueIndex": "HasStatusShardDueIndex"}


def table_gsis(props: dict[str, Any]) -> list[dict[str, Any]]:
    """A table resource's GSIs as created with the template's defaults (the conditional ones included)."""
    return [g["Fn::If"][1] if "Fn::If" in g else g for g in props.get("GlobalSecondaryIndexes", [])]


def _table_gsi(name: str, hash_key: str, range_key: str) -> dict[str, Any]:
    if name in CONDITIONAL_GSIS:
        return {"Fn::If": [CONDITIONAL_GSIS[name], _gsi(name, hash_key, range_key), {"Ref": "AWS::NoValue"}]}
    return _gsi(name, hash_key, range_key)


def table_logical_id(logical: str) -> str:
    return f"{_logical(logical)}Table"


def queue_logical_id(logical: str) -> str:
    return f"{_logical(logical)}Queue"


def dlq_logical_id(logical: str) -> str:
    return f"{_logical(logical)}DeadLetterQueue"


def table_resource(prefix: str, logical: str) -> dict[str, Any]:
    spec = TABLE_KEYS[logical]
    attrs = {spec["hash"]}
    if "range" in spec:  # optional sort key of the base table
        attrs.add(spec["range"])
    for _, h, r in spec["gsis"]:
        attrs.update((h, r))
    props: dict[str, Any] = {
        "TableName": f"{prefix}-{logical}",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": NUMBER_KEYS.get((logical, a), "S")}
                                 for a in sorted(attrs)],
        "KeySchema": [{"AttributeName": spec["hash"], "KeyType": "HASH"}]
        + ([{"AttributeName": spec["range"], "KeyType": "RANGE"}] if "range" in spec else []),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        # The condition is a parameter of the package template (infra/operations.py); the stand-in ignores it.
        "DeletionProtectionEnabled": {"Fn::If": ["DeletionProtection", True, False]},
        "SSESpecification": {"SSEEnabled": True},
    }
    if spec["gsis"]:
        props["GlobalSecondaryIndexes"] = [_table_gsi(*g) for g in spec["gsis"]]
    if "stream" in spec:
        props["StreamSpecification"] = {"StreamViewType": spec["stream"]}
    if "ttl" in spec:
        props["TimeToLiveSpecification"] = {"AttributeName": spec["ttl"], "Enabled": True}
    # Kept when the stack is deleted, but removed again when the create that made them fails, so a failed
    # first deploy can simply be retried (fixed names would otherwise say "already exists").
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain", "Properties": props}


def resources(prefix: str) -> dict[str, Any]:
    """Tables, the events topic, one queue + DLQ + filtered subscription per handler, the stream DLQ."""
    out: dict[str, Any] = {}
    for logical in TABLES:
        out[table_logical_id(logical)] = table_resource(prefix, logical)
    out["EventsTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{prefix}-events"}}
    queue_names = [*QUEUES, *DLQ_ONLY]
    for logical in queue_names:
        dlq = dlq_logical_id(logical)
        out[dlq] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": f"{prefix}-{logical}-dlq", "MessageRetentionPeriod": 1209600,
            "SqsManagedSseEnabled": True}}
        if logical == SCHEDULES_DLQ:
            # EventBridge sends undeliverable scheduled events here (the functions' own async failures come
            # with their role's grant, infra/iam.py).
            out[f"{dlq}Policy"] = {"Type": "AWS::SQS::QueuePolicy", "Properties": {
                "Queues": [{"Ref": dlq}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
                    "Resource": {"Fn::GetAtt": [dlq, "Arn"]},
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }]},
            }}
        if logical in DLQ_ONLY:
            continue
        out[queue_logical_id(logical)] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": f"{prefix}-{logical}",
            "VisibilityTimeout": QUEUE_VISIBILITY_SECONDS,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                              "maxReceiveCount": QUEUE_MAX_RECEIVES},
        }}
        out[f"{_logical(logical)}Subscription"] = {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "EventsTopic"},
            "Protocol": "sqs",
            "Endpoint": {"Fn::GetAtt": [queue_logical_id(logical), "Arn"]},
            "RawMessageDelivery": True,
            "FilterPolicyScope": "MessageAttributes",
            "FilterPolicy": {"type": list(QUEUES[logical])},
        }}
        out[f"{_logical(logical)}QueuePolicy"] = {"Type": "AWS::SQS::QueuePolicy", "Properties": {
            "Queues": [{"Ref": queue_logical_id(logical)}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": {"Fn::GetAtt": [queue_logical_id(logical), "Arn"]},
                "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "EventsTopic"}}},
            }]},
        }}
    # The web console's cookie-signing key (chalicelib.console.session), generated at deploy time.
    out["ConsoleSessionSecret"] = {"Type": "AWS::SecretsManager::Secret", "Properties": {
        "Name": f"{prefix}/console/session",
        "GenerateSecretString": {"SecretStringTemplate": "{}", "GenerateStringKey": "key", "PasswordLength": 64,
                                 "ExcludePunctuation": True}}}
    return out
