"""The package template keeps a stage safe and watched (issue 14): limits, retries, logs, gateway responses,
alarms on every dead-letter queue and every function, a dashboard, stage settings."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra import operations as ops, package as pkg
from infra.resources import resources

PREFIX = "dealreg-dev"


@pytest.fixture(scope="module")
def shape() -> pkg.AppShape:
    return pkg.describe_app({"DEALREG_PREFIX": PREFIX})


@pytest.fixture(scope="module")
def merged(shape) -> dict[str, Any]:
    return pkg.merge_template(shape, PREFIX)


def _fn(merged, function: str) -> dict[str, Any]:
    return merged["Resources"][pkg.function_logical_id(function)]["Properties"]


def test_api_times_out_before_api_gateway_and_workers_fit_the_queue_visibility(shape, merged):
    assert _fn(merged, "api_handler")["Timeout"] <= 28
    visibility = {r["Properties"]["VisibilityTimeout"] for r in resources(PREFIX).values()
                  if r["Type"] == "AWS::SQS::Queue" and "VisibilityTimeout" in r["Properties"]}
    consumers = {s.function for s in shape.event_sources if s.kind == "sqs"}
    assert consumers
    for function in consumers:
        assert all(_fn(merged, function)["Timeout"] * 6 <= v for v in visibility)
    for function in shape.functions:
        assert _fn(merged, function)["Timeout"] <= 900  # Lambda's maximum


def test_functions_with_their_own_size_get_it_in_the_template_and_only_schedules_may(shape, merged):
    # config.json's top-level lambda_functions is ignored by Chalice (only a stage's is read): the template is
    # where the scheduled training's 900 s / 1024 MB must arrive
    assert ops.FUNCTION_SIZES["check_scoring_model"] == {"Timeout": 900, "MemorySize": 1024}
    for function, sizes in ops.FUNCTION_SIZES.items():
        assert {k: _fn(merged, function)[k] for k in sizes} == sizes
    others = [f for f in shape.functions if f not in ops.FUNCTION_SIZES]
    assert others and all(_fn(merged, f)["Timeout"] in (ops.API_TIMEOUT_SECONDS, ops.WORKER_TIMEOUT_SECONDS)
                          for f in others)
    with pytest.raises(ValueError, match="schedule-only"):
        ops.FUNCTION_SIZES["detect_duplicates"] = {"Timeout": 900}
        try:
            ops.function_overrides("detect_duplicates", "DetectDuplicates", {"sqs"}, PREFIX)
        finally:
            del ops.FUNCTION_SIZES["detect_duplicates"]


def test_concurrency_is_bounded_by_parameters(shape, merged):
    for function in shape.functions:
        reserved = _fn(merged, function)["ReservedConcurrentExecutions"]["Fn::If"]
        assert reserved[1]["Ref"] in merged["Parameters"] and reserved[2] == {"Ref": "AWS::NoValue"}
    queues = [s for s in shape.event_sources if s.kind == "sqs"]
    assert queues
    for source in queues:
        event = _fn(merged, source.function)["Events"][pkg.event_logical_id(source)]["Properties"]
        assert event["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "QueueMaximumConcurrency"}}


def test_every_schedule_retries_a_bounded_number_of_times_then_parks_on_the_schedules_dlq(shape, merged):
    schedules = [s for s in shape.event_sources if s.kind == pkg.SCHEDULE]
    assert len(schedules) >= 7
    dlq = {"Fn::GetAtt": ["SchedulesDeadLetterQueue", "Arn"]}
    for source in schedules:
        props = _fn(merged, source.function)
        event = props["Events"][pkg.event_logical_id(source)]["Properties"]
        assert event["RetryPolicy"]["MaximumRetryAttempts"] <= 5 and event["DeadLetterConfig"] == {"Arn": dlq}
        invoke = props["EventInvokeConfig"]
        assert invoke["MaximumRetryAttempts"] <= 2
        assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == dlq
        # the function's role may send its failed run there
        access = merged["Resources"][pkg.role_logical_id(source.function)]["Properties"]["Policies"][1]
        assert {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [dlq]} in (
            access["PolicyDocument"]["Statement"])
    # EventBridge itself may deliver undeliverable events
    policy = merged["Resources"]["SchedulesDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}


def test_one_alarm_per_dead_letter_queue_and_per_function_errors_and_throttles(shape, merged):
    res = merged["Resources"]
    alarms = [r["Properties"] for r in res.values() if r.get("Type") == "AWS::CloudWatch::Alarm"]
    dlqs = {r["Properties"]["QueueName"] for r in resources(PREFIX).values()
            if r["Type"] == "AWS::SQS::Queue" and r["Properties"]["QueueName"].endswith("-dlq")}
    assert len(dlqs) >= 6  # one per queue, the stream failures, the schedules
    for dlq in dlqs:
        on_it = [a for a in alarms if a["Namespace"] == "AWS/SQS"
                 and {"Name": "QueueName", "Value": dlq} in a["Dimensions"]]
        assert len(on_it) == 1, dlq
        assert on_it[0]["Threshold"] == 1 and on_it[0]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    for function in shape.functions:
        dim = {"Name": "FunctionName", "Value": {"Ref": pkg.function_logical_id(function)}}
        metrics = sorted(a["MetricName"] for a in alarms if a["Namespace"] == "AWS/Lambda" and dim in a["Dimensions"])
        kinds = {s.kind for s in shape.event_sources if s.function == function}
        assert metrics == sorted(["Errors", "Throttles"] + (["IteratorAge"] if "dynamodb" in kinds else [])), function
    for alarm in alarms:  # every alarm notifies the topic, which mails AlarmEmail when set
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert res["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
    names = {(a["Namespace"], a["MetricName"]) for a in alarms}
    assert {("AWS/ApiGateway", "5XXError"), ("AWS/ApiGateway", "Latency"), ("dealreg", "parked"),
            ("dealreg", "errors")} <= names


def test_custom_metric_alarms_match_what_the_functions_emit():
    # chalicelib.observability turns a job's answer into metrics: these are the numbers the alarms read
    from chalicelib import observability

    assert observability.NAMESPACE == ops.METRICS_NAMESPACE
    assert observability.job_counts({"sent": 2, "retrying": 0, "parked": 1, "skipped": 0})["parked"] == 1
    per_source = {"a": {"new": 2, "unchanged": 1}, "b": {"error": "timeout"}, "c": {"error": "http_503"}}
    assert observability.job_counts(per_source) == {"new": 2, "unchanged": 1, "errors": 2}


def test_logs_go_to_own_groups_with_retention_and_the_dashboard_resolves(shape, merged):
    res = merged["Resources"]
    for function in shape.functions:
        group = _fn(merged, function)["LoggingConfig"]["LogGroup"]["Ref"]
        assert res[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert merged["Parameters"]["LogRetentionDays"]["Default"] == 30
    body = res["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    json.loads(body)
    assert set(re.findall(r"\$\{([^}]+)\}", body)) - {"AWS::Region"} <= set(res)


def test_gateway_responses_have_the_error_shape_and_never_echo_the_request():
    responses = ops.gateway_responses()
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN", "THROTTLED"} <= set(responses)
    for kind, response in responses.items():
        template = response["ResponseTemplates"]["application/json"]
        # only the request id is interpolated: no error message (it can quote the Authorization header),
        # no header, no body
        assert re.findall(r"\$[a-z]+[.\w]*", template) == ["$context.requestId"], kind
        body = json.loads(template.replace("$context.requestId", "abc"))
        assert set(body) == {"code", "message", "errors", "request_id"} and body["errors"] == []
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"  # unknown route: not a 403


def test_api_stage_is_throttled_and_logged_without_headers(merged):
    api = merged["Resources"]["RestAPI"]["Properties"]
    [settings] = api["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    fmt = api["AccessLogSetting"]["Format"]
    assert "requestId" in fmt and "header" not in fmt.lower() and "authorization" not in fmt.lower()


def test_stage_settings_become_parameter_defaults_and_function_environment(shape, tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"parameters": {"AlarmEmail": "ops@example.com"},
                                                 "environment": {"DEALREG_TENDER_SOURCES": [{"name": "a"}]}}))
    settings = pkg.stage_settings("x", tmp_path)
    merged = pkg.merge_template(shape, PREFIX, settings)
    assert merged["Parameters"]["AlarmEmail"]["Default"] == "ops@example.com"
    env = _fn(merged, "poll_tender_feeds")["Environment"]["Variables"]
    assert json.loads(env["DEALREG_TENDER_SOURCES"]) == [{"name": "a"}]
    (tmp_path / "bad.json").write_text(json.dumps({"parameters": {"Nope": 1}}))
    with pytest.raises(pkg.PackagingError, match="Nope"):
        pkg.stage_settings("bad", tmp_path)
    (tmp_path / "bad2.json").write_text(json.dumps({"environment": {"DEALREG_PREFIX": "x"}}))
    with pytest.raises(pkg.PackagingError, match="DEALREG_PREFIX"):
        pkg.stage_settings("bad2", tmp_path)
    for stage in ("dev", "prod"):  # the checked-in stages are valid
        pkg.stage_settings(stage)


def test_every_accepted_checkov_finding_says_why():
    from pathlib import Path

    accepted = json.loads((Path(pkg.ROOT) / "infra" / "checkov-accepted.json").read_text())
    assert accepted and all(re.fullmatch(r"CKV_AWS_\d+", k) and len(v) > 40 for k, v in accepted.items())


def test_every_event_function_enters_through_app_py_and_gets_its_middleware(shape, merged):
    import subprocess
    import sys

    handlers = {f: _fn(merged, f)["Handler"] for f in shape.functions if f != "api_handler"}
    assert handlers and all(h == f"app.{f}" for f, h in handlers.items())
    # Lambda resolves "app.<function>" with getattr on the imported module: a fresh interpreter, as Lambda
    probe = ("import app, json; from chalicelib import observability\n"
             f"names = {sorted(handlers)!r}\n"
             "print(json.dumps({n: [m.__name__ for m in getattr(app, n).middleware_handlers] for n in names}))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=pkg.FUNCTIONS_DIR, capture_output=True, text=True,
                          check=True, env={**__import__("os").environ, "DEALREG_PREFIX": PREFIX,
                                           "AWS_DEFAULT_REGION": "us-east-1",
                                           "PYTHONPATH": f"{pkg.FUNCTIONS_DIR}:{pkg.ROOT}"})
    middleware = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(names == ["observe"] for names in middleware.values()), middleware
