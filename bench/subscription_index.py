"""Benchmark: a poller's cold start with N subscriptions, the persisted index against the Scan rebuild (issue 15).

    git archive c569897 | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    .venv/bin/python -m bench.subscription_index [--sizes 100000,1000000] [--runs 3] [--baseline /tmp/before]

Subscriptions are ``bench.tender_matching``'s (seeded, from the corpus's vocabulary, 3 % of terms hitting).
Parent process: moto in server mode on 127.0.0.1 (``infra/local``), the subscriptions table provisioned,
``meta#version`` at version N and the snapshot written by ``store.tenders.write_snapshot`` (what the poller's
compaction writes). Each sample is a fresh interpreter (a cold container):

- after: import the poller's service module, ``services.tenders.current_index()`` (one GetItem of the state,
  BatchGetItem of the snapshot chunks through botocore from moto, decode: the snapshot holds the index as it
  was), then the first match; then prepare + match over the corpus tenders (CPU rate; the buyer look-ups the
  index remembers are dropped before each pass, so every pass pays them; then three passes that keep them,
  a warm poller whose feeds repeat buyers), the loaded index checked against
  the naive loop on its first tenders (8, or 2 at 1M; the run fails on any difference), and one change
  applied in place (a warm poller seeing a new subscription with a keyword the automata lack).
- before (``--baseline DIR``, a checkout of the code before): its rebuild minus the DynamoDB Scan (so a
  lower bound): the stored subscription documents (read from a file, outside the timing) validated as
  ``Subscription``, compiled and indexed, by that code.

CPU is ``time.process_time`` of the child (moto's work is in the parent), RSS is the child's VmRSS and
peak VmHWM from /proc. Medians over ``--runs``; the machine's load average is printed.
"""
from __future__ import annotations

import argparse
import json
import marshal
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX, REGION = "dealreg-bench", "us-east-1"

AFTER = r"""
import gc, json, sys, time
sys.path[:0] = [{root!r}, {functions!r}]
def mem():
    f = dict(l.split(":", 1) for l in open("/proc/self/status") if l.startswith(("VmRSS", "VmHWM")))
    return {{k: int(v.split()[0]) / 1024 for k, v in f.items()}}
out = {{"rss_start": mem()["VmRSS"]}}
c0 = time.process_time()
from chalicelib.services import tenders as service
from chalicelib.store import tenders as store
from chalicelib.domain.tender_matching import Criteria, prepare
import ahocorasick, rapidfuzz
c05 = time.process_time()
out["import_cpu"] = c05 - c0
from chalicelib.store.models import SubscriptionItem
SubscriptionItem._get_connection().connection.client  # the shared client, which any poll creates first
out["rss_imported"] = mem()["VmRSS"]
c1, t1 = time.process_time(), time.perf_counter()
out["client_cpu"] = c1 - c05
if {profile!r}:
    import cProfile, pstats
    prof = cProfile.Profile()
    prof.enable()
if {chunks_file!r}:  # the same decode, from the chunks in a local file instead of DynamoDB
    import marshal
    from chalicelib.domain.tender_matching import decode_snapshot
    index = decode_snapshot(marshal.load(open({chunks_file!r}, "rb")))
    gc.freeze()
else:
    index = service.current_index()
c2, t2 = time.process_time(), time.perf_counter()
if {profile!r}:
    prof.disable()
    pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
out.update(load_cpu=c2 - c1, load_wall=t2 - t1, subscriptions=len(index), rss_loaded=mem()["VmRSS"])
from bench.tender_matching import corpus_tenders
tenders = corpus_tenders()
c3 = time.process_time()
index.match(prepare(tenders[0]))
out["first_match_cpu"] = time.process_time() - c3
rates, match_rates, hits = [], [], 0
for _ in range(3):
    index.forget()  # each pass pays every buyer look-up once again (a poller remembers them between polls)
    c = time.process_time()
    prepared = [prepare(t) for t in tenders]
    cp = time.process_time()
    got = [index.match(p) for p in prepared]
    cm = time.process_time()
    rates.append(len(tenders) / (cm - c))
    match_rates.append(len(tenders) / (cm - cp))
    hits = sum(len(g) for g in got)
out.update(prepare_match_rate=sorted(rates)[1], match_rate=sorted(match_rates)[1], matches_per_tender=hits / len(tenders))
warm = []
for _ in range(3):  # the buyer answers of the passes before kept: a warm poller whose feeds repeat buyers
    c = time.process_time()
    for p in prepared:
        index.match(p)
    warm.append(len(tenders) / (time.process_time() - c))
out["match_rate_warm"] = sorted(warm)[1]
from chalicelib.domain.tender_matching import naive_match
checked = prepared[:{naive}]  # the loaded index against the naive loop over its own subscriptions
out["identical"] = [index.match(p) for p in checked] == [naive_match(index, p) for p in checked]
out["naive_checked"] = len(checked)
c4 = time.process_time()
index.apply([Criteria(id="sub_new", rep_id="rep_new", include=(" brandnewterm ", "全新关键词"))], index.version + 1)
out["delta_cpu"] = time.process_time() - c4
m = mem()
out.update(rss_end=m["VmRSS"], rss_peak=m["VmHWM"])
print(json.dumps(out))
"""

