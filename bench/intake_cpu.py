"""CPU of one partner webhook in the API function, warm (issue 15 item 2).

In one process: the AWS stand-in (moto server on 127.0.0.1, its own thread), the app, one partner. Every call is
the whole Lambda entry: an API Gateway proxy event for ``POST /v1/partners/{id}/opportunities`` carrying
``examples/opportunity.json`` as the file is, envelope stamped today (signed per Standard Webhooks, a new ``webhook-id`` each
time) goes through ``app(event, context)`` → Chalice → our handler → botocore → 202. CPU is the calling thread's
(``time.thread_time``): ours, never the stand-in's (another thread).

The DynamoDB calls (BatchGetItem of the customer's claims, then TransactWriteItems) are answered two ways:

* **stubbed**: botocore's ``Stubber`` on the shared DynamoDB client answers "no claim held" and "committed".
  botocore still builds and serialises each request and resolves its endpoint; it skips signing, HTTP and
  parsing the answer. Nothing is stored, so every call takes the same full path.
* **loopback HTTP**: the real botocore path (SigV4, urllib3, parsing) to the moto server on 127.0.0.1. Between
  calls (not timed) the example's claims and the submitter's pending counter are reset, so every call takes the
  full path too: a new registration of a customer nobody holds yet (8 transaction writes).

Per call: **before the first AWS call** (the event to the first ``BaseClient._make_api_call``; warm, the partner
and its secrets are cached, so that is the create path's BatchGetItem), the **whole entry** (the event to the
answer), and of the entry the part inside botocore calls.

``--fresh-names``: every call (entries and reference) carries the same file with the customer's name replaced by
one never sent before (a Han company name made from the call's number), so the name key (``names.normalise``,
cached per process) is computed as for a new customer; without it every call after the first reuses the cached
key, which is what a repeat customer costs.

The reference, measured in the same rounds: Standard Webhooks verify + ``json.loads`` + one pydantic validation
(``OpportunityRegistered.model_validate``) of the same signed body.

Rounds interleave the three (stubbed entries, loopback entries, reference) so machine load falls on all; each
figure is the median per call of one round, reported as the min and the median over rounds.

    .venv/bin/python -m bench.intake_cpu --rounds 5 --n 200 [--fresh-names] [--steps] [--profile stub|http]

``--valgrind``: figure (a) as instructions executed (load-independent; CPU time on the shared machine moves by tens
of µs between runs). The bench re-runs itself under valgrind's callgrind with instrumentation off until the
warm-up is done; then, per stubbed entry, it counts from the event to the first AWS call only (callgrind's
client requests, through a two-function C shim compiled with gcc at run time against ``valgrind/callgrind.h``).
Reported: instructions per entry (the total over ``--n`` entries / n), once per round. Needs valgrind and gcc.
``--whole``: count each stubbed entry from the event to the answer instead ((b), DynamoDB answered by the Stubber:
botocore builds and serialises both requests, no HTTP).

    .venv/bin/python -m bench.intake_cpu --valgrind --rounds 3 --n 50 [--fresh-names] [--whole] [--root /tmp/before]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTNER = "benchcpu"
EXAMPLE_NAME = "深圳市腾讯计算机系统有限公司"
# Characters of real company names; a call's number written in base 20 with them makes a name never sent before.
_NAME_DIGITS = "华兴达源创新信宏泰安康盛通明德远恒嘉瑞丰"


def fresh_name(n: int) -> str:
    """A company name no earlier call used: "深圳市" + the number in ``_NAME_DIGITS`` + "科技有限公司"."""
    digits = ""
    while True:
        n, d = divmod(n, len(_NAME_DIGITS))
        digits = _NAME_DIGITS[d] + digits
        if not n:
            break
    return f"深圳市{digits}科技有限公司"


def _event(converter, partner: str, headers: dict[str, str], raw: bytes) -> dict:
    return converter.create_lambda_event("POST", f"/v1/partners/{partner}/opportunities",
                                         {"content-type": "application/json", **headers}, raw)


class Harness:
    """The app with one partner, its signed events, and the two ways of answering DynamoDB."""

    def __init__(self, *, fresh_names: bool = False) -> None:
        from infra.local import stack_session

        self.suite = stack_session.start(prefix="dealreg-intakecpu")
        import botocore.client
        from botocore.stub import Stubber
        from chalice.local import LambdaContext, LambdaEventConverter, RouteMatcher

        from chalicelib.clock import now
        from chalicelib.domain.registration import new_registration
        from chalicelib.store import directory, models
        from chalicelib.store.holders import submitter_counter
        from chalicelib.store.models import ClaimItem
        from chalicelib.store.registrations import customer_claim_keys
        from schemas.common import Actor
        from schemas.registration import RegistrationCreate

        self.app = self.suite.app
        # the file's bytes with the envelope's timestamp set to 00:00 UTC today (same length, so the same work:
        # the file's own stamp would be refused as over a year old from 2027-11-28). Not infra.cli's
        # with_envelope_stamp: under --root the imports come from the tree measured, and a baseline from before
        # session 9 has none.
        today = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime()).encode()
        raw = (ROOT / "examples" / "opportunity.json").read_bytes()
        self.example = self.raw = re.sub(rb'^(\{\s*"type":\s*"[^"]*",\s*"timestamp":\s*")[^"]{20}"', lambda m: m.group(1) + today + b'"',
                                         raw, count=1)
        assert self.raw != raw and len(self.raw) == len(raw)
        assert EXAMPLE_NAME.encode() in self.example
        self.fresh_names, self.names_sent = fresh_names, 0
        body = json.loads(self.raw)
        self.secret, _ = directory.create_partner(PARTNER, "Bench partner", now=now())
        self.secrets = directory.partner_secrets(PARTNER, now=now())
        self.converter = LambdaEventConverter(RouteMatcher(list(self.app.routes)))
        self.context = LambdaContext("dealreg-api", 512)
        self.stubber = Stubber(models.connection().client)  # the one DynamoDB client every model shares
        self.claims_table = ClaimItem.Meta.table_name
        self.seq = 0
        # What a stored call leaves behind that would change the next one's path: the example's customer and
        # external_ref claims (a second registration would be a duplicate / a 409) and the pending counter (cap).
        probe = new_registration(RegistrationCreate.model_validate(body["data"]), reg_id="reg_probe",
                                 source="partner", submitter=Actor(kind="partner", id=PARTNER), now=now(),
                                 partner_id=PARTNER)
        self.reset_keys = [*customer_claim_keys(probe), f"extref#{PARTNER}#{body['data']['external_ref']}"]
        self.counter = submitter_counter(probe.submitter)
        # The first AWS call of each entry, and the CPU spent inside botocore calls.
        self.armed, self.first, self.in_aws = False, None, 0.0
        make_api_call = botocore.client.BaseClient._make_api_call
        harness = self

        def timed_api_call(client, operation_name, api_params):
            if not harness.armed:
                return make_api_call(client, operation_name, api_params)
            start = time.thread_time()
            if harness.first is None:
                harness.first = start
            try:
                return make_api_call(client, operation_name, api_params)
            finally:
                harness.in_aws += time.thread_time() - start

        botocore.client.BaseClient._make_api_call = timed_api_call

    def signed_headers(self, prefix: str) -> dict[str, str]:
        """Signed headers of the next call's body (with ``--fresh-names``, the body gets a new customer name)."""
        from connectors.standard_webhooks import sign

        if self.fresh_names:
            self.names_sent += 1
            self.raw = self.example.replace(EXAMPLE_NAME.encode(), fresh_name(self.names_sent).encode())
        self.seq += 1
        msg_id, ts = f"msg_{prefix}_{self.seq}", int(time.time())
        return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
                "webhook-signature": sign(self.secret, msg_id, ts, self.raw)}

    def prepare(self, way: str) -> dict:
        """A new signed event; DynamoDB made ready to answer it (``way``: stub or http)."""
        from chalicelib.store.models import ClaimItem, HolderItem

        event = _event(self.converter, PARTNER, self.signed_headers(way), self.raw)
        if way == "stub":
            self.stubber.add_response("batch_get_item", {"Responses": {self.claims_table: []}, "UnprocessedKeys": {}})
            self.stubber.add_response("transact_write_items", {})
            self.stubber.activate()
        else:
            for key in self.reset_keys:
                ClaimItem(key).delete()
            if self.counter is not None:
                HolderItem(self.counter).update(actions=[HolderItem.pending.set(0)])
        return event

    def finish(self, way: str) -> None:
        if way == "stub":
            self.stubber.assert_no_pending_responses()
            self.stubber.deactivate()

    def entry_call(self, way: str) -> tuple[float, float, float]:
        """(before the first AWS call, whole entry, inside botocore), thread CPU seconds."""
        event = self.prepare(way)
        self.armed, self.first, self.in_aws = True, None, 0.0
        t0 = time.thread_time()
        answer = self.app(event, self.context)
        t1 = time.thread_time()
        self.armed = False
        self.finish(way)
        assert answer["statusCode"] == 202, answer
        return (self.first or t1) - t0, t1 - t0, self.in_aws

    def reference_call(self) -> float:
        from connectors.standard_webhooks import verify
        from schemas.webhook import OpportunityRegistered

        headers = self.signed_headers("ref")
        t0 = time.thread_time()
        verify(self.secrets, headers, self.raw, now=int(time.time()))
        OpportunityRegistered.model_validate(json.loads(self.raw))
        return time.thread_time() - t0

    def steps(self, n: int) -> None:
        """Thread CPU per call of each step before the first AWS call (wrapped where the handler calls it), over
        n stubbed entries; the rest of (a) is Chalice, the middleware and the glue between the steps."""
        import functools

        import connectors.standard_webhooks as webhooks
        from chalicelib import http
        from chalicelib.domain import registration
        from chalicelib.store import directory, registrations
        from schemas.webhook import OpportunityRegistered

        spent: dict[str, float] = {}

        def timed(name: str, original):
            @functools.wraps(original)
            def run(*args, **kwargs):
                start = time.thread_time()
                try:
                    return original(*args, **kwargs)
                finally:
                    spent[name] = spent.get(name, 0.0) + time.thread_time() - start

            return run

        # Wrapped where they are looked up at call time (benchmarks never import handlers).
        for module, names in ((webhooks, ("verify",)), (http, ("json_depth",)),
                              (registration, ("new_registration", "new_id")),
                              (directory, ("partner_secrets", "cached_partner_standing")),
                              (registrations, ("customer_claim_keys", "_request_claims", "json_fingerprint",
                                               "_pending_cap"))):
            for name in names:
                setattr(module, name, timed(name, getattr(module, name)))
        decoder = http._SORTED_DECODER  # what parse_json_sorted reads the body with (looked up at call time)
        http._SORTED_DECODER = type("TimedDecoder", (), {"decode": staticmethod(timed("json decode", decoder.decode))})()
        validate = OpportunityRegistered.model_validate
        OpportunityRegistered.model_validate = timed("OpportunityRegistered.model_validate", validate)  # type: ignore[method-assign]
        before = [self.entry_call("stub")[0] for _ in range(n)]
        print(f"\n(a) steps, µs per call over {n} stubbed entries (median (a) {statistics.median(before) * 1e6:.0f})")
        print("| step | µs |")
        print("|---|---|")
        for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
            print(f"| {name} | {seconds / n * 1e6:.0f} |")
        print(f"| rest of (a): Chalice, middleware, glue (mean) | {(sum(before) - sum(spent.values())) / n * 1e6:.0f} |")

    def profile(self, way: str, n: int) -> None:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.thread_time)
        for _ in range(n):
            event = self.prepare(way)
            profiler.enable()
            self.app(event, self.context)
            profiler.disable()
            self.finish(way)
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(70)
        stats.sort_stats("tottime").print_stats(40)


