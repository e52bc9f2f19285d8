"""Cold-start import cost of the intake function, measured in fresh interpreters.

Lambda's cold start for the API function = importing ``app`` (init phase) + what the first webhook
imports lazily (pydantic models, PynamoDB, botocore, the signature check). Each sample is a new
``python`` process; we report the median and spread of N samples, plus the largest modules from
``python -X importtime``.

    .venv/bin/python -m bench.intake_cold_start [--runs 15]
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
FIRST_REQUEST_MODULES = [
    "connectors.standard_webhooks", "chalicelib.domain.registration", "chalicelib.store.registrations",
    "chalicelib.store.directory", "schemas.webhook", "chalicelib.http",
]
PROBE = f"""
import time, json, sys
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
for m in {FIRST_REQUEST_MODULES!r}:
    __import__(m)
from chalicelib.domain import names
names.name_key("深圳市腾讯计算机系统有限公司")
t2 = time.perf_counter()
print(json.dumps({{"init_ms": (t1 - t0) * 1000, "first_request_ms": (t2 - t1) * 1000}}))
"""


def sample() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=FUNCTIONS, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def top_imports(n: int = 8) -> list[tuple[str, float]]:
    code = "import app\n" + "\n".join(f"import {m}" for m in FIRST_REQUEST_MODULES)
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=FUNCTIONS, capture_output=True,
                         text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            parts = line.split("|")
            name = parts[2]
            if not name.startswith("   "):  # top level (one leading space only)
                rows.append((name.strip(), int(parts[1]) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    sample()  # warm the filesystem cache and .pyc files
    samples = [sample() for _ in range(args.runs)]
    for key in ("init_ms", "first_request_ms"):
        values = sorted(s[key] for s in samples)
        print(f"{key:>17}: median {statistics.median(values):6.1f} ms  min {values[0]:6.1f}  max {values[-1]:6.1f}")
    total = sorted(s["init_ms"] + s["first_request_ms"] for s in samples)
    print(f"{'total_ms':>17}: median {statistics.median(total):6.1f} ms  (n={args.runs}, {platform.python_version()}, "
          f"{platform.machine()})")
    print("largest top-level imports (cumulative, one -X importtime run):")
    for name, ms in top_imports():
        print(f"  {ms:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