BEFORE = r"""
import gc, json, sys, time
sys.path[:0] = [{root!r}, {functions!r}]
def mem():
    f = dict(l.split(":", 1) for l in open("/proc/self/status") if l.startswith(("VmRSS", "VmHWM")))
    return {{k: int(v.split()[0]) / 1024 for k, v in f.items()}}
from chalicelib.domain.tender_matching import Criteria, SubscriptionIndex
from schemas.tender import Subscription
stored = json.load(open({path!r}))  # what the Scan handed over (its own cost is not counted)
out = {{"rss_start": mem()["VmRSS"]}}
c1 = time.process_time()
subs = [Subscription.model_validate(d) for d in stored]
index = SubscriptionIndex([Criteria.from_subscription(s) for s in subs])
out.update(load_cpu=time.process_time() - c1, subscriptions=len(index))
m = mem()
out.update(rss_end=m["VmRSS"], rss_peak=m["VmHWM"])
print(json.dumps(out))
"""


def _child(code: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before-max", type=int, default=100_000, help="largest size the Scan rebuild is run at")
    parser.add_argument("--baseline", default="",
                        help="a checkout of the code before (e.g. `git archive c569897 | tar -x -C DIR`): its Scan "
                             "rebuild is measured in the same run")
    parser.add_argument("--moto-max", type=int, default=100_000,
                        help="largest size loaded through moto (slow to write and serve; larger sizes: decode + build "
                             "from a local file)")
    args = parser.parse_args()

    import logging

    from bench.tender_matching import corpus_tenders, make_subscriptions
    from chalicelib.domain.tender_matching import (
        SNAPSHOT_FORMAT,
        Criteria,
        SubscriptionIndex,
        encode_snapshot,
    )
    from infra.local.stack import MotoServer, local_environment, provision
    from infra.local.stack_session import configure_process

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()}")
    moto = MotoServer().start()
    tenders = corpus_tenders()
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            moto.reset()
            env = local_environment(moto.url, PREFIX, REGION, provision(moto.url, PREFIX, REGION))
            configure_process(env)
            from chalicelib.store import tenders as store
            from chalicelib.store.models import SubscriptionItem

            subs = make_subscriptions(n, tenders)
            stored = [s.model_dump(mode="json") for s in subs] if n <= args.before_max and args.baseline else None
            crits = [Criteria.from_subscription(s) for s in subs]
            del subs
            index = SubscriptionIndex(crits)
            del crits
            c = time.process_time()
            chunks = encode_snapshot(index)
            encode = time.process_time() - c
            del index
            print(f"\n{n:,} subscriptions: snapshot {len(chunks)} chunks, {sum(map(len, chunks)) / 1e6:.1f} MB; "
                  f"encode (the compaction) {encode:.2f} s CPU")
            if n <= args.moto_max:
                SubscriptionItem(id=store.META_VERSION, counter=n, created_at="epoch-bench").save()
                t = time.perf_counter()
                assert store.write_snapshot(chunks, n, SNAPSHOT_FORMAT, store.index_state())
                print(f"  written to moto in {time.perf_counter() - t:.1f} s wall")
            child_env = {**os.environ, **env}

            def med(rows: list[dict], key: str) -> float:
                return statistics.median(r[key] for r in rows)

            with tempfile.NamedTemporaryFile("wb", suffix=".marshal", delete=False) as f:
                marshal.dump(chunks, f)
            del chunks
            for source in ([""] if n <= args.moto_max else []) + [f.name]:
                afters = [_child(AFTER.format(root=str(ROOT), functions=str(ROOT / "functions"), profile=False,
                                              chunks_file=source, naive=8 if n <= 100_000 else 2), child_env) for _ in range(args.runs)]
                assert all(a["subscriptions"] == n for a in afters)
                if not all(a["identical"] for a in afters):
                    raise SystemExit("MISMATCH between the loaded index and the naive loop")
                print(f"  after, {'from a local file (decode + build only)' if source else 'from DynamoDB (moto)'} "
                      f"(fresh interpreter, {args.runs} runs, median): import {med(afters, 'import_cpu'):.2f} s CPU, "
                      f"DynamoDB client {med(afters, 'client_cpu'):.2f} s; "
                      f"load {med(afters, 'load_cpu'):.2f} s CPU ({med(afters, 'load_wall'):.2f} s wall); "
                      f"first match {med(afters, 'first_match_cpu') * 1000:.1f} ms CPU; RSS {med(afters, 'rss_imported'):.0f} MB "
                      f"after imports, {med(afters, 'rss_loaded'):.0f} MB loaded, peak {med(afters, 'rss_peak'):.0f} MB")
                print(f"         prepare + match {med(afters, 'prepare_match_rate'):,.0f} tenders/s CPU "
                      f"(match alone {med(afters, 'match_rate'):,.0f}/s, buyer answers remembered "
                      f"{med(afters, 'match_rate_warm'):,.0f}/s; {med(afters, 'matches_per_tender'):.1f} matches/tender); "
                      f"one change applied in place {med(afters, 'delta_cpu') * 1000:.0f} ms CPU; "
                      f"identical to the naive loop on {afters[0]['naive_checked']} tenders; "
                      f"load CPU per run {[round(a['load_cpu'], 2) for a in afters]}")
            os.unlink(f.name)
            if stored is not None and args.baseline:
                baseline = Path(args.baseline).resolve()
                with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                    json.dump(stored, f)
                del stored
                try:
                    befores = [_child(BEFORE.format(root=str(baseline), functions=str(baseline / "functions"), path=f.name),
                                      child_env) for _ in range(args.runs)]
                finally:
                    os.unlink(f.name)
                print(f"  before (Scan rebuild without the Scan, {args.runs} runs, median): "
                      f"{med(befores, 'load_cpu'):.2f} s CPU; RSS +{med(befores, 'rss_end') - med(befores, 'rss_start'):.0f} MB "
                      f"over the scanned documents ({med(befores, 'rss_end'):.0f} MB, peak {med(befores, 'rss_peak'):.0f} MB)")
    finally:
        moto.stop()
    print(f"\nload average at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
