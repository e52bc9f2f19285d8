"""What keeps a deployed stage safe and watched, as CloudFormation merged into the package template:
parameters, log groups with retention, limits (timeouts, concurrency, throttling), the API's gateway
responses and access log, the schedules' dead-letter queue, alarms on an SNS topic, and a dashboard.

``infra.resources`` is the data plane the local stand-in also creates; nothing here exists locally.
``infra.package.merge_template`` calls :func:`template_parts` and :func:`function_overrides`.
"""
from __future__ import annotations

import json
from typing import Any

from infra.resources import QUEUE_VISIBILITY_SECONDS, SCHEDULES_DLQ, dlq_logical_id

API_FUNCTION = "api_handler"
# API Gateway's integration timeout is 29 s: a longer Lambda keeps writing after the client got a 504.
API_TIMEOUT_SECONDS = 28
# Queue consumers and jobs: SQS visibility (infra.resources) is six times this, as AWS recommends.
WORKER_TIMEOUT_SECONDS = QUEUE_VISIBILITY_SECONDS // 6
# Functions that need more than the defaults (Chalice's config.json applies ``lambda_functions`` only inside a
# stage, and these settings are the template's, whatever the stage). Only a schedule-only function may run longer
# than WORKER_TIMEOUT_SECONDS: a queue consumer's timeout must stay a sixth of the visibility timeout.
FUNCTION_SIZES: dict[str, dict[str, int]] = {
    # trains the in-Lambda model on up to 50,000 closed registrations; passes bounded by the remaining time
    "check_scoring_model": {"Timeout": 900, "MemorySize": 1024},
}
METRICS_NAMESPACE = "dealreg"  # EMF metrics of chalicelib.observability; dimension "service" = the prefix
ALARM_TOPIC = "AlarmTopic"
API_LOGICAL_ID = "RestAPI"  # Chalice's name for the API
API_STAGE = "api"  # config.json api_gateway_stage

# --- parameters (every one has a default: `sam deploy`/`aws cloudformation deploy` work without any) -------

PARAMETERS: dict[str, dict[str, Any]] = {
    "AlarmEmail": {"Type": "String", "Default": "",
                   "Description": "Email address subscribed to the alarm topic (empty: no subscription)"},
    "LogRetentionDays": {"Type": "Number", "Default": 30,
                         "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                                           1096, 1827, 2192, 2557, 2922, 3288, 3653],
                         "Description": "Retention of every function's log group and the API access log"},
    "ApiReservedConcurrency": {"Type": "Number", "Default": -1, "MinValue": -1,
                               "Description": "Reserved concurrency of the API function (-1: none)"},
    "WorkerReservedConcurrency": {"Type": "Number", "Default": -1, "MinValue": -1,
                                  "Description": "Reserved concurrency of each queue/stream/schedule "
                                                 "function (-1: none)"},
    "QueueMaximumConcurrency": {"Type": "Number", "Default": 5, "MinValue": 2, "MaxValue": 1000,
                                "Description": "Most concurrent invocations per SQS event source"},
    "ApiThrottlingRateLimit": {"Type": "Number", "Default": 50,
                               "Description": "Steady requests per second the API stage accepts"},
    "ApiThrottlingBurstLimit": {"Type": "Number", "Default": 100,
                                "Description": "Request burst the API stage accepts"},
    "ApiLatencyAlarmMillis": {"Type": "Number", "Default": 5000,
                              "Description": "API p95 latency that raises an alarm"},
    "TenderSourceFailuresAlarm": {"Type": "Number", "Default": 3, "MinValue": 1,
                                  "Description": "Consecutive failed polls of one tender source that raise "
                                                 "an alarm"},
    "Tracing": {"Type": "String", "Default": "PassThrough", "AllowedValues": ["PassThrough", "Active"],
                "Description": "X-Ray tracing of every function (Active turns it on)"},
    "TableDeletionProtection": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
                                "Description": "DynamoDB deletion protection on every table"},
    "StatusShardDueIndex": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
                            "Description": "create ByStatusShardDueIndex (false only for the first of the two "
                                           "upgrade deploys: one new GSI per table per stack update)"},
}

CONDITIONS: dict[str, Any] = {
    "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
    "ReserveApi": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApiReservedConcurrency"}, -1]}]},
    "ReserveWorkers": {"Fn::Not": [{"Fn::Equals": [{"Ref": "WorkerReservedConcurrency"}, -1]}]},
    "DeletionProtection": {"Fn::Equals": [{"Ref": "TableDeletionProtection"}, "true"]},
    "TracingActive": {"Fn::Equals": [{"Ref": "Tracing"}, "Active"]},
    "HasStatusShardDueIndex": {"Fn::Equals": [{"Ref": "StatusShardDueIndex"}, "true"]},
}


