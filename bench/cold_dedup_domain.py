"""The dedup function's own cold-start work, without AWS (issue 15 item 1): CPU of the first judgement's pure steps.

``bench/cold_start.py`` measures whole first invocations, where AWS calls and libraries (botocore, pydantic) make
the figures swing ±50 ms on a shared machine. This isolates what ``detect_duplicates`` adds on its first message:
importing the dedup domain, loading the name tables and the romanisation table, and the first customer's name
forms, keys and candidate scoring (a Chinese name with a region, then a Latin one, which reads the pinyin regions);
and, for the workflow functions, the imports behind reading a stored verdict and running the auto-checks.
Each sample is a bare ``python -I -S`` in the unzipped package with Lambda's environment, after ``import app``,
pydantic, ``schemas.events`` and a first validator (the function has them from parsing its event; not counted);
zips alternate per round so load hits them alike.

    .venv/bin/python -m bench.cold_dedup_domain /tmp/base_main.zip build/deployment.zip --runs 15
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.cold_start import unzip_all

PROBE = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DEALREG_PREFIX", "dealreg-bench")
import app
import pydantic, schemas.events  # the queue function has these already (its event was parsed): not counted
pydantic.TypeAdapter(int).validate_python(1)  # as has its first validator (pydantic's one-off plugin set-up)
steps = {}
c = time.process_time()
def mark(name):
    global c
    now = time.process_time(); steps[name] = (now - c) * 1000; c = now
from chalicelib.domain import dedup_keys, dedup_match, dedup_verdict, names
from chalicelib.rules import dedup_rules
mark("import the dedup domain")
rules = dedup_rules()
mark("dedup rules")
cn = dedup_keys.name_forms("杭州星辰1号信息技术有限公司")
exact = dedup_keys.exact_keys("杭州星辰1号信息技术有限公司", [], "bench1.example.com")
keys = dedup_match.stored_keys(cn, exact)
mark("first Chinese name: forms + keys")
dedup_match.score_candidates(cn, exact, [("name:星辰", "杭州星辰信息技术有限公司", ["name:星辰"], None)], rules)
mark("first candidate scored")
en = dedup_keys.name_forms("Hangzhou Yitong New Materials Co., Ltd.")
dedup_match.stored_keys(en, dedup_keys.exact_keys("Hangzhou Yitong New Materials Co., Ltd."))
mark("first Latin name: forms + keys")
steps["total"] = sum(steps.values())
print(json.dumps(steps))
"""

# review_submissions / advance_stalled_submissions: the modules their first message imports to read a stored
# verdict and run the auto-checks (``services.workflow``), after the same start.
WORKFLOW_PROBE = """
import importlib, json, os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DEALREG_PREFIX", "dealreg-bench")
import app
import pydantic, schemas.events
pydantic.TypeAdapter(int).validate_python(1)
from chalicelib.store import models, registrations
c = time.process_time()
from chalicelib.services import workflow
try:
    importlib.import_module("chalicelib.store.dedup_verdicts")  # this branch: the verdicts' own module
except ImportError:
    importlib.import_module("chalicelib.store.dedup")  # before: the verdicts lived with the blocking index
from chalicelib.domain import auto_checks
print(json.dumps({"workflow: verdict + auto-check imports": (time.process_time() - c) * 1000}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("zips", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    got: dict[str, list[dict[str, float]]] = {str(z): [] for z in args.zips}
    with tempfile.TemporaryDirectory() as tmp:
        roots = unzip_all(args.zips, Path(tmp))
        load0 = os.getloadavg()[0]
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_LAMBDA_FUNCTION_NAME": "bench", "DEALREG_FUNCTION": "detect_duplicates"}  # a Lambda container
        for _ in range(args.runs):
            for z, root in roots.items():
                row = {}
                for probe in (PROBE, WORKFLOW_PROBE):
                    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe, root], cwd=root, env=env,
                                          capture_output=True, text=True, check=True)
                    row.update(json.loads(done.stdout.strip().splitlines()[-1]))
                got[z].append(row)
        load1 = os.getloadavg()[0]
    print(f"dedup function's pure cold work after `import app` + pydantic + schemas.events, python -I -S in the unzipped package, {args.runs} runs "
          f"each, CPU ms median (min) (load {load0:.1f}-{load1:.1f})")
    print("| step | " + " | ".join(Path(z).name for z in got) + " |")
    print("|---|" + "---|" * len(got))
    for step in next(iter(got.values()))[0]:
        print(f"| {step} | " + " | ".join(
            f"{statistics.median(r[step] for r in rows):.1f} ({min(r[step] for r in rows):.1f})"
            for rows in got.values()) + " |")


if __name__ == "__main__":
    main()
