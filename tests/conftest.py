"""Shared test fixtures.

Pure tests need nothing here. Functional tests get the same in-process suite ``make run`` starts:
moto's server on a free loopback port (one per test session, reset before each test), resources created
from infra/resources.py, the Chalice app served over real HTTP by Chalice's local server, and the event
runner, which tests drive synchronously with ``suite.runner.pump()``.
"""
from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra import iam_check
from tests.hypothesis_ci import draw_without_local_constants_under_ci

FIXTURES = Path(__file__).parent / "fixtures"

# Never let a test reach a real AWS account by accident.
for _k, _v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
    os.environ[_k] = _v
os.environ.pop("AWS_PROFILE", None)

# IAM proven from use: every AWS call a handler makes is recorded (infra/iam_check.py) and checked against
# its function's role as `make package` builds it; the `suite` fixture fails the test that made a denied call.
iam_check.install()
# Under CI a derandomised @given test draws the same examples whatever ran before it in its worker (tests/hypothesis_ci.py).
draw_without_local_constants_under_ci()
_IAM: dict[str, Any] = {}  # "checker": the session's RoleChecker; "checked": recorder mark already checked

# Under pytest-xdist (`make test` runs `-n auto`) every worker is its own process with its own moto server
# (a free loopback port) and its own stage prefix; without xdist the prefix is plain "dealreg-test".
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PREFIX = f"dealreg-test-{WORKER}" if WORKER else "dealreg-test"


# `make test-fast` (-m "not slow") leaves these out: a browser, the contract fuzz, a subprocess stack per test.
SLOW = ("tests/browser/", "tests/fuzz/", "tests/functional/test_local_persistence.py")


# Run first. xdist hands tests out in collection order (`--dist loadgroup`: the browser group, then one test at a
# time), so a long test collected near the end starts late and the other worker idles until it ends; these are the
# longest calls of `--durations` (tens of seconds to minutes each on CI), started while the queue is full.
LONGEST_FIRST = (
    "tests/fuzz/test_contract_fuzz.py",
    "tests/unit/infra/test_moto_index.py",
    "tests/unit/test_sorted_parse.py::test_the_sorted_parse_answers_what_parse_json_answers",
    "tests/unit/test_intake_hot_path.py::test_the_stamp_is_the_attributes_text_for_any_datetime",
    "tests/unit/domain/test_names_new_name_paths.py::test_new_name_paths_match_the_code_before_on_generated_names",
    "tests/unit/domain/test_tender_matching.py::test_index_agrees_with_the_naive_loop",
    "tests/unit/test_packaging.py::test_slimmed_botocore_data_makes_the_same_clients",
)


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ARG001
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))  # stable: otherwise collection order