_SHIM = r"""
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
"""


def _shim(tmp: str):
    """The two callgrind client requests as C functions Python can call (ctypes)."""
    import ctypes
    import subprocess

    src, lib = Path(tmp) / "cg.c", Path(tmp) / "cg.so"
    src.write_text(_SHIM)
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    return ctypes.CDLL(str(lib))


def counted(harness: Harness, n: int, shim_dir: str, whole: bool = False) -> None:
    """Inside callgrind (``--valgrind``): collect (a) of ``n`` stubbed entries, nothing else; with ``whole``, each
    stubbed entry from the event to the answer ((b) answered by the Stubber)."""
    import botocore.client

    shim = _shim(shim_dir)
    inner = botocore.client.BaseClient._make_api_call
    state = {"on": False}

    def first_call_stops(client, operation_name, api_params):
        if state["on"] and not whole:
            shim.cg_toggle()
            state["on"] = False
        return inner(client, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = first_call_stops
    shim.cg_start()  # instrumentation on; collection stays off until an entry starts
    for _ in range(3):  # the instrumented code's first runs, not counted
        harness.entry_call("stub")
    for _ in range(n):
        event = harness.prepare("stub")
        state["on"] = True
        shim.cg_toggle()
        answer = harness.app(event, harness.context)
        if state["on"]:  # no AWS call at all: counted to the answer
            shim.cg_toggle()
            state["on"] = False
        assert answer["statusCode"] == 202, answer
        harness.finish("stub")


def valgrind(args: argparse.Namespace) -> None:
    """Re-run this bench under callgrind, one process per round; report instructions per entry."""
    import re
    import subprocess
    import tempfile

    per_entry = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "cg.out"
            command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
                       f"--callgrind-out-file={out}", sys.executable, "-m", "bench.intake_cpu", "--root", str(ROOT),
                       "--n", str(args.n), "--inside-valgrind", tmp] + (["--fresh-names"] if args.fresh_names else [])
            command += ["--whole"] if args.whole else []
            proc = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                                  env={**os.environ, "PYTHONHASHSEED": "0"})
            if proc.returncode != 0 or not out.exists():
                raise RuntimeError(f"valgrind run failed:\n{proc.stderr[-3000:]}")
            found = re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(), re.M)
            if found is None:
                raise RuntimeError(f"no instruction count in {out}")
            per_entry.append(int(found.group(1)) / args.n)
    what = "(b) whole entry, DynamoDB answered by the Stubber" if args.whole else "(a) entry → first AWS call"
    print(f"intake {what}, instructions per webhook (valgrind callgrind), {args.rounds} runs × "
          f"{args.n} stubbed entries; tree {ROOT}; Python {platform.python_version()}"
          + ("; a new customer name on every call" if args.fresh_names else ""))
    print("| figure | min | median | max |")
    print("|---|---|---|---|")
    print(f"| {what}, thousand instructions | {min(per_entry) / 1e3:.1f} | "
          f"{statistics.median(per_entry) / 1e3:.1f} | {max(per_entry) / 1e3:.1f} |")


