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
