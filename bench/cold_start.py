"""Cold start from the deployment zip itself (issue 14): unzip ``build/deployment.zip`` and import the Lambda
entry (``app``, which every function now enters through) in a bare interpreter — ``python -I -S``: no site
packages, nothing but the zip's contents and the standard library, as on Lambda's python3.11 runtime.

Compare two zips (e.g. before and after ``slim_zip``); samples alternate so machine load hits both alike.
Reports zip size and the medians of wall and CPU time of the init import. What the first invocation imports
lazily (and its AWS calls) is not part of this figure.

    cp build/deployment.zip /tmp/before.zip   # from an older `make package`
    make package
    .venv/bin/python -m bench.cold_start /tmp/before.zip build/deployment.zip --runs 9
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PROBE = """
import sys, time, json
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter(); c0 = time.process_time()
import app
print(json.dumps({"wall_ms": (time.perf_counter() - t0) * 1000, "cpu_ms": (time.process_time() - c0) * 1000,
                  "pycache_written": False}))
"""


def sample(root: str) -> dict:
    env = {"AWS_LAMBDA_FUNCTION_NAME": "bench", "DEALREG_FUNCTION": "api_handler", "DEALREG_PREFIX": "dealreg-dev",
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
    out = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE, root], cwd=root, env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("zips", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for i, z in enumerate(args.zips):
            root = Path(tmp) / str(i)
            with zipfile.ZipFile(z) as zf:
                zf.extractall(root)
            roots[z] = str(root)
            sample(roots[z])  # warm the file cache
        got: dict[Path, list[dict]] = {z: [] for z in args.zips}
        for _ in range(args.runs):
            for z, root in roots.items():
                got[z].append(sample(root))
    print(f"import app from the unzipped package, python -I -S, {args.runs} runs each "
          f"({platform.python_version()}, {platform.machine()}, load {os.getloadavg()[0]:.1f})")
    for z, rows in got.items():
        print(f"  {str(z):<32} {z.stat().st_size / 1e6:5.1f} MB  wall median "
              f"{statistics.median(r['wall_ms'] for r in rows):7.1f} ms  cpu median "
              f"{statistics.median(r['cpu_ms'] for r in rows):7.1f} ms")


if __name__ == "__main__":
    main()
