"""Local-mode CLI settings (issue 12 item 17): ports from the environment, the server's scaled clock, no real
registries."""
from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from unittest import mock

from chalicelib import clock


def test_local_commands_follow_the_ports_make_run_uses(monkeypatch):
    from infra import cli

    monkeypatch.setenv("DEALREG_PORT", "8123")
    monkeypatch.setenv("DEALREG_MOTO_PORT", "4999")
    args = cli.build_parser().parse_args(["webhook", "send", "f.json", "--partner", "demo", "--secret", "x"])
    assert args.url == "http://127.0.0.1:8123"
    assert cli.build_parser().parse_args(["local"]).moto_port == 4999
    monkeypatch.delenv("DEALREG_REGISTRY_PROVIDERS", raising=False)
    monkeypatch.setattr(cli, "_follow_server_clock", lambda: None)
    from chalicelib import settings

    # _use_local_stack sets the endpoint, prefix and DEALREG_LOCAL for the whole process: the environment is put
    # back after (monkeypatch.delenv restores only a variable that was set; a leaked endpoint sent every AWS client
    # made after a later settings.reset() to port 4999)
    before = dict(os.environ)
    with mock.patch.dict(os.environ):
        cli._use_local_stack()
        assert os.environ["DEALREG_AWS_ENDPOINT_URL"] == "http://127.0.0.1:4999"
        local = settings.from_env()
    assert local.local and local.registry_providers == ()  # none unless the demo registries are served
    assert dict(os.environ) == before


def test_the_cli_runs_the_servers_scaled_clock(tmp_path, monkeypatch):
    from infra import cli

    start = datetime(2026, 1, 1, tzinfo=UTC)
    server = clock.ScaledClock(60, start, started_wall=1_000.0)
    (tmp_path / "clock.json").write_text(json.dumps(server.state()))
    monkeypatch.setattr(clock.time, "time", lambda: 1_010.0)  # 10 real seconds after the server started
    # ... and no time passes while the test runs: it allowed itself 1 scaled second (1/60 s of real time) between
    # following the clock and reading it, which a preemption or a garbage collection on a loaded machine exceeds
    stopped = clock.time.monotonic()
    monkeypatch.setattr(clock.time, "monotonic", lambda: stopped)
    try:
        cli._follow_server_clock(tmp_path)
        assert clock.now() == datetime(2026, 1, 1, 0, 10, tzinfo=UTC)  # 10 real seconds × 60
    finally:
        clock.set_clock(clock.SystemClock())


def test_signatures_are_checked_against_the_real_clock_under_a_time_scale(monkeypatch):
    fast = clock.ScaledClock(60, datetime(2030, 1, 1, tzinfo=UTC))
    clock.set_clock(fast)
    try:
        monkeypatch.setattr(clock.time, "time", lambda: 1_700_000_000.4)
        assert clock.wall_seconds() == 1_700_000_000  # not the scaled 2030 time
        assert clock.wall_seconds(fast.now()) == 1_700_000_000  # a scaled now passed along is not used either
        frozen = clock.FrozenClock(datetime(2031, 1, 1, tzinfo=UTC))
        clock.set_clock(frozen)
        assert clock.wall_seconds() == int(frozen.now().timestamp())  # tests' frozen clocks still decide
        # the caller's own reading of the clock (the intake passes the now it has just read; session 9)
        assert clock.wall_seconds(frozen.now()) == int(frozen.now().timestamp())
    finally:
        clock.set_clock(clock.SystemClock())