def log_group_logical_id(function_logical: str) -> str:
    return f"{function_logical}LogGroup"


# --- the API's error shape -------------------------------------------------------------------------------

# Every answer API Gateway gives itself (the function never ran) in the product's error shape. No template
# reads $context.error.message or a request header: API Gateway's own messages can echo the Authorization
# header (an unknown route with a non-SigV4 "Authorization" answers "Invalid key=value pair ... in
# Authorization header: '<the key>'"). Unknown routes and methods answer 404 like the app's own not_found.
_GATEWAY_ERRORS: dict[str, tuple[int | None, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "no such route or method"),
    "RESOURCE_NOT_FOUND": (404, "not_found", "no such route or method"),
    "INVALID_SIGNATURE": (404, "not_found", "no such route or method"),
    "EXPIRED_TOKEN": (404, "not_found", "no such route or method"),
    "ACCESS_DENIED": (403, "forbidden", "access denied"),
    "UNAUTHORIZED": (401, "unauthorized", "missing or invalid credentials"),
    "THROTTLED": (429, "throttled", "too many requests, retry later"),
    "QUOTA_EXCEEDED": (429, "throttled", "too many requests, retry later"),
    "REQUEST_TOO_LARGE": (413, "payload_too_large", "request body too large"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "unsupported_media_type", "unsupported content type"),
    "BAD_REQUEST_BODY": (400, "bad_request", "malformed request"),
    "BAD_REQUEST_PARAMETERS": (400, "bad_request", "malformed request"),
    "WAF_FILTERED": (403, "forbidden", "request blocked"),
    "INTEGRATION_TIMEOUT": (504, "timeout", "the request took too long; it may still complete, retry with the "
                                            "same idempotency key"),
    "INTEGRATION_FAILURE": (502, "internal_error", "the service failed to answer, retry later"),
    "DEFAULT_4XX": (None, "bad_request", "request rejected"),
    "DEFAULT_5XX": (None, "internal_error", "the service failed to answer, retry later"),
}


def gateway_responses() -> dict[str, Any]:
    """SAM ``GatewayResponses``: a fixed ``{code, message, errors}`` body per type, plus the request id."""
    out: dict[str, Any] = {}
    for kind, (status, code, message) in _GATEWAY_ERRORS.items():
        body = json.dumps({"code": code, "message": message, "errors": []})
        # The request id is API Gateway's own, safe to show and what support asks for.
        body = body[:-1] + ', "request_id": "$context.requestId"}'
        response: dict[str, Any] = {
            "ResponseTemplates": {"application/json": body},
            "ResponseParameters": {"Headers": {"Content-Type": "'application/json'",
                                               "Cache-Control": "'no-store'"}},
        }
        if status is not None:
            response["StatusCode"] = str(status)
        if kind in ("THROTTLED", "QUOTA_EXCEEDED"):
            response["ResponseParameters"]["Headers"]["Retry-After"] = "'1'"
        out[kind] = response
    return out


def api_overrides(prefix: str) -> dict[str, Any]:
    """Properties merged over Chalice's ``RestAPI``: name, gateway responses, throttling, access log."""
    access_format = {k: f"$context.{v}" for k, v in {
        "requestId": "requestId", "ip": "identity.sourceIp", "time": "requestTimeEpoch",
        "method": "httpMethod", "path": "resourcePath", "status": "status", "length": "responseLength",
        "latency": "responseLatency", "integrationLatency": "integration.latency",
        "error": "error.responseType"}.items()}
    return {
        "Name": f"{prefix}-api",
        "GatewayResponses": gateway_responses(),
        "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": True,
                            "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
                            "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"}}],
        # Access log lines never carry headers or bodies (no keys, no signatures).
        "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
                             "Format": json.dumps(access_format)},
        "TracingEnabled": {"Fn::If": ["TracingActive", True, False]},
    }


# --- per function ---------------------------------------------------------------------------------------


