"""Scheduled ownership timers: reclaim what is due (every 15 minutes), warn before it is (hourly) and
enforce holding limits (daily, ``enforce_holding_limits``).

Trigger: EventBridge schedules. Input: none (time comes from chalicelib.clock). Reads: only approved
registrations within the due/warning window, through the sparse, sharded ByStatusShardDueIndex (never a scan).
Side effects: per due item one conditional transaction (registration -> pool or archive, holder counter
-1, audit line) and an ``ownership.reclaimed`` event; per warning an ``ownership.warning`` event and a
stamp on the registration. Idempotent and resumable: a run stops before the Lambda timeout or after
``reclaim_batch`` items and the next run continues with what is still due. Failures: a storage error
fails the invocation (EventBridge retries); items already written stay written.
"""
from __future__ import annotations

import logging

from chalice import Blueprint

from chalicelib.rules import ownership_rules

bp = Blueprint(__name__)
logger = logging.getLogger("dealreg.reclaim")


@bp.schedule("rate(15 minutes)")
def reclaim_due_registrations(event):
    from chalicelib import clock
    from chalicelib.handlers._batch import time_left
    from chalicelib.services import ownership as ownership_ops

    report = ownership_ops.reclaim_run(now=clock.now(), time_left=time_left(event))
    logger.info("reclaim: examined %d, reclaimed %d, restamped %d, lost races %d, complete %s",
                report.examined, len(report.reclaimed), report.restamped, report.lost_races, report.complete)
    return {"examined": report.examined, "reclaimed": len(report.reclaimed), "restamped": report.restamped,
            "lost_races": report.lost_races, "complete": report.complete}


@bp.schedule("rate(1 hour)")
def warn_due_registrations(event):
    from chalicelib import clock
    from chalicelib.handlers._batch import time_left
    from chalicelib.services import ownership as ownership_ops

    sent = ownership_ops.warning_run(now=clock.now(), time_left=time_left(event))
    logger.info("warnings sent: %d", sent)
    return {"warnings": sent}


@bp.schedule("cron(30 0 * * ? *)")
def enforce_holding_limits(event):
    """Daily: report holders above their limit (lowered limits never silently drop deals) and, with the
    rule ``over_limit = "reclaim"``, take back their least recently active holdings down to the limit."""
    from chalicelib import clock
    from chalicelib.services import ownership as ownership_ops

    reclaim = ownership_rules().over_limit == "reclaim"
    rows = ownership_ops.over_limit(now=clock.now(), reclaim=reclaim, announce=True)
    for row in rows:
        logger.warning("over limit: %s holds %d, limit %s = %d; reclaimed %d", row["holder"], row["held"],
                       row["limit"], row["value"], len(row["reclaimed"]))
    return {"over_limit": len(rows), "reclaimed": sum(len(r["reclaimed"]) for r in rows)}
