"""First invocation of every Lambda function from the deployment zip (issue 15 item 1).

Each sample is a bare interpreter (``python -I -S``: nothing but the unzipped package and the standard library,
as on Lambda's python3.11 runtime) that imports the entry (``app``), then calls one function once with a real
event: the figure is import + client creation + the first call, in CPU time of that process. The AWS stand-in
(moto server, started here on 127.0.0.1) runs in this process, so its CPU is not counted.

The events are real ones, fresh in every round: round *r* sends a new signed webhook through the API function
(a new customer), then the registrations stream record it wrote goes to ``events``, whose SNS messages land in
the queues and go to the queue functions, and so on; the schedules get a scheduled event. The API is measured
twice: the webhook, and a ``POST /v1/duplicates/check`` (the first romanisation in an API container).

Two zips can be compared (e.g. main's and this branch's): samples alternate per round so load hits both alike.

    make package && cp build/deployment.zip /tmp/after.zip     # and /tmp/before.zip from the older tree
    .venv/bin/python -m bench.cold_start /tmp/before.zip /tmp/after.zip --runs 5
    .venv/bin/python -m bench.cold_start /tmp/before.zip /tmp/after.zip --imports-only --runs 9  # the old figure
    .venv/bin/python -m bench.cold_start /tmp/before.zip /tmp/after.zip --clients --runs 9  # clients alone
    .venv/bin/python -m bench.cold_start /tmp/before.zip /tmp/after.zip --steps --runs 5    # where CPU goes
    .venv/bin/python -m bench.cold_start /tmp/before.zip /tmp/after.zip --only api_handler --runs 7  # the API only
    .venv/bin/python -m bench.cold_start /tmp/before.zip /tmp/after.zip --only api_handler --valgrind --runs 1
    .venv/bin/python -m bench.cold_start /tmp/after.zip --only api_handler:webhook --floor --runs 5  # libraries alone
    .venv/bin/python -m bench.cold_start build/deployment.zip --runs 1 --check  # make test's smoke of the zip

``--check`` (``make smoke``, the last step of ``make test``) is the one place the *built* package runs as on Lambda:
only what the zip holds can be imported (a module the tests' venv brings — e.g. ``blinker`` through moto's Flask —
is absent there), and every function must answer its first event as expected.

CPU time on a shared machine moves ±50 ms between runs of the same zip. ``--valgrind`` runs every sample under
valgrind's cachegrind (``--cache-sim=no``) and reports the instructions the process executed (Ir, millions)
instead: the same zip gives the same count within ~0.1 % whatever the load, so a change of a few ms shows
(on this machine ~5 M instructions per ms of CPU; samples take ~20 s each).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

# The start of every probe that calls a function: its arguments, the event, and a Lambda context.
PROBE_HEAD = """
import sys, time, json
root, function, event_path, out_path = sys.argv[1:5]
sys.path.insert(0, root)
with open(event_path) as f:
    event = json.load(f)

class Context:
    function_name = function
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "bench-" + str(time.time_ns())
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench-" + function
    log_group_name = "/aws/lambda/" + function
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 60000
"""

PROBE = PROBE_HEAD + """
t0 = time.perf_counter(); c0 = time.process_time()
import app
t1 = time.perf_counter(); c1 = time.process_time()
answer = None
if function != "-":
    handler = app.app if function.startswith("api") else getattr(app, function)
    answer = handler(event, Context())
t2 = time.perf_counter(); c2 = time.process_time()
status = answer.get("statusCode") if isinstance(answer, dict) else None
failures = len(answer.get("batchItemFailures", [])) if isinstance(answer, dict) else None
with open(out_path, "w") as f:
    json.dump({"import_cpu_ms": (c1 - c0) * 1000, "cpu_ms": (c2 - c0) * 1000, "wall_ms": (t2 - t0) * 1000,
               "status": status, "failures": failures, "modules": list(sys.modules)}, f)