def logs_policy(function_logical: str) -> dict[str, Any]:
    """What every function's role needs besides its access policy: its own log group (by ARN, so any stack
    name works) and X-Ray segments (used only when the Tracing parameter is Active; X-Ray takes no ARN)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [{"Fn::GetAtt": [log_group_logical_id(function_logical), "Arn"]}]},
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": ["*"]},
    ]}


def function_overrides(function: str, function_logical: str, kinds: set[str], prefix: str) -> dict[str, Any]:
    """Function properties: timeout, reserved concurrency, own log group, tracing, async failure handling.

    Args:
        kinds: the function's event source kinds (``sqs``, ``dynamodb``, ``ScheduledEventConfig``).
    """
    api = function == API_FUNCTION
    reserve, param = ("ReserveApi", "ApiReservedConcurrency") if api else ("ReserveWorkers",
                                                                            "WorkerReservedConcurrency")
    props: dict[str, Any] = {
        "Timeout": API_TIMEOUT_SECONDS if api else WORKER_TIMEOUT_SECONDS,
        "ReservedConcurrentExecutions": {"Fn::If": [reserve, {"Ref": param}, {"Ref": "AWS::NoValue"}]},
        "LoggingConfig": {"LogGroup": {"Ref": log_group_logical_id(function_logical)}},
        "Tracing": {"Ref": "Tracing"},
    }
    sizes = FUNCTION_SIZES.get(function, {})
    if sizes and (api or kinds != {"ScheduledEventConfig"}):
        raise ValueError(f"{function}: only a schedule-only function may have its own timeout and memory")
    props.update(sizes)
    if "ScheduledEventConfig" in kinds:
        # EventBridge invokes asynchronously: Lambda retries a failed run twice, then the event goes to the
        # schedules DLQ (the job is a sweep: the next run redoes its work, the DLQ message says one failed).
        props["EventInvokeConfig"] = {
            "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600,
            "DestinationConfig": {"OnFailure": {"Type": "SQS",
                                                "Destination": {"Fn::GetAtt": [dlq_logical_id(SCHEDULES_DLQ),
                                                                               "Arn"]}}}}
    return props


def schedule_event_overrides() -> dict[str, Any]:
    """A schedule's EventBridge target: bounded retries, then the schedules DLQ (delivery failures)."""
    return {"RetryPolicy": {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600},
            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [dlq_logical_id(SCHEDULES_DLQ), "Arn"]}}}


def sqs_event_overrides() -> dict[str, Any]:
    """A queue consumer never takes more than its share of concurrency (the API keeps the rest)."""
    return {"ScalingConfig": {"MaximumConcurrency": {"Ref": "QueueMaximumConcurrency"}}}


# --- stage-wide resources: log groups, alarm topic, alarms, dashboard --------------------------------------


