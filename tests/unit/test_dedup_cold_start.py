"""``detect_duplicates``' first message (issue 15 item 1): the modules it loads. Figures in bench/RESULTS.md
("session 7, dedupcold"); this guards the structure behind them, without timing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What the dedup function's first message imports lazily (handlers/duplicates.py, services/dedup.py and the
# store and domain modules they name), in the order it does.
DEDUP_PATH = ("chalicelib.handlers._batch", "schemas.events", "chalicelib.services.dedup",
              "chalicelib.store.dedup_verdicts", "chalicelib.store.registrations", "chalicelib.store.dedup",
              "schemas.dedup", "chalicelib.domain.events", "chalicelib.store.publisher", "chalicelib.store.scoring")


def _loaded(modules: tuple[str, ...]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}{os.pathsep}{ROOT}", "DEALREG_PREFIX": "dealreg-dev",
           "AWS_DEFAULT_REGION": "us-east-1"}
    code = ("import importlib, json, sys\n"
            f"for name in {list(modules)!r}:\n    importlib.import_module(name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('chalicelib', 'schemas')))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "functions", env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_dedup_function_reads_registrations_without_the_ownership_rules():
    # store.registrations imports ownership (its pydantic rules, workflow, access: ~9 ms of a cold start) and the
    # holders' store only in the writes that move the pending counter; reading a registration needs neither
    got = _loaded(DEDUP_PATH)
    assert "chalicelib.store.registrations" in got and "chalicelib.store.dedup" in got  # the path was imported
    assert [m for m in got if m in ("chalicelib.domain.ownership", "chalicelib.store.holders",
                                    "chalicelib.domain.workflow", "chalicelib.domain.access",
                                    "chalicelib.store.companies")] == []

