"""AWS calls of ``detect_duplicates``' first message (issue 15 item 1): each costs ~1.5 ms CPU of botocore on a
cold function, so their number is a load-independent part of the cold start.

The events are ``bench/cold_start.py``'s (its ``World``: moto on 127.0.0.1, a new signed webhook per round through
the API function, the registrations stream record to ``publish_domain_events``, then the dedup queue's message);
each round's message goes to a bare ``python -I -S`` in the unzipped package, which imports ``app``, registers a
botocore hook on the process's one session (``store.aws.session``) and calls the function once. Printed per round:
the requests by operation and the tables they name, the clients created, and the CPU of the sample (noisy).
A zip from before ``store.aws.session`` existed cannot be counted this way.

    .venv/bin/python -m bench.dedup_calls /tmp/before.zip build/deployment.zip --rounds 4
    .venv/bin/python -m bench.dedup_calls /tmp/before.zip build/deployment.zip --rounds 4 --valgrind

Round 1's event carries two messages (the stand-in's warm-up webhook's and round 1's); every later round one.
Round *r* is the same customer for every zip, so ``--valgrind`` compares like with like (``bench.cold_start``
alternates zips over one index, so its samples see different index states).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import cold_start

PROBE = cold_start.PROBE_HEAD + r"""
c0 = time.process_time()
import app
from chalicelib.store import aws
calls, clients = [], []
session = aws.session()

def hook(params, model, **_):
    tables = params.get("TableName") or sorted(params.get("RequestItems", {})) or params.get("TopicArn") or ""
    calls.append([model.service_model.service_name, model.name, tables if isinstance(tables, list) else [tables]])

session.register("before-parameter-build", hook)  # copied into every client created after this
create = session.create_client
session.create_client = lambda *a, **k: clients.append(a[0] if a else k.get("service_name")) or create(*a, **k)
answer = getattr(app, function)(event, Context())
with open(out_path, "w") as f:
    json.dump({"cpu_ms": (time.process_time() - c0) * 1000, "answer": answer, "calls": calls, "clients": clients,
               "status": None, "failures": len(answer.get("batchItemFailures", []))}, f)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("zips", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--valgrind", action="store_true",
                        help="also count the instructions of each measured sample (cachegrind; load-independent)")
    args = parser.parse_args()
    if len(args.zips) > 1:  # one process (one stand-in) per zip: each sees the same customers in the same order
        for z in args.zips:
            subprocess.run([sys.executable, "-m", "bench.dedup_calls", str(z), "--rounds", str(args.rounds),
                            *(["--valgrind"] if args.valgrind else [])], check=True)
        return
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]
    from bench import cold_start as cs

    for z in args.zips:
        world = cs.World()
        env = {**world.suite.env, "AWS_LAMBDA_FUNCTION_NAME": "bench", "PYTHONDONTWRITEBYTECODE": "1",
               "PATH": os.environ.get("PATH", ""), "DEALREG_PREFIX": world.suite.prefix}
        print(f"== {z.name}")
        with tempfile.TemporaryDirectory() as tmp:
            root = cs.unzip_all([z], Path(tmp))[str(z)]
            cs._run(root, "api_handler:webhook", world.webhook(0), env)  # the stand-in's own first calls
            for n in range(1, args.rounds + 1):
                cs._run(root, "api_handler:webhook", world.webhook(n), env)
                for _level in range(3):
                    waiting = world.pending()
                    if "detect_duplicates" in waiting:
                        cs.VALGRIND = args.valgrind  # the measured sample only, not the functions feeding it
                        try:
                            got = cs._run(root, "detect_duplicates", waiting["detect_duplicates"], env, PROBE)
                        finally:
                            cs.VALGRIND = False
                        ops = Counter(f"{service}:{op}" for service, op, _ in got["calls"])
                        reads = [tables for _, op, tables in got["calls"] if op in ("GetItem", "BatchGetItem")]
                        records = len(waiting["detect_duplicates"]["Records"])
                        print(f"round {n}: {records} message(s), {len(got['calls'])} calls {dict(sorted(ops.items()))}; "
                              f"clients {got['clients']}; failed records {got['failures']}; "
                              f"CPU {got['cpu_ms']:.0f} ms (load {os.getloadavg()[0]:.1f})"
                              + (f"; {got['ir_m']:.0f} M instructions" if "ir_m" in got else ""))
                        print(f"  reads: {json.dumps([[t.split('-')[-1] for t in ts] for ts in reads])}")
                        break
                    if "publish_domain_events" in waiting:  # its SNS messages fill the dedup queue
                        cs._run(root, "publish_domain_events", waiting["publish_domain_events"], env)
        world.suite.moto.stop()


if __name__ == "__main__":
    main()
