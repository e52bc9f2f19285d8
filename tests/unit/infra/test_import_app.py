"""``infra.local.stack_session.import_app``: the app's event sources follow the configuration of the caller,
whatever imported the app earlier in the process (pytest runs tests in any order, and xdist mixes them)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# A plain ``import app`` under one prefix (as tests/unit/test_query_params.py does), then import_app under another
# (as the tests' _app_server does): the stream the app reads must be the second prefix's, and a second
# import_app under the same configuration must not import the app again.
SCRIPT = """
import json, os, sys
sys.path[:0] = ["functions", "."]
os.environ["DEALREG_PREFIX"] = "dealreg-first"
import app
from chalicelib import settings
from infra.local.stack_session import import_app
os.environ["DEALREG_PREFIX"] = "dealreg-second"
settings.reset()
first = import_app()
print(json.dumps({"streams": sorted(s.stream_arn for s in first.event_sources if getattr(s, "stream_arn", None)),
                  "plain_replaced": first is not app.app, "again_same": import_app() is first}))
"""


def test_an_app_imported_plainly_under_another_prefix_is_imported_afresh():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALREG_")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["streams"] == ["arn:aws:dynamodb:us-east-1:000000000000:table/dealreg-second-registrations/stream/unresolved"]
    assert got["plain_replaced"] and got["again_same"]
