"""The local event runner's schedule handling (no AWS needed: the test app has only schedules)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice import Chalice, Cron, Rate

from chalicelib.clock import FrozenClock
from infra.local.runner import EventRunner, cron_matches


def _app(calls: list[str]) -> Chalice:
    app = Chalice(app_name="runner-test")

    @app.schedule(Rate(15, unit=Rate.MINUTES))
    def every_quarter(event):
        calls.append(("quarter", event.to_dict()["detail-type"]))

    @app.schedule(Cron(0, 2, "*", "*", "?", "*"))
    def nightly(event):
        calls.append(("nightly", event.time))

    return app


def _runner(app: Chalice, clock: FrozenClock) -> EventRunner:
    def no_aws(service: str):
        raise AssertionError(f"schedules need no {service}")

    return EventRunner(app, client=no_aws, region="us-east-1", now=clock.now)


def test_rate_schedule_fires_once_per_period_of_the_injected_clock():
    calls: list = []
    clock = FrozenClock(datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
    runner = _runner(_app(calls), clock)
    assert runner.pump(include_schedules=True) == 0
    clock.advance(minutes=14)
    runner.pump(include_schedules=True)
    assert [c for c in calls if c[0] == "quarter"] == []
    clock.advance(minutes=1)
    runner.pump(include_schedules=True)
    assert [c for c in calls if c[0] == "quarter"] == [("quarter", "Scheduled Event")]


def test_cron_schedule_fires_when_its_minute_passes():
    calls: list = []
    clock = FrozenClock(datetime(2026, 11, 27, 1, 30, tzinfo=UTC))
    runner = _runner(_app(calls), clock)
    clock.advance(minutes=29)
    runner.pump(include_schedules=True)
    assert [c for c in calls if c[0] == "nightly"] == []
    clock.advance(minutes=1)  # 02:00
    runner.pump(include_schedules=True)
    assert [c[0] for c in calls if c[0] == "nightly"] == ["nightly"]


def test_run_schedule_fires_on_demand_and_unknown_names_fail():
    calls: list = []
    runner = _runner(_app(calls), FrozenClock(datetime(2026, 11, 27, tzinfo=UTC)))
    runner.run_schedule("nightly")
    assert [c[0] for c in calls] == ["nightly"]
    with pytest.raises(KeyError):
        runner.run_schedule("missing")


@pytest.mark.parametrize(("expr", "at", "expected"), [
    ("cron(0 2 * * ? *)", datetime(2026, 11, 27, 2, 0), True),
    ("cron(0 2 * * ? *)", datetime(2026, 11, 27, 2, 1), False),
    ("cron(*/15 * * * ? *)", datetime(2026, 11, 27, 5, 45), True),
    ("cron(*/15 * * * ? *)", datetime(2026, 11, 27, 5, 46), False),
    ("cron(0 9 ? * 2-6 *)", datetime(2026, 11, 27, 9, 0), True),   # a Friday: 6 in EventBridge's 1=SUN
    ("cron(0 9 ? * 2-6 *)", datetime(2026, 11, 29, 9, 0), False),  # a Sunday
    ("cron(30 8 1,15 * ? 2026)", datetime(2026, 12, 15, 8, 30), True),
    ("cron(30 8 1,15 * ? 2026)", datetime(2027, 12, 15, 8, 30), False),
])
def test_cron_matcher(expr, at, expected):
    assert cron_matches(expr, at) is expected


def test_a_runs_invocation_and_error_datapoints_share_one_timestamp(monkeypatch):
    """``dealreg status`` reads a schedule's outcome as the Errors datapoint at its last Invocations datapoint's
    time; moto buckets each metric from its own first datapoint, so the two must carry the same timestamp even
    when the clock moves between them (here: one second per read)."""
    from datetime import UTC, datetime as real_datetime, timedelta

    from infra.local import runner as runner_mod

    class Ticking(real_datetime):
        reads = 0

        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            cls.reads += 1
            return real_datetime(2026, 12, 7, 1, 0, 0, tzinfo=UTC) + timedelta(seconds=cls.reads)

    sent: list = []

    class CloudWatch:
        def put_metric_data(self, **kwargs):
            sent.extend(kwargs["MetricData"])

    monkeypatch.setattr(runner_mod, "datetime", Ticking)
    runner = runner_mod.EventRunner.__new__(runner_mod.EventRunner)
    runner.client = lambda service: CloudWatch()
    runner._count_invocation("warn_due_registrations", True)
    assert [d["MetricName"] for d in sent] == ["Invocations", "Errors"] and sent[1]["Value"] == 1
    assert sent[0]["Timestamp"] == sent[1]["Timestamp"]
