"""infra/iam_check.py: API calls become the IAM requests AWS authorises, and roles are evaluated like IAM."""
from __future__ import annotations

import pytest

from infra import iam_check
from infra.iam_check import PolicyError, _Statement, iam_requests, role_statements

R = "us-east-1"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/"


def test_batch_and_transact_calls_are_authorised_per_table_and_item_action():
    assert iam_requests("dynamodb", "BatchGetItem", {"RequestItems": {"p-claims": {}, "p-holders": {}}}, R) == [
        ("dynamodb:BatchGetItem", TABLE + "p-claims"), ("dynamodb:BatchGetItem", TABLE + "p-holders")]
    items = [{"Put": {"TableName": "p-registrations"}}, {"Update": {"TableName": "p-holders"}},
             {"ConditionCheck": {"TableName": "p-registrations"}}, {"Put": {"TableName": "p-registrations"}}]
    assert iam_requests("dynamodb", "TransactWriteItems", {"TransactItems": items}, R) == [
        ("dynamodb:PutItem", TABLE + "p-registrations"), ("dynamodb:UpdateItem", TABLE + "p-holders"),
        ("dynamodb:ConditionCheckItem", TABLE + "p-registrations")]


def test_index_queries_queue_urls_batches_and_secret_names_become_arns():
    assert iam_requests("dynamodb", "Query", {"TableName": "p-r", "IndexName": "ByOwnerIndex"}, R) == [
        ("dynamodb:Query", TABLE + "p-r/index/ByOwnerIndex")]
    assert iam_requests("sqs", "SendMessageBatch", {"QueueUrl": "http://127.0.0.1:5000/123456789012/p-q-dlq"},
                        R) == [("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:p-q-dlq")]
    assert iam_requests("sqs", "GetQueueUrl", {"QueueName": "p-q"}, R) == [
        ("sqs:GetQueueUrl", "arn:aws:sqs:us-east-1:123456789012:p-q")]
    [(action, arn)] = iam_requests("secretsmanager", "GetSecretValue", {"SecretId": "p/partners/acme/webhook"}, R)
    assert action == "secretsmanager:GetSecretValue"
    assert arn.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:p/partners/acme/webhook-")
    assert iam_requests("ses", "SendEmail", {"Source": "Deals <deals@example.com>"}, R) == [
        ("ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:identity/deals@example.com")]


def test_wildcards_match_like_iam_and_actions_ignore_case():
    st = _Statement(("dynamodb:Get*",), (TABLE + "p-claims", "arn:aws:secretsmanager:*:*:secret:p/partners/*"))
    assert st.allows("DynamoDB:GetItem", TABLE + "p-claims")
    assert not st.allows("dynamodb:GetItem", TABLE + "p-claims/index/X")  # an index is its own resource
    assert not st.allows("dynamodb:PutItem", TABLE + "p-claims")
    assert st.allows("dynamodb:GetItem", "arn:aws:secretsmanager:us-east-1:1:secret:p/partners/a/webhook-XyZ")


def test_template_intrinsics_resolve_and_unmodelled_statements_are_refused():
    resources = {
        "ClaimsTable": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "p-claims"}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "p-events"}},
        "Role": {"Properties": {"Policies": [{"PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:Query"],
             "Resource": [{"Fn::GetAtt": ["ClaimsTable", "Arn"]}, {"Fn::Sub": "${ClaimsTable.Arn}/index/*"}]},
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "Topic"}},
        ]}}]}},
        "Bad": {"Properties": {"Policies": [{"PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"], "Condition": {"x": {}}}]}}]}},
    }
    statements = role_statements(resources, "Role", R)
    assert statements[0].allows("dynamodb:Query", TABLE + "p-claims/index/ByX")
    assert statements[1].allows("sns:Publish", "arn:aws:sns:us-east-1:123456789012:p-events")
    with pytest.raises(PolicyError):
        role_statements(resources, "Bad", R)


def test_calls_outside_a_function_are_not_recorded_and_inside_are_attributed():
    iam_check.install()
    import botocore.session

    recorder_mark = iam_check.RECORDER.mark()
    client = botocore.session.get_session().create_client(
        "sqs", region_name=R, endpoint_url="http://127.0.0.1:9", aws_access_key_id="x", aws_secret_access_key="x")
    hook_params = {"QueueName": "p-q"}
    # before-parameter-build fires before any network I/O; emit it the way botocore does
    model = client.meta.service_model.operation_model("GetQueueUrl")
    client.meta.events.emit("before-parameter-build.sqs.GetQueueUrl", params=hook_params, model=model,
                            context={})
    assert iam_check.RECORDER.since(recorder_mark) == []
    try:
        with iam_check.acting_as("enrich_customers"):
            client.meta.events.emit("before-parameter-build.sqs.GetQueueUrl", params=hook_params, model=model,
                                    context={})
        [req] = iam_check.RECORDER.since(recorder_mark)
        assert (req.function, req.action, req.resource) == (
            "enrich_customers", "sqs:GetQueueUrl", "arn:aws:sqs:us-east-1:123456789012:p-q")
    finally:
        # this synthetic call must not reach the session-end check of the real calls (tests/conftest.py)
        iam_check.RECORDER.discard_since(recorder_mark)
    assert iam_check.RECORDER.since(recorder_mark) == []
