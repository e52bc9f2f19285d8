"""Cold start of the dedup path, measured in fresh interpreters (issue 11: name data from packages).

Each sample is a new ``python`` process that imports the dedup modules (the handler's domain code), then
runs the first duplicate check's pure work: normalise two names, build their exact keys and score them.
The first call builds the name tables (cleanco's terms, companynameparser's lists, our own legal forms),
so "first check" is where reading the package data shows ("tables" is that part alone). Wall clock and
process CPU time (the latter is less disturbed when other jobs share the cores). Median and spread of N
samples.

    .venv/bin/python -m bench.dedup_cold_start [--runs 15]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"
PROBE = """
import time, json, sys
c0, t0 = time.process_time(), time.perf_counter()
from chalicelib.domain import names, dedup_keys, dedup_rules
c1, t1 = time.process_time(), time.perf_counter()
names._tables()
c_tables = time.process_time() - c1
a, b = "深圳市腾讯计算机系统有限公司", "Tencent Holdings Limited"
fa, fb = dedup_keys.name_forms(a), dedup_keys.name_forms(b)
dedup_keys.exact_keys(a); dedup_keys.exact_keys(b)
dedup_rules.name_score(fa, fb)
c2, t2 = time.process_time(), time.perf_counter()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("cleanco", "companynameparser", "jieba", "rigour"))
print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_check_ms": (t2 - t1) * 1000,
                  "import_cpu_ms": (c1 - c0) * 1000, "first_check_cpu_ms": (c2 - c1) * 1000,
                  "tables_cpu_ms": c_tables * 1000, "heavy": heavy}))
"""


def sample() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=FUNCTIONS, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    samples = [sample() for _ in range(args.runs)]
    print(f"python {platform.python_version()} on {platform.machine()}, {args.runs} fresh interpreters")
    for key in ("import_ms", "first_check_ms", "import_cpu_ms", "first_check_cpu_ms", "tables_cpu_ms"):
        values = [s[key] for s in samples]
        print(f"{key:<15} median {statistics.median(values):7.1f}  min {min(values):7.1f}  max {max(values):7.1f}")
    total = [s["import_ms"] + s["first_check_ms"] for s in samples]
    print(f"{'total_ms':<15} median {statistics.median(total):7.1f}")
    print("package modules imported:", samples[-1]["heavy"] or "none")


if __name__ == "__main__":
    main()
