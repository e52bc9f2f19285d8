"""CI runs hypothesis reproducibly: ``.ci/run`` sets ``CI``, and with it set hypothesis loads its "ci" profile."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROBE = ("import hypothesis; s = hypothesis.settings.default; "
         "print(s.derandomize, s.database, s.deadline, hypothesis.HealthCheck.too_slow in s.suppress_health_check)")


def _defaults(**env: str) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.strip()


def test_ci_run_sets_ci_unless_the_ci_system_did():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'export CI="${CI:-true}"' in script
    assert script.index('export CI="${CI:-true}"') < script.index("make test")


def test_with_ci_set_hypothesis_is_derandomised_without_a_database_or_deadline():
    assert _defaults(CI="true") == "True None None True"


DRAWS = """
import hashlib, sys
sys.path[:0] = ["functions", "."]
if sys.argv[1] == "after-the-app":
    import app  # noqa: F401  what a functional test that ran earlier in the worker leaves loaded
from tests.hypothesis_ci import draw_without_local_constants_under_ci
draw_without_local_constants_under_ci()
from hypothesis import given, settings, strategies as st
seen = []
@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(st.text(max_size=30), st.integers())
def run(s, i):
    seen.append((s, i))
run()
print(hashlib.sha256(repr(seen).encode()).hexdigest())
"""


def _drawn(after: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "CI"}
    out = subprocess.run([sys.executable, "-c", DRAWS, after], cwd=ROOT, env={**clean, **env}, capture_output=True,
                         text=True, timeout=120, check=True)
    return out.stdout.strip()


def test_under_ci_the_examples_do_not_depend_on_what_ran_before_in_the_worker():
    assert _drawn("alone", CI="true") == _drawn("after-the-app", CI="true")
    # without it (local runs) the constants of the loaded modules change the derandomised examples
    assert _drawn("alone") != _drawn("after-the-app")
