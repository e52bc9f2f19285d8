"""chalicelib.observability: every handler's outcomes become EMF metrics, and in Lambda every log line is
JSON with the function, the cold-start flag and correlation keys."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _emf(text: str) -> list[dict]:
    return [d for d in (json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"'))]


def test_job_outcomes_and_parked_messages_become_metrics(suite, capsys, monkeypatch):
    from chalicelib import observability

    monkeypatch.setenv("DEALREG_METRICS", "emf")
    # The environment is read once per container: forget what was read before (restored after the test).
    monkeypatch.setattr(observability, "_environment", None)
    capsys.readouterr()
    # a scheduled job's answer
    suite.runner.run_schedule("deliver_notifications")
    # a queue handler that parks a message it can never process
    sqs = suite.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{suite.prefix}-workflow")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="not an event")
    suite.runner.pump()
    metrics = _emf(capsys.readouterr().out)
    deliver = next(m for m in metrics if m["function"] == "deliver_notifications")
    assert deliver["service"] == suite.prefix and deliver["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "dealreg"
    assert {"sent", "parked", "retrying", "skipped"} <= set(deliver)
    workflow = [m for m in metrics if m["function"] not in ("deliver_notifications",) and "parked" in m]
    assert workflow and workflow[0]["parked"] == [1.0] and workflow[0]["records"] == [1.0]


_PROBE = r"""
import json, logging, os, sys
sys.path[:0] = ["functions", "."]
from chalice import Chalice
from chalicelib import observability
app = Chalice(app_name="dealreg")
app.log.setLevel("INFO")  # as app.py does
observability.install(app)

@app.route("/v1/partners/{partner_id}/opportunities", methods=["POST"])
def receive(partner_id):
    logging.getLogger("dealreg.intake").info("received")
    return {"ok": True}

class Ctx:
    function_name = "dealreg-dev-APIHandler-x"; aws_request_id = "req-1"; memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self): return 1000

event = {"resource": "/v1/partners/{partner_id}/opportunities", "path": "/v1/partners/acme/opportunities",
         "httpMethod": "POST", "headers": {"webhook-id": "msg_1", "Authorization": "Bearer drk_secret"},
         "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
         "pathParameters": {"partner_id": "acme"}, "stageVariables": None, "body": "{}", "isBase64Encoded": False,
         "requestContext": {"resourcePath": "/v1/partners/{partner_id}/opportunities", "httpMethod": "POST",
                            "requestId": "r", "stage": "api"}}
for _ in range(2):
    print(json.dumps(app(event, Ctx())["statusCode"]))
"""


def test_lambda_logs_are_json_with_cold_start_and_correlation_keys_and_never_the_key():
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "dealreg-dev-APIHandler-x", "DEALREG_FUNCTION": "api_handler",
           "DEALREG_PREFIX": "dealreg-dev", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    logs = [entry for entry in lines if entry.get("message") == "received"]
    assert [entry["cold_start"] for entry in logs] == [True, False]
    first = logs[0]
    assert first["function"] == "api_handler" and first["service"] == "dealreg-dev"
    assert (first["partner"], first["webhook_id"], first["request_id"]) == ("acme", "msg_1", "req-1")
    assert first["route"] == "POST /v1/partners/{partner_id}/opportunities"
    assert "drk_secret" not in done.stdout
    # and in Lambda each answer is counted as an EMF metric
    emf = [entry for entry in lines if "_aws" in entry]
    assert emf and emf[0]["http_200"] == [1.0] and emf[0]["function"] == "api_handler"


_KEYS_PROBE = r"""
import json, logging, os, sys
sys.path[:0] = ["functions", "."]
from chalice import Chalice
from chalicelib import observability
app = Chalice(app_name="dealreg")
app.log.setLevel("INFO")
observability.install(app)
base = list(observability._logger.get_current_keys().items())  # what Powertools' clear_state leaves
seen = []

