"""`make run` keeps what it accepted (issue 12 items 4 and 12): a SIGKILL after a burst of 202s loses
nothing (the journal holds them), SIGHUP (closing the terminal) stops it cleanly with a fold into the
snapshot, and the snapshot and journals are 0600."""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.functional.helpers import example, signed_headers

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
API_LINE = re.compile(r"^  API: +(http://127\.0\.0\.1:[1-9][0-9]*)$", re.M)  # the banner's line


def _request(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class _Stack:
    """``dealreg local`` in a child process on ports the system chose (``--port 0 --moto-port 0``; the API's is read
    from the banner it prints). A port picked here and closed before the child bound it could be taken meanwhile by
    another xdist worker's server or an outgoing connection's local port."""

    def __init__(self, state: Path, name: str) -> None:
        self.state = state
        self.log_path = state / f"run-{name}.log"
        self.log = self.log_path.open("wb")
        env = {**os.environ, "DEALREG_DEMO_SECRET": SECRET, "DEALREG_REGISTRY_PROVIDERS": "",
               "DEALREG_OWNERSHIP_RULES": json.dumps({"pending_cap": 0}),
               "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "local", "--port", "0", "--moto-port", "0",
             "--state-dir", str(state)], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = ""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            if not self.base:
                found = API_LINE.search(self.log_path.read_text(errors="replace"))
                self.base = found.group(1) if found else ""
            try:
                if self.base and _request("GET", self.base + "/v1/registrations")[0] == 401:
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        raise AssertionError("the local stack did not come up")

    def post(self, body: dict) -> tuple[int, dict]:
        raw = json.dumps(body, ensure_ascii=False).encode()
        status, text = _request("POST", self.base + "/v1/partners/demo/opportunities", raw,
                                signed_headers(SECRET, raw))
        return status, json.loads(text)

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.log.close()


@pytest.mark.timeout(600) if hasattr(pytest.mark, "timeout") else (lambda f: f)
def test_sigkill_after_a_burst_of_202s_loses_nothing_and_sighup_saves(tmp_path):
    stack = _Stack(tmp_path, "first")
    try:
        accepted = []
        for i in range(25):
            status, answer = stack.post(example(external_ref=f"BURST-{i}"))
            assert status == 202, answer
            accepted.append(answer["id"])
    finally:  # at once: an answered write is already on disk (infra.local.persist.durable_answers)
        stack.stop(signal.SIGKILL)
    saved = [p for p in tmp_path.iterdir() if p.name.startswith(("snapshot", "journal-"))]
    assert any(p.name.startswith("journal-") for p in saved)
    for path in saved:  # item 4: they hold every signing secret
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    snapshot = tmp_path / "snapshot.jsonl"
    key = json.loads((tmp_path / "demo.json").read_text())["api_key"]

    again = _Stack(tmp_path, "again")
    try:
        for reg_id in accepted:
            status, _ = _request("GET", f"{again.base}/v1/registrations/{reg_id}", headers={"Authorization": f"Bearer {key}"})
            assert status == 200, reg_id
        status, answer = again.post(example(external_ref="AFTER-RESTART"))
        assert status == 202
    finally:
        code = again.stop(signal.SIGHUP)  # closing the terminal
    assert code == 0
    assert answer["id"] in snapshot.read_text()
    assert "saved" in again.log_path.read_text()
