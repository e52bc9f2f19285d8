"""The app's AWS clients in the test process wait PATIENT_READ_TIMEOUT (tests/conftest.py), not production's 5 s.

Session 9 found the 50- and 100-claim races answering 503 to every loser under load: their fixture raised
``models._Meta.read_timeout_seconds``, which stopped reaching any client once every model and transaction shared
one (issue 15: ``store.models._CLIENT_CONFIG``), so the racers at the back of the stand-in's queue still gave up
after 5 s; at load 20 lone Scans of the tests' oracles timed out too. These checks fail if the patient timeout
stops reaching a client the app uses, or if it leaks into what ships.
"""
from __future__ import annotations

from tests.conftest import PATIENT_READ_TIMEOUT


def test_every_client_the_app_uses_in_tests_waits_the_patient_timeout(suite):
    from chalicelib.store import aws, models

    clients = [models.connection().client, aws.client("sqs"), aws.client("sns"), aws.client("secretsmanager")]
    clients += [m._get_connection().connection.client for m in (models.RegistrationItem, models.HolderItem)]
    assert {c.meta.config.read_timeout for c in clients} == {PATIENT_READ_TIMEOUT}


def test_what_ships_keeps_the_production_timeout():
    """A fresh interpreter, as a Lambda function imports the modules: 5 s."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import json; from chalicelib.store import aws, models; "
            "print(json.dumps([models._CLIENT_CONFIG.read_timeout, aws._CONFIG.read_timeout, "
            "models._Meta.read_timeout_seconds]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "functions"), str(root)])}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == [5, 5, 5]