def load_fixture(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


@pytest.fixture(autouse=True)
def _third_party_corpus(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.corpus("part", ...)``: the test needs that corpus path (skip, or fail in CI, if absent)."""
    from tests.corpora import corpus

    for mark in request.node.iter_markers("corpus"):
        corpus(*mark.args)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    """One line saying how many tests were skipped because the third-party corpus is absent, and why."""
    from tests.corpora import is_corpus_skip, skip_reason

    skipped = 0
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        if is_corpus_skip(reason.removeprefix("Skipped: ")):
            skipped += 1
    if skipped:
        terminalreporter.write_line(f"corpus: {skipped} tests skipped: {skip_reason()}", yellow=True)


@pytest.fixture(scope="session")
def moto_server():
    from infra.local.stack import MotoServer

    server = MotoServer(port=0).start()
    yield server
    server.stop()


# The app's AWS clients in a test process wait this long for an answer (production: 5 s, then botocore's retries,
# then a 503 or a failed test), and so do the tests' HTTP clients. The stand-in answers one request at a time
# (infra.local.stack): a race's 16-100 requests queue behind each other, and on a loaded 2-core machine even a lone
# Scan or the stand-in's reset took longer than 5 s. No test waits for the production timeout: outages are a
# refused port or a stubbed timeout. Each attempt waits this long (botocore still retries a read timeout: up to 3
# attempts), so a stand-in stuck for minutes ends in pytest-timeout's kill at 300 s (pyproject).
PATIENT_READ_TIMEOUT = 240


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """A tiny HTTP client for the local Chalice server (stdlib only, loopback only)."""

    def __init__(self, base: str) -> None:
        assert base.startswith("http://127.0.0.1:")
        self.base = base

    def request(self, method: str, path: str, body: bytes | str | dict | None = None,
                headers: dict[str, str] | None = None) -> HttpAnswer:
        data = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=PATIENT_READ_TIMEOUT) as resp:
                return HttpAnswer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as err:
            return HttpAnswer(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())

    def get(self, path: str, key: str | None = None) -> HttpAnswer:
        return self.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})

    def post(self, path: str, body: Any, key: str | None = None, headers: dict[str, str] | None = None) -> HttpAnswer:
        h = {"Authorization": f"Bearer {key}"} if key else {}
        return self.request("POST", path, body, headers={**h, **(headers or {})})


def patient_clients() -> None:
    """Give the clients every model, transaction and ``store.aws.client`` make from now on the patient timeout."""
    from botocore.config import Config

    from chalicelib.store import aws, models

    patient = Config(read_timeout=PATIENT_READ_TIMEOUT)
    models._CLIENT_CONFIG = models._CLIENT_CONFIG.merge(patient)  # the one DynamoDB client the models share
    aws._CONFIG = aws._CONFIG.merge(patient)  # SQS, SNS, Secrets Manager, ... (store.aws.client)


@pytest.fixture(scope="session")
def _app_server(moto_server):
    """Chalice's local HTTP server for the app, started once; the suite fixture repoints its storage."""
    from infra.local.http_server import create_server
    from infra.local.stack import local_environment, provision
    from infra.local.stack_session import configure_process, import_app

    moto_server.reset()
    patient_clients()  # before configure_process: it drops the clients made so far
    env = local_environment(moto_server.url, PREFIX, "us-east-1", provision(moto_server.url, PREFIX, "us-east-1"))
    configure_process(env)
    app = import_app()
    _IAM["checker"] = iam_check.RoleChecker(app, PREFIX, "us-east-1")
    server = create_server(app, "127.0.0.1", 0)  # make run's server: product-shaped 404, query values unlogged
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server.server_address[1]
    yield app, Api(f"http://127.0.0.1:{port}")
    server.shutdown()


@dataclass
class Suite:
    app: Any
    api: Api
    runner: Any
    moto_url: str
    prefix: str

    def client(self, service: str) -> Any:
        from chalicelib.store import aws

        return aws.client(service)


@pytest.fixture
def suite(moto_server, _app_server):
    """A clean stack for one test: fresh resources, fresh runner, system clock."""
    from chalicelib import clock
    from chalicelib.store import aws
    from infra.local.runner import EventRunner
    from infra.local.stack import local_environment, provision
    from infra.local.stack_session import configure_process

    app, api = _app_server
    moto_server.reset()
    prefix = PREFIX
    env = local_environment(moto_server.url, prefix, "us-east-1", provision(moto_server.url, prefix, "us-east-1"))
    configure_process(env)
    clock.set_clock(clock.SystemClock())
    runner = EventRunner(app, client=aws.client, region="us-east-1", now=clock.now,
                         stream_failure_queue=f"{prefix}-stream-failures-dlq")
    mark = iam_check.RECORDER.mark()
    yield Suite(app=app, api=api, runner=runner, moto_url=moto_server.url, prefix=prefix)
    clock.set_clock(clock.SystemClock())
    made = iam_check.RECORDER.since(mark)
    denied = _IAM["checker"].denied(made)
    _IAM["checked"] = iam_check.RECORDER.mark()
    usage = os.environ.get("DEALREG_IAM_USAGE")  # append what each function used (to narrow infra/iam.py)
    if usage:
        with open(usage, "a") as f:
            for r in dict.fromkeys(made):
                f.write(json.dumps([r.function, r.action, r.resource, r in denied]) + "\n")
    if denied:
        pytest.fail(iam_check.report(denied), pytrace=False)


@pytest.fixture
def no_registry_lookups(suite, monkeypatch):
    """No public registry provider enabled: customer enrichment (a handler on registration.submitted) would
    otherwise ask registries over the network, and tests reach 127.0.0.1 only. Use it with
    ``pytestmark = pytest.mark.usefixtures("no_registry_lookups")``."""
    from chalicelib import settings

    monkeypatch.setenv("DEALREG_REGISTRY_PROVIDERS", "")
    settings.reset()
    yield
    settings.reset()


def _unchecked_denials() -> str:
    """The report of denied calls made outside a `suite` test since the last check ("" when none)."""
    checker = _IAM.get("checker")
    if checker is None:
        return ""
    denied = checker.denied(iam_check.RECORDER.since(_IAM.get("checked", 0)))
    return iam_check.report(denied) if denied else ""


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # noqa: ARG001
    """xdist controller: collect what each worker's session-end IAM check found (see pytest_sessionfinish)."""
    report = getattr(node, "workeroutput", {}).get("dealreg_iam_denied")
    if report:
        _IAM.setdefault("worker_reports", []).append(f"[{node.gateway.id}] {report}")


def pytest_sessionfinish(session, exitstatus):
    """Calls made outside a `suite` test (other fixtures, threads still running) are checked at the end.

    Each process checks its own recorder; an xdist worker hands its finding to the controller (a worker's
    exit status is not the run's), which reports every worker's and fails the run.
    """
    reports = [r for r in [_unchecked_denials()] if r] + _IAM.pop("worker_reports", [])
    if not reports:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports it
        workeroutput["dealreg_iam_denied"] = "\n".join(reports)
        return
    for report in reports:
        session.config.get_terminal_writer().line("\nIAM: " + report, red=True)
    session.exitstatus = 1
