"""IAM for notification delivery and review reminders: email/SNS sends are granted, and only narrowly."""
from __future__ import annotations

import json
import re

from infra import iam, package as pkg

PREFIX = "dealreg-dev"
SES_IDENTITIES = {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"}
NOTIFY_TOPICS = {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:dealreg-dev-notify-*"}


def _granted(function: str) -> dict[str, set[str]]:
    """resource (as JSON) -> actions, from the function's generated access policy."""
    out: dict[str, set[str]] = {}
    for st in iam.access_policy(function, PREFIX, [])["Statement"]:
        for r in st["Resource"]:
            out.setdefault(json.dumps(r, sort_keys=True), set()).update(st["Action"])
    return out


def test_both_sending_functions_may_email_and_publish_to_notification_topics_only():
    for function in ("fan_out_notifications", "deliver_notifications"):
        granted = _granted(function)
        assert granted[json.dumps(SES_IDENTITIES, sort_keys=True)] == {"ses:SendEmail"}
        assert granted[json.dumps(NOTIFY_TOPICS, sort_keys=True)] == {"sns:Publish"}
        # sns:Publish reaches the recipients' topics, never the domain events topic
        publish_to = [r for r, actions in granted.items() if "sns:Publish" in actions]
        assert publish_to == [json.dumps(NOTIFY_TOPICS, sort_keys=True)]


def test_fan_out_reads_the_registration_to_route_review_notices():
    assert "dynamodb:GetItem" in _granted("fan_out_notifications")[json.dumps(
        {"Fn::GetAtt": ["RegistrationsTable", "Arn"]}, sort_keys=True)]


def test_review_reminders_query_the_status_index_stamp_and_publish():
    granted = _granted("remind_overdue_reviews")
    assert granted[json.dumps({"Fn::Sub": "${RegistrationsTable.Arn}/index/*"}, sort_keys=True)] >= {"dynamodb:Query"}
    # Query reaches the indexes only (registrations has no sort key: a table Query would be a GetItem)
    assert granted[json.dumps({"Fn::GetAtt": ["RegistrationsTable", "Arn"]}, sort_keys=True)] == {
        "dynamodb:UpdateItem"}
    assert granted[json.dumps({"Ref": iam.EVENTS_TOPIC}, sort_keys=True)] == {"sns:Publish"}
    assert not any("dynamodb:Scan" in a for a in granted.values())


def test_arn_patterns_fill_the_prefix_and_leave_pseudo_parameters_to_cloudformation():
    grant = iam.Grant(("sns:Publish",), arns=("arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:{prefix}-x",))
    [res] = grant.resources("dealreg-prod")
    assert res == {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:dealreg-prod-x"}
    assert set(re.findall(r"\$\{([^}]+)\}", res["Fn::Sub"])) == {"AWS::Partition", "AWS::Region", "AWS::AccountId"}


def test_merged_template_carries_the_send_grants():
    shape = pkg.AppShape(functions=("deliver_notifications", "remind_overdue_reviews"), event_sources=())
    merged = pkg.merge_template(shape, PREFIX)
    policies = merged["Resources"][pkg.role_logical_id("deliver_notifications")]["Properties"]["Policies"]
    statements = policies[1]["PolicyDocument"]["Statement"]
    assert {"Effect": "Allow", "Action": ["ses:SendEmail"], "Resource": [SES_IDENTITIES]} in statements
    assert {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": [NOTIFY_TOPICS]} in statements
