"""``dealreg status [--local] [--json]``: the one screen an operator reads first.

Queue depths and dead letters of every queue, parked notification deliveries, the last run and outcome of
each scheduled job, and the tender sources that are failing. The same code reads a deployed stage (AWS
credentials, ``DEALREG_PREFIX``) and the ``make run`` stack (``--local``): schedules from the ``AWS/Lambda``
Invocations/Errors metrics, which Lambda publishes and the local event runner publishes the same way.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

WINDOW = timedelta(hours=24)


def _queues(prefix: str) -> list[dict[str, Any]]:
    from chalicelib.settings import QUEUES
    from chalicelib.store import aws
    from infra.resources import DLQ_ONLY

    sqs = aws.client("sqs")

    def depth(name: str) -> dict[str, int] | None:
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            return None
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return {"waiting": int(attrs["ApproximateNumberOfMessages"]),
                "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"])}

    out = []
    for logical in [*QUEUES, *DLQ_ONLY]:
        main = None if logical in DLQ_ONLY else depth(f"{prefix}-{logical}")
        dead = depth(f"{prefix}-{logical}-dlq")
        out.append({"queue": logical, "waiting": main and main["waiting"], "in_flight": main and main["in_flight"],
                    "dead_letters": dead["waiting"] if dead else None})
    return out


def _parked() -> dict[str, Any]:
    from chalicelib.store import notifications

    items = notifications.parked(limit=1000)
    oldest = min((i.parked_at for i in items if getattr(i, "parked_at", None)), default=None)
    return {"count": len(items), "more": len(items) >= 1000,
            "oldest": oldest.isoformat() if oldest else None}


def _tender_sources() -> list[dict[str, Any]]:
    from chalicelib.store.models import TenderFeedItem

    out = []
    for item in TenderFeedItem.scan():
        out.append({"source": item.source, "failures": int(item.failures or 0), "last_error": item.last_error,
                    "last_ok_at": item.last_ok_at.isoformat() if item.last_ok_at else None,
                    "last_run_at": item.last_run_at.isoformat() if item.last_run_at else None})
    return sorted(out, key=lambda s: (-s["failures"], s["source"]))


def _schedule_names() -> list[str]:
    from chalice.app import ScheduledEventConfig

    from infra.local.stack_session import import_app

    return sorted(s.name for s in import_app().event_sources if isinstance(s, ScheduledEventConfig))


def _deployed_names(prefix: str) -> dict[str, str]:
    """Chalice function name -> deployed Lambda name, from each function's environment (none locally)."""
    from chalicelib.store import aws

    out: dict[str, str] = {}
    try:
        for page in aws.client("lambda").get_paginator("list_functions").paginate():
            for fn in page["Functions"]:
                env = fn.get("Environment", {}).get("Variables", {})
                if env.get("DEALREG_PREFIX") == prefix and env.get("DEALREG_FUNCTION"):
                    out[env["DEALREG_FUNCTION"]] = fn["FunctionName"]
    except Exception:  # noqa: BLE001 - the stand-in has no functions; a missing permission shows as no data
        pass
    return out


def _schedules(prefix: str, now: datetime) -> list[dict[str, Any]]:
    from chalicelib.store import aws

    cw = aws.client("cloudwatch")
    deployed = _deployed_names(prefix)
    out = []
    for name in _schedule_names():
        function = deployed.get(name, name)
        points: dict[str, dict[datetime, float]] = {}
        for metric in ("Invocations", "Errors"):
            answer = cw.get_metric_statistics(
                Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": "FunctionName", "Value": function}],
                StartTime=now - WINDOW, EndTime=now + timedelta(minutes=5), Period=60, Statistics=["Sum"])
            points[metric] = {p["Timestamp"]: p["Sum"] for p in answer["Datapoints"]}
        runs = sorted(t for t, v in points["Invocations"].items() if v > 0)
        last = runs[-1] if runs else None
        out.append({"schedule": name, "last_run": last.astimezone(UTC).isoformat() if last else None,
                    "outcome": None if last is None else ("failed" if points["Errors"].get(last, 0) > 0 else "ok"),
                    "runs_24h": int(sum(points["Invocations"].values())),
                    "errors_24h": int(sum(points["Errors"].values()))})
    return out


def collect(now: datetime | None = None) -> dict[str, Any]:
    """Everything the screen shows, as data (``--json``)."""
    from chalicelib import settings

    now = now or datetime.now(UTC)
    prefix = settings.get().prefix
    return {"prefix": prefix, "at": now.isoformat(), "queues": _queues(prefix), "parked_deliveries": _parked(),
            "schedules": _schedules(prefix, now), "tender_sources": _tender_sources()}


def attention(status: dict[str, Any]) -> list[str]:
    """What needs an operator, most urgent first."""
    out = [f"{q['dead_letters']} message(s) on {status['prefix']}-{q['queue']}-dlq"
           for q in status["queues"] if q["dead_letters"]]
    if status["parked_deliveries"]["count"]:
        out.append(f"{status['parked_deliveries']['count']} parked deliveries (`dealreg notifications parked`)")
    out += [f"schedule {s['schedule']} failed its last run" for s in status["schedules"] if s["outcome"] == "failed"]
    out += [f"tender source {s['source']} failed {s['failures']} poll(s) in a row ({s['last_error']})"
            for s in status["tender_sources"] if s["failures"]]
    return out


def render(status: dict[str, Any]) -> str:
    def cell(v: Any) -> str:
        return "-" if v is None else str(v)

    lines = [f"dealreg status — {status['prefix']} at {status['at'][:19]}Z", "",
             f"{'QUEUE':<22}{'waiting':>9}{'in flight':>11}{'dead letters':>14}"]
    lines += [f"  {q['queue']:<20}{cell(q['waiting']):>9}{cell(q['in_flight']):>11}{cell(q['dead_letters']):>14}"
              for q in status["queues"]]
    p = status["parked_deliveries"]
    lines += ["", f"PARKED DELIVERIES  {p['count']}{'+' if p['more'] else ''}"
              + (f" (oldest {p['oldest'][:19]}Z)" if p["oldest"] else ""), "",
              f"{'SCHEDULE':<30}{'last run (UTC)':<22}{'outcome':<9}{'runs/errors 24h':>16}"]
    lines += [f"  {s['schedule']:<28}{cell(s['last_run'] and s['last_run'][:19]):<22}{cell(s['outcome']):<9}"
              f"{str(s['runs_24h']) + '/' + str(s['errors_24h']):>16}" for s in status["schedules"]]
    failing = [s for s in status["tender_sources"] if s["failures"]]
    lines += ["", f"TENDER SOURCES  {len(status['tender_sources'])} polled, {len(failing)} failing"]
    lines += [f"  {s['source']}: {s['failures']} failed poll(s) in a row, last error {s['last_error']}, "
              f"last ok {cell(s['last_ok_at'] and s['last_ok_at'][:19])}" for s in failing]
    todo = attention(status)
    lines += ["", "ATTENTION" if todo else "Nothing needs attention."] + [f"  ! {t}" for t in todo]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None]) -> int:
    storage(args)
    status = collect()
    print(json.dumps(status, ensure_ascii=False, indent=1) if args.json else render(status))
    return 0


def add_parsers(sub: Any, storage: Callable[[argparse.Namespace], None],
                storage_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    sp = sub.add_parser("status", help="queues, dead letters, parked deliveries, schedules, failing tender sources")
    storage_flags(sp)
    sp.add_argument("--json", action="store_true", help="the same as JSON")
    sp.set_defaults(func=lambda args: cmd_status(args, storage))
