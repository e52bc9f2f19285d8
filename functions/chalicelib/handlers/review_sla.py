"""Review SLA reminders: tell approvers (and their managers) when a review waits longer than the SLA.

Trigger: EventBridge schedule, every 15 minutes. Input: none (time from chalicelib.clock). Reads: only
``pending_review`` registrations created at least one SLA ago, through the sharded ``ByStatusShardIndex`` (never a scan).
Side effects: per overdue wait and whole SLA period one ``registration.review_overdue`` event (stable id
``<registration>:overdue:<seq>:<period>``) and a conditional stamp on the registration, so a rerun sends
nothing twice. Failures: a storage or publish error fails the invocation (EventBridge retries); reminders
already stamped stay sent.
"""
from __future__ import annotations

import logging

from chalice import Blueprint

bp = Blueprint(__name__)
logger = logging.getLogger("dealreg.review_sla")


@bp.schedule("rate(15 minutes)")
def remind_overdue_reviews(event):
    from chalicelib import clock
    from chalicelib.handlers._batch import time_left
    from chalicelib.store import routing

    sent = routing.remind_overdue(now=clock.now(), time_left=time_left(event))
    logger.info("review reminders sent: %d", sent)
    return {"reminders": sent}
