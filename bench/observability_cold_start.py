"""Cold-start cost of chalicelib.observability (issue 14): the init-phase import in a fresh interpreter, for two
trees of ``functions/`` — before (a copy of an older commit) and now — for the API function (``app``) and an
event function (before: its handler module; now: ``app``, its new entry).

Each sample is a new ``python`` process with ``AWS_LAMBDA_FUNCTION_NAME`` set (so the JSON logger is built);
samples alternate between the two trees so machine load hits both alike. We report medians of wall time and of
the process's CPU time (user+sys; steadier on a loaded machine).

    git archive <commit> functions connectors schemas | tar -x -C /tmp/before
    .venv/bin/python -m bench.observability_cold_start --before /tmp/before --runs 9
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import importlib, json, os, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
importlib.import_module(sys.argv[1])
print(json.dumps({"wall_ms": (time.perf_counter() - t0) * 1000, "cpu_ms": (time.process_time() - c0) * 1000}))
"""


def sample(tree: Path, module: str = "app") -> dict:
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "bench", "DEALREG_FUNCTION": "api_handler",
           "DEALREG_PREFIX": "dealreg-dev", "AWS_DEFAULT_REGION": "us-east-1",
           "PYTHONPATH": os.pathsep.join([str(tree / "functions"), str(tree)]), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE, module], cwd=tree / "functions", env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    # API function: Lambda imports app.py, before and after. Event functions: before, Lambda imported only the
    # handler's module (chalicelib.handlers.tenders for poll_tender_feeds); now every function enters through app.
    cases = {"api before": (args.before, "app"), "api after": (ROOT, "app"),
             "event before": (args.before, "chalicelib.handlers.tenders"), "event after": (ROOT, "app")}
    for tree, module in cases.values():  # warm the file cache once
        sample(tree, module)
    got: dict[str, list[dict]] = {k: [] for k in cases}
    for _ in range(args.runs):
        for name, (tree, module) in cases.items():
            got[name].append(sample(tree, module))
    print(f"import app, {args.runs} fresh interpreters each ({platform.python_version()}, {platform.machine()}, "
          f"load {os.getloadavg()[0]:.1f})")
    for name, rows in got.items():
        wall = statistics.median(r["wall_ms"] for r in rows)
        cpu = statistics.median(r["cpu_ms"] for r in rows)
        print(f"  {name:<13} wall median {wall:7.1f} ms   cpu median {cpu:7.1f} ms")


if __name__ == "__main__":
    main()