"""

# --floor: the libraries alone. Every module the zip's first webhook loaded that is not ours (in the order it
# was loaded), one botocore session with the two clients a webhook makes, a Powertools Logger, and the
# collector setting of a cold container; no code of dealreg, no AWS call. What is left above it is ours.
FLOOR_PROBE = """
import sys, time, json, importlib, gc, os, logging
root, out_path = sys.argv[1], sys.argv[4]
with open(sys.argv[3]) as f:
    modules = json.load(f)
sys.path.insert(0, root)
gc.set_threshold(1_000_000, 100, 100)  # observability.COLD_START_GC_THRESHOLD
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
c0 = time.process_time()
for name in modules:
    if name.split(".")[0] not in ("app", "chalicelib", "schemas", "connectors", "__main__") and name not in sys.modules:
        try:
            importlib.import_module(name)
        except Exception:
            pass
import botocore.config, botocore.session
session = botocore.session.get_session()
region, endpoint = os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), os.environ.get("DEALREG_AWS_ENDPOINT_URL")
session.create_client("secretsmanager", region_name=region, endpoint_url=endpoint)
session.create_client("dynamodb", region_name=region, endpoint_url=endpoint,
                      config=botocore.config.Config(parameter_validation=False))
from aws_lambda_powertools import Logger
Logger(service="bench", logger_handler=logging.StreamHandler(sys.stdout))
c1 = time.process_time()
with open(out_path, "w") as f:
    json.dump({"import_cpu_ms": (c1 - c0) * 1000, "cpu_ms": (c1 - c0) * 1000, "wall_ms": 0, "status": None,
               "failures": None, "modules": list(sys.modules)}, f)
"""

# --clients: after the imports, the AWS clients a first webhook makes (no call is sent).
CLIENTS_PROBE = """
import sys, time, json
root, out_path = sys.argv[1], sys.argv[4]
sys.path.insert(0, root)
import app
from chalicelib.store import aws, models
c0 = time.process_time()
for model in (models.PartnerItem, models.ClaimItem, models.RegistrationItem, models.CustomerItem):
    model._get_connection().connection.client
models.connection().client
aws.client("secretsmanager")
c1 = time.process_time()
with open(out_path, "w") as f:
    json.dump({"import_cpu_ms": 0, "cpu_ms": (c1 - c0) * 1000, "wall_ms": 0, "status": None, "failures": None}, f)
"""

# --steps: where a cold API container's CPU goes, step by step (each step's modules only; no AWS call is sent).
STEPS_PROBE = """
import sys, time, json
root, out_path = sys.argv[1], sys.argv[4]
sys.path.insert(0, root)
steps = {}
c = time.process_time()
def mark(name):
    global c
    n = time.process_time(); steps[name] = (n - c) * 1000; c = n
import app; mark("import app")
import urllib3; mark("import urllib3")
import botocore.session, botocore.client; mark("import botocore session + client")
from chalicelib.store import aws, models; mark("import store.aws + store.models (PynamoDB)")
aws.client("secretsmanager"); mark("first client (secretsmanager)")
models.RegistrationItem._get_connection().connection.client; mark("DynamoDB client")
import pydantic; mark("import pydantic")
import schemas.registration, schemas.webhook; mark("import schemas.registration + webhook")
with open(sys.argv[3]) as f:
    schemas.webhook.OpportunityRegistered.model_validate(json.load(f)); mark("first validation of a webhook payload")
from chalicelib.domain import dedup_keys, dedup_match; mark("import dedup_keys + dedup_match")
dedup_keys.han_syllables("深圳市腾讯计算机"); mark("first romanisation")
from chalicelib.domain import names; names.name_key("深圳市腾讯计算机系统有限公司"); mark("first name key")
with open(out_path, "w") as f:
    json.dump(steps, f)