def _alarm(description: str, namespace: str, metric: str, dimensions: dict[str, Any], *, statistic: str = "Sum",
           threshold: Any = 1, period: int = 300, periods: Any = 1, comparison: str = "GreaterThanOrEqualToThreshold",
           extended: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace, "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Period": period, "EvaluationPeriods": periods, "DatapointsToAlarm": periods,
        "Threshold": threshold, "ComparisonOperator": comparison, "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": ALARM_TOPIC}], "OKActions": [{"Ref": ALARM_TOPIC}],
    }
    if extended:
        props["ExtendedStatistic"] = extended
    else:
        props["Statistic"] = statistic
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def stage_resources(prefix: str, functions: dict[str, str], kinds: dict[str, set[str]],
                    queues: dict[str, str]) -> dict[str, Any]:
    """Log groups, the alarm topic, alarms and the dashboard.

    Args:
        functions: Chalice function name -> the function's logical id.
        kinds: Chalice function name -> its event source kinds.
        queues: logical id -> QueueName of every dead-letter queue of ``infra.resources``.
    """
    out: dict[str, Any] = {}
    for function, logical in functions.items():
        out[log_group_logical_id(logical)] = {
            "Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
            "Properties": {"LogGroupName": f"/aws/lambda/{prefix}/{function}",
                           "RetentionInDays": {"Ref": "LogRetentionDays"}}}
    out["ApiAccessLogGroup"] = {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete",
                                "UpdateReplacePolicy": "Delete",
                                "Properties": {"LogGroupName": f"/aws/apigateway/{prefix}/access",
                                               "RetentionInDays": {"Ref": "LogRetentionDays"}}}
    # Access logs need the account-wide API Gateway logging role, set before the stage (RestAPI depends on
    # it). Kept when the stack is deleted: other APIs of the account may log through it.
    out["ApiGatewayCloudWatchRole"] = {"Type": "AWS::IAM::Role", "DeletionPolicy": "Retain",
                                       "UpdateReplacePolicy": "Retain", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                          "AmazonAPIGatewayPushToCloudWatchLogs"}]}}
    out["ApiGatewayAccount"] = {"Type": "AWS::ApiGateway::Account", "DeletionPolicy": "Retain",
                                "UpdateReplacePolicy": "Retain",
                                "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole",
                                                                                    "Arn"]}}}
    # Not encrypted with aws/sns: CloudWatch cannot publish to a topic under that AWS-managed key.
    out[ALARM_TOPIC] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{prefix}-alarms"}}
    out["AlarmEmailSubscription"] = {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail",
                                     "Properties": {"TopicArn": {"Ref": ALARM_TOPIC}, "Protocol": "email",
                                                    "Endpoint": {"Ref": "AlarmEmail"}}}
    # CloudWatch publishes alarm notifications to the topic.
    out["AlarmTopicPolicy"] = {"Type": "AWS::SNS::TopicPolicy", "Properties": {
        "Topics": [{"Ref": ALARM_TOPIC}], "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
            "Resource": {"Ref": ALARM_TOPIC},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]}}}
    for logical, name in queues.items():
        out[f"{logical}Alarm"] = _alarm(
            f"{name}: a message was parked (read it with `dealreg status`, then redrive or fix)",
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": name}, statistic="Maximum",
            period=60)
    for function, logical in functions.items():
        fn = {"FunctionName": {"Ref": logical}}
        out[f"{logical}ErrorsAlarm"] = _alarm(f"{function}: invocations failed", "AWS/Lambda", "Errors", fn)
        out[f"{logical}ThrottlesAlarm"] = _alarm(f"{function}: invocations throttled", "AWS/Lambda", "Throttles", fn)
        if "dynamodb" in kinds.get(function, set()):
            out[f"{logical}IteratorAgeAlarm"] = _alarm(
                f"{function}: stream records wait over 5 minutes", "AWS/Lambda", "IteratorAge", fn,
                statistic="Maximum", threshold=300_000, period=60, periods=5, comparison="GreaterThanThreshold")
    api = {"ApiName": f"{prefix}-api", "Stage": API_STAGE}
    out["Api5xxAlarm"] = _alarm("API answered 5XX", "AWS/ApiGateway", "5XXError", api)
    out["ApiLatencyAlarm"] = _alarm("API p95 latency above ApiLatencyAlarmMillis", "AWS/ApiGateway", "Latency",
                                    api, extended="p95", threshold={"Ref": "ApiLatencyAlarmMillis"}, periods=3,
                                    comparison="GreaterThanThreshold")
    service = {"service": prefix}
    out["DeliveriesParkedAlarm"] = _alarm(
        "notifications parked after their last retry (`dealreg notifications parked`)", METRICS_NAMESPACE,
        "parked", {**service, "function": "deliver_notifications"})
    out["TenderSourcesFailingAlarm"] = _alarm(
        "a tender source failed TenderSourceFailuresAlarm polls in a row (`dealreg feeds list`)",
        METRICS_NAMESPACE, "errors", {**service, "function": "poll_tender_feeds"},
        periods={"Ref": "TenderSourceFailuresAlarm"})
    out["Dashboard"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": f"{prefix}", "DashboardBody": {"Fn::Sub": json.dumps(_dashboard(prefix, functions, queues))}}}
    return out


def _dashboard(prefix: str, functions: dict[str, str], queues: dict[str, str]) -> dict[str, Any]:
    """Widgets: API traffic/errors/latency, function errors/throttles/duration, DLQ depths, outcomes."""
    def widget(title: str, metrics: list[list[Any]], y: int, x: int, stat: str = "Sum") -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
            "title": title, "region": "${AWS::Region}", "stat": stat, "period": 300, "metrics": metrics}}

    api = ["ApiName", f"{prefix}-api", "Stage", API_STAGE]
    fn_names = {f: "${" + logical + "}" for f, logical in functions.items()}
    widgets = [
        widget("API requests and errors", [["AWS/ApiGateway", m, *api] for m in ("Count", "4XXError", "5XXError")],
               0, 0),
        widget("API latency p95 (ms)", [["AWS/ApiGateway", "Latency", *api, {"stat": "p95"}]], 0, 12),
        widget("Function errors", [["AWS/Lambda", "Errors", "FunctionName", n] for n in fn_names.values()], 6, 0),
        widget("Function throttles", [["AWS/Lambda", "Throttles", "FunctionName", n] for n in fn_names.values()],
               6, 12),
        widget("Dead-letter queues (messages)", [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]
                                                 for q in queues.values()], 12, 0, "Maximum"),
        widget("Outcomes", [[METRICS_NAMESPACE, m, "service", prefix, "function", f] for f, m in (
            ("deliver_notifications", "sent"), ("deliver_notifications", "parked"),
            ("poll_tender_feeds", "new"), ("poll_tender_feeds", "errors"))], 12, 12),
    ]
    return {"widgets": widgets}