LABELS = {
    "reference": "reference: verify + json.loads + one OpportunityRegistered validation",
    "stub before": "(a) entry → first AWS call",
    "stub entry": "(b) whole entry, DynamoDB answered by botocore's Stubber",
    "stub in_aws": "    of which inside botocore calls",
    "http entry": "(b') whole entry, DynamoDB over HTTP to the loopback moto server",
    "http in_aws": "    of which inside botocore calls",
    "http before": "(a') entry → first AWS call (loopback run)",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=200, help="webhooks per round and way")
    parser.add_argument("--profile", choices=("stub", "http"), help="then cProfile N entry calls answered so")
    parser.add_argument("--steps", action="store_true", help="then the CPU of each step before the first AWS call")
    parser.add_argument("--fresh-names", action="store_true",
                        help="a customer name never sent before on every call (a new customer's name key)")
    parser.add_argument("--valgrind", action="store_true",
                        help="(a) as instructions executed under valgrind's callgrind (load-independent)")
    parser.add_argument("--whole", action="store_true",
                        help="with --valgrind: count the whole stubbed entry (b) instead of (a)")
    parser.add_argument("--root", type=Path, help="measure the tree at this path (e.g. an unpacked baseline)")
    parser.add_argument("--inside-valgrind", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global ROOT
    if args.root is not None:
        ROOT = args.root.resolve()
    if args.valgrind:
        if args.steps or args.profile:
            parser.error("--valgrind counts (a) only; --steps and --profile read the CPU clock")
        valgrind(args)
        return
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("DEALREG_LOG_LEVEL", "WARNING")  # the entry's own INFO lines would be printed here
    harness = Harness(fresh_names=args.fresh_names)
    # (a) is a warm container's: the partner and its secrets stay cached throughout. Under valgrind, or on a loaded
    # machine, a run lasts minutes: their 60 s would expire mid-run and the next stubbed entry would read them
    # through the stub (StubResponseError: GetItem where BatchGetItem was queued; seen at load 18 in session 9).
    from chalicelib import settings

    os.environ["DEALREG_SECRET_CACHE_SECONDS"] = os.environ["DEALREG_PARTNER_CACHE_SECONDS"] = "86400"
    settings.reset()
    if args.inside_valgrind:
        for _ in range(20):
            harness.entry_call("http")
            harness.entry_call("stub")
        counted(harness, args.n, args.inside_valgrind, whole=args.whole)
        harness.suite.moto.stop()
        return
    for _ in range(20):  # warm: caches (the partner, its secrets), connections, lazy imports
        harness.entry_call("http")
        harness.entry_call("stub")
        harness.reference_call()
    rows: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for way in ("stub", "http"):
            per = [harness.entry_call(way) for _ in range(args.n)]
            for i, what in enumerate(("before", "entry", "in_aws")):
                rows.setdefault(f"{way} {what}", []).append(statistics.median(p[i] for p in per))
        rows.setdefault("reference", []).append(statistics.median(harness.reference_call() for _ in range(args.n)))
    print(f"intake CPU per webhook, µs (thread CPU), {args.rounds} rounds × {args.n} webhooks per way; "
          f"Python {platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end"
          + (f"; a new customer name on every call ({harness.names_sent} names)" if args.fresh_names else ""))
    print("| figure | min of round medians | median of round medians |")
    print("|---|---|---|")
    for key, label in LABELS.items():
        print(f"| {label} | {min(rows[key]) * 1e6:.0f} | {statistics.median(rows[key]) * 1e6:.0f} |")
    if args.steps:
        harness.steps(args.n)
    if args.profile:
        harness.profile(args.profile, args.n)
    harness.suite.moto.stop()


if __name__ == "__main__":
    main()