def record(extra):
    observability.append_keys(**extra)
    logging.getLogger("dealreg.probe").info("in handler")
    seen.append(list(observability._logger.get_current_keys().items()))

@app.route("/v1/partners/{partner_id}/opportunities", methods=["POST"])
def receive(partner_id):
    record({"registration_id": "reg_" + partner_id} if partner_id == "acme" else {"note": None})
    return {}

@app.route("/v1/health", methods=["GET"])
def health():
    record({"message_id": "m-9", "event_type": None})
    return {}

class Ctx:
    function_name = "dealreg-dev-APIHandler-x"; memory_limit_in_mb = 512
    def __init__(self, n): self.aws_request_id = f"req-{n}"
    def get_remaining_time_in_millis(self): return 1000

def event(method, resource, path, params, headers):
    return {"resource": resource, "path": path, "httpMethod": method, "headers": headers, "multiValueHeaders": {},
            "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": params,
            "stageVariables": None, "body": "{}", "isBase64Encoded": False,
            "requestContext": {"resourcePath": resource, "httpMethod": method, "requestId": "r", "stage": "api"}}

post = "/v1/partners/{partner_id}/opportunities"
calls = [event("POST", post, "/v1/partners/acme/opportunities", {"partner_id": "acme"}, {"webhook-id": "msg_1"}),
         event("GET", "/v1/health", "/v1/health", None, {}),
         event("POST", post, "/v1/partners/beta/opportunities", {"partner_id": "beta"}, {}),
         event("POST", post, "/v1/partners/acme/opportunities", {"partner_id": "acme"}, {"webhook-id": "msg_2"})]
for n, e in enumerate(calls):
    if n == 1:
        os.environ["DEALREG_FUNCTION"] = "changed"  # read once per container: not seen by later calls
    assert app(e, Ctx(n))["statusCode"] == 200
observability._logger.clear_state()
assert observability._keys is observability._logger.registered_formatter  # still the logger's formatter
print("RESULT " + json.dumps({"base": base, "seen": seen,
                              "cleared": list(observability._logger.get_current_keys().items())}))
"""


def test_each_invocation_has_exactly_its_own_log_keys_in_the_order_clear_state_gave():
    """Issue 15 item 2: the middleware removes the keys the previous invocation appended instead of rebuilding the
    logger's state (Powertools' clear_state) on every request; the keys each invocation sees, and their order, are
    those of the old clear-then-append; the function name comes from the environment read once per container."""
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "dealreg-dev-APIHandler-x", "DEALREG_FUNCTION": "api_handler",
           "DEALREG_PREFIX": "dealreg-dev", "AWS_DEFAULT_REGION": "us-east-1", "DEALREG_METRICS": "off"}
    done = subprocess.run([sys.executable, "-c", _KEYS_PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    result = json.loads(next(line[7:] for line in done.stdout.splitlines() if line.startswith("RESULT ")))
    base = [tuple(pair) for pair in result["base"]]
    assert [tuple(pair) for pair in result["cleared"]] == base  # the base is what clear_state leaves

    def expected(n, cold, route, partner, webhook_id, handler_keys):
        http = {"route": route, "partner": partner, "webhook_id": webhook_id, "registration_id": None}
        return [*base, ("function", "api_handler"), ("cold_start", cold), ("request_id", f"req-{n}"),
                *((k, v) for k, v in http.items() if v is not None), *handler_keys.items()]

    post = "POST /v1/partners/{partner_id}/opportunities"
    assert [[tuple(pair) for pair in keys] for keys in result["seen"]] == [
        expected(0, True, post, "acme", "msg_1", {"registration_id": "reg_acme"}),
        expected(1, False, "GET /v1/health", None, None, {"message_id": "m-9"}),
        expected(2, False, post, "beta", None, {}),
        expected(3, False, post, "acme", "msg_2", {"registration_id": "reg_acme"}),
    ]