"""

# Customer names for the rounds (written for this bench): one new customer per round and zip.
_CITIES = ["杭州", "成都", "武汉", "南京", "西安", "长沙", "青岛", "厦门", "苏州", "合肥", "昆明", "大连"]
_WORDS = ["星辰", "远航", "云帆", "海纳", "博雅", "恒通", "瑞丰", "启明", "天成", "嘉禾", "明达", "华章"]


def _customer(n: int) -> str:
    return f"{_CITIES[n % len(_CITIES)]}{_WORDS[(n // len(_CITIES)) % len(_WORDS)]}{n}号信息技术有限公司"


# What every duplicates/check sample asks: no blocking or exact key in common with any registration the bench
# files (tests/unit/test_cold_start.py checks the first 2,000), so the check does the same work in every round
# and for every zip, whatever detect_duplicates has indexed before it (session 9: a check that shared the
# registrations' keys found more candidates in the second zip's rounds, +70 M instructions).
CHECK_NAME = "临沂鸿运餐饮管理有限公司"


def _api_event(method: str, resource: str, path: str, params: dict[str, str], headers: dict[str, str],
               body: bytes) -> dict[str, Any]:
    headers = {"content-type": "application/json", "host": "bench.execute-api.us-east-1.amazonaws.com", **headers}
    return {
        "resource": resource, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": params or None, "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/api{path}", "stage": "api",
                           "requestId": f"bench-{time.time_ns()}", "identity": {"sourceIp": "127.0.0.1"}},
        "body": body.decode(), "isBase64Encoded": False,
    }


# A new bench partner after this many webhooks: the ownership rules' default pending cap is 20 per submitter.
PENDING_PER_PARTNER = 19


class World:
    """moto + the provisioned resources + a partner; hands out real events for the functions."""

    def __init__(self) -> None:
        sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] /
                                                                        "functions")]
        import logging

        from infra.local import stack_session

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.suite = stack_session.start(prefix="dealreg-bench")
        from chalicelib.clock import now
        from chalicelib.store import directory

        self.secret, self.key = directory.create_partner("bench", "Bench partner", now=now())
        self.partner, self.sent = "bench", 0
        self.captured: list[tuple[str, dict]] = []
        self.suite.runner.invoke = self._capture  # deliver nothing here: record the events for the probes
        self.schedules = [s.name for s in self.suite.runner.schedules]
        self.functions = sorted({s.name for s in [*self.suite.runner.streams, *self.suite.runner.queues,
                                                  *self.suite.runner.schedules]})

    def _capture(self, name: str, event: dict, ids: list[str], **_: Any) -> set[str]:
        self.captured.append((name, event))
        return set()  # "succeeded": the queue message is deleted, the stream moves on, as after a real call

    def webhook(self, n: int) -> dict:
        from chalicelib.clock import now
        from chalicelib.store import directory
        from connectors.standard_webhooks import sign

        self.sent += 1
        if self.sent % PENDING_PER_PARTNER == 0:
            # Nothing reviews the bench's registrations: a partner at the pending cap would be answered 409.
            self.partner = f"bench{self.sent}"
            self.secret, _ = directory.create_partner(self.partner, "Bench partner", now=now())

        body = json.loads((Path(__file__).resolve().parents[1] / "examples" / "opportunity.json").read_text())
        customer = body["data"]["customer"]
        customer["name"] = _customer(n)
        customer.pop("registry_ids", None)
        customer["website"] = f"bench{n}.example.com"
        body["data"]["external_ref"] = f"BENCH-{n}"
        # sent now: the file's fixed envelope time would be refused as more than a year old from 2027-11-28
        body["timestamp"] = now().strftime("%Y-%m-%dT%H:%M:%SZ")
        raw = json.dumps(body, ensure_ascii=False).encode()
        msg_id, ts = f"msg_bench_{n}_{time.time_ns()}", int(time.time())
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(self.secret, msg_id,
                                                                                                 ts, raw)}
        return _api_event("POST", "/v1/partners/{partner_id}/opportunities",
                          f"/v1/partners/{self.partner}/opportunities", {"partner_id": self.partner}, headers, raw)

    def duplicate_check(self, n: int) -> dict:
        raw = json.dumps({"customer": {"name": CHECK_NAME}}, ensure_ascii=False).encode()
        return _api_event("POST", "/v1/duplicates/check", "/v1/duplicates/check", {},
                          {"authorization": f"Bearer {self.key}"}, raw)

    def pending(self) -> dict[str, dict]:
        """The first event per function of everything now waiting in the streams and queues."""
        self.captured.clear()
        runner = self.suite.runner
        for source in [*runner.streams, *runner.queues]:
            source.poll()
        out: dict[str, dict] = {}
        for name, event in self.captured:
            out.setdefault(name, event)
        return out

    def scheduled(self, name: str) -> dict:
        self.captured.clear()
        self.suite.runner.run_schedule(name)
        return self.captured[-1][1]


FLOOR = "libraries alone (webhook's modules, session, 2 clients, Logger)"
VALGRIND = False  # --valgrind: count instructions (cachegrind) instead of reading the CPU clock
PROFILE_DIR: Path | None = None  # --profile DIR: valgrind's callgrind instead, its output kept there per sample
_IR = re.compile(r"I\s+refs:\s+([\d,]+)")
_COLLECTED = re.compile(r"Collected\s*:\s+([\d,]+)")  # callgrind's total (--profile)


def _run(root: str, function: str, event: dict, env: dict[str, str], probe: str = PROBE) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ev, out = Path(tmp) / "event.json", Path(tmp) / "out.json"
        ev.write_text(json.dumps(event, default=str))
        command = [sys.executable, "-I", "-S", "-c", probe, root, function, str(ev), str(out)]
        if PROFILE_DIR is not None:
            name = f"{Path(root).name}-{function.replace(':', '-')}-{time.time_ns()}.callgrind"
            command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={PROFILE_DIR / name}", *command]
        elif VALGRIND:
            command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={tmp}/cg.out",
                       *command]
        proc = subprocess.run(command, cwd=root, env={**env, "DEALREG_FUNCTION": function.split(":")[0]},
                              capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"{function} failed:\n{proc.stderr[-3000:]}")
        got = json.loads(out.read_text())
        if VALGRIND:
            found = _IR.search(proc.stderr) or _COLLECTED.search(proc.stderr)
            if found is None:
                raise RuntimeError(f"{function}: no instruction count from valgrind:\n{proc.stderr[-3000:]}")
            got["ir_m"] = int(found.group(1).replace(",", "")) / 1e6
        return got


def first_calls(roots: dict[str, str], runs: int, only: tuple[str, ...] = (),
                floor: bool = False) -> tuple[dict[str, dict[str, list[dict]]], list[str]]:
    """``only``: measure just the functions whose name starts with one of these (e.g. ``api_handler``);
    ``floor``: after each webhook, the libraries it loaded alone (``FLOOR_PROBE``). Returns the samples and every
    function the app declares (the API's two probes, each stream, queue and schedule function): ``--check`` fails
    for one that got no event."""
    world = World()
    env = {**world.suite.env, "AWS_LAMBDA_FUNCTION_NAME": "bench", "PYTHONDONTWRITEBYTECODE": "1",
           "PATH": os.environ.get("PATH", ""), "DEALREG_PREFIX": world.suite.prefix}
    got: dict[str, dict[str, list[dict]]] = {z: {} for z in roots}
    # Warm the stand-in, not the function: moto's own first calls (backend set-up) fall on no measured sample.
    warm = next(iter(roots.values()))
    _run(warm, "api_handler:webhook", world.webhook(0), env)
    _run(warm, "api_handler:duplicates_check", world.duplicate_check(0), env)
    n = 0
    for _ in range(runs):
        for z, root in roots.items():
            n += 1

            def record(function: str, event: dict, z: str = z, root: str = root, feeds: bool = False) -> None:
                if not only or function.startswith(only):
                    got[z].setdefault(function, []).append(_run(root, function, event, env))
                elif feeds:  # not measured, but what it writes and publishes feeds the functions after it
                    _run(root, function, event, env)

            record("api_handler:webhook", world.webhook(n), feeds=True)
            if floor and "api_handler:webhook" in got[z]:
                modules = got[z]["api_handler:webhook"][-1]["modules"]
                got[z].setdefault(FLOOR, []).append(_run(root, FLOOR, modules, env, FLOOR_PROBE))
            record("api_handler:duplicates_check", world.duplicate_check(n))
            if only and not any(not f.startswith("api_handler") for f in only):
                continue  # the API only: no queue or schedule function to feed
            done: set[str] = set()
            for _level in range(4):  # events -> queues -> their follow-ups
                waiting = {f: e for f, e in world.pending().items() if f not in done}
                if not waiting:
                    break
                for function, event in sorted(waiting.items()):
                    record(function, event, feeds=True)
                    done.add(function)
            world.pending()  # drop what the last level produced
            for name in world.schedules:
                if name not in done:
                    record(name, world.scheduled(name))
    world.suite.moto.stop()
    return got, ["api_handler:webhook", "api_handler:duplicates_check", *world.functions]


def imports_only(roots: dict[str, str], runs: int) -> dict[str, dict[str, list[dict]]]:
    env = {"AWS_LAMBDA_FUNCTION_NAME": "bench", "DEALREG_PREFIX": "dealreg-dev", "AWS_DEFAULT_REGION": "us-east-1",
           "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
    got: dict[str, dict[str, list[dict]]] = {z: {"import app": []} for z in roots}
    for _ in range(runs):
        for z, root in roots.items():
            got[z]["import app"].append(_run(root, "-", {}, env))
    return got


def clients_only(roots: dict[str, str], runs: int) -> dict[str, dict[str, list[dict]]]:
    env = {"AWS_LAMBDA_FUNCTION_NAME": "bench", "DEALREG_PREFIX": "dealreg-dev", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
    name = "clients of a first webhook (4 models, transactions, secretsmanager)"
    got: dict[str, dict[str, list[dict]]] = {z: {name: []} for z in roots}
    for _ in range(runs):
        for z, root in roots.items():
            got[z][name].append(_run(root, "-", {}, env, CLIENTS_PROBE))
    return got


def steps(roots: dict[str, str], runs: int) -> None:
    env = {"AWS_LAMBDA_FUNCTION_NAME": "bench", "DEALREG_PREFIX": "dealreg-dev", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
    got: dict[str, list[dict]] = {z: [] for z in roots}
    payload = json.loads((Path(__file__).resolve().parents[1] / "examples" / "opportunity.json").read_text())
    for _ in range(runs):
        for z, root in roots.items():
            got[z].append(_run(root, "-", payload, env, STEPS_PROBE))
    print(f"steps of a cold API container, CPU ms median of {runs}, python -I -S "
          f"(load {os.getloadavg()[0]:.1f})")
    print("| step | " + " | ".join(Path(z).name for z in got) + " |")
    print("|---|" + "---|" * len(got))
    for name in next(iter(got.values()))[0]:
        print(f"| {name} | " + " | ".join(f"{statistics.median(r[name] for r in rows):.0f}" for rows in got.values())
              + " |")


def unzip_all(zips: list[Path], into: Path) -> dict[str, str]:
    """Each deployment zip unzipped into its own directory under ``into``: {zip path: directory}."""
    roots = {}
    for i, z in enumerate(zips):
        root = into / str(i)
        with zipfile.ZipFile(z) as zf:
            zf.extractall(root)
        roots[str(z)] = str(root)
    return roots


# What each function answers its first, ordinary event. Every other function: "ok" — it returned without raising
# and, for a queue or stream function, reported no failed batch item (a schedule's answer is its own summary).
EXPECTED = {"api_handler:webhook": "202", "api_handler:duplicates_check": "200"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("zips", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--imports-only", action="store_true", help="only `import app` (the former figure)")
    parser.add_argument("--clients", action="store_true", help="only the AWS clients a first webhook creates")
    parser.add_argument("--steps", action="store_true", help="CPU per step of a cold API container")
    parser.add_argument("--only", default="", help="comma-separated function name prefixes, e.g. api_handler")
    parser.add_argument("--floor", action="store_true",
                        help="also the libraries a first webhook loads, alone (no dealreg code, no AWS call)")
    parser.add_argument("--valgrind", action="store_true",
                        help="report instructions executed (valgrind cachegrind, millions): load-independent")
    parser.add_argument("--profile", type=Path, default=None,
                        help="with --valgrind: run callgrind instead and keep its output per sample in this "
                             "directory (read it with callgrind_annotate)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every function answered as expected (make test's smoke of the zip)")
    args = parser.parse_args()
    global VALGRIND
    VALGRIND = args.valgrind
    if args.profile is not None:
        if not VALGRIND:
            parser.error("--profile is a valgrind tool: use it with --valgrind")
        global PROFILE_DIR
        PROFILE_DIR = args.profile.resolve()
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    only = tuple(p for p in args.only.split(",") if p)
    if args.check and (only or args.imports_only or args.clients or args.steps):
        parser.error("--check runs every function once: not with --only, --imports-only, --clients or --steps")
    declared: list[str] = []
    if VALGRIND and args.steps:
        parser.error("--valgrind counts a whole process; --steps reads the CPU clock between steps")
    with tempfile.TemporaryDirectory() as tmp:
        roots = unzip_all(args.zips, Path(tmp))
        if args.steps:
            steps(roots, args.runs)
            return
        load0 = os.getloadavg()[0]
        if args.imports_only or args.clients:
            got = (imports_only if args.imports_only else clients_only)(roots, args.runs)
        else:
            got, declared = first_calls(roots, args.runs, only, floor=args.floor)
        load1 = os.getloadavg()[0]
    what = ("import app" if args.imports_only else "client creation after the imports" if args.clients
            else "first invocation (import + clients + first call)")
    unit = ("instructions executed (valgrind), millions, median (min–max)" if VALGRIND
            else "CPU ms median (min) [import part]")
    print(f"{what} from the "
          f"unzipped package, python -I -S, {args.runs} runs each, {unit} "
          f"({platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus, load {load0:.1f}-{load1:.1f})")
    functions = sorted({f for per in got.values() for f in per})
    zips = list(got)
    print("| function | " + " | ".join(f"{Path(z).name} {'M instructions' if VALGRIND else 'CPU ms'}" for z in zips)
          + " | answer |")
    print("|---|" + "---|" * len(zips) + "---|")
    wrong: list[str] = []
    for f in functions:
        cells = []
        answers = set()
        for z in zips:
            rows = got[z].get(f, [])
            if not rows:
                cells.append("—")
                continue
            if VALGRIND:  # deterministic: the spread says whether a sample did other work (a retry, ...)
                irs = [r["ir_m"] for r in rows]
                cells.append(f"{statistics.median(irs):.0f} ({min(irs):.0f}–{max(irs):.0f})")
            else:
                cells.append(f"{statistics.median(r['cpu_ms'] for r in rows):.0f} ({min(r['cpu_ms'] for r in rows):.0f})"
                             f" [{statistics.median(r['import_cpu_ms'] for r in rows):.0f}]")
            answers |= {str(r["status"] if r["status"] is not None else
                            ("ok" if not r["failures"] else f"{r['failures']} failed")) for r in rows}
        print(f"| {f} | " + " | ".join(cells) + f" | {', '.join(sorted(answers))} |")
        if answers != {EXPECTED.get(f, "ok")}:
            wrong.append(f"{f}: {', '.join(sorted(answers))} (expected {EXPECTED.get(f, 'ok')})")
    wrong += [f"{f}: got no event (declared by the app, never called)" for f in declared if f not in functions]
    if args.check and (wrong or not functions):
        sys.exit("the package's functions did not all answer as expected:\n" + "\n".join(wrong or ["no function ran"]))


if __name__ == "__main__":
    main()
