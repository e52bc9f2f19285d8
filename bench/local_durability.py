"""How durable and how slow is `make run`'s write path (issue 12 item 12)?

Starts `dealreg local` in a subprocess (fresh state dir, free ports, no registries, no pending cap), sends
``--n`` signed webhooks one after another and times each 202 (each answer waits until the journal on disk
holds the write: infra.local.persist.durable_answers), SIGKILLs the stack right after the last 202, restarts
it (which folds the journal into the snapshot and loads it) and counts how many accepted registrations are
readable.

    .venv/bin/python -m bench.local_durability --n 25
"""
from __future__ import annotations

import argparse
import json
import signal
import statistics
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from tests.functional.helpers import example
    from tests.functional.test_local_persistence import _request, _Stack

    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=25)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        stack = _Stack(state)
        latencies, accepted = [], []
        try:
            for i in range(args.n):
                started = time.perf_counter()
                status, answer = stack.post(example(external_ref=f"BENCH-{i}"))
                latencies.append(time.perf_counter() - started)
                if status == 202:
                    accepted.append(answer["id"])
        finally:
            stack.stop(signal.SIGKILL)
        key = json.loads((state / "demo.json").read_text())["api_key"]
        again = _Stack(state)
        try:
            found = sum(_request("GET", f"{again.base}/v1/registrations/{r}",
                                 headers={"Authorization": f"Bearer {key}"})[0] == 200 for r in accepted)
        finally:
            again.stop(signal.SIGTERM)
    print(json.dumps({"sent": args.n, "accepted": len(accepted), "found_after_sigkill": found,
                      "lost": len(accepted) - found,
                      "latency_s": {"median": round(statistics.median(latencies), 3),
                                    "min": round(min(latencies), 3), "max": round(max(latencies), 3)}}))
    return 0 if found == len(accepted) else 1


if __name__ == "__main__":
    raise SystemExit(main())
