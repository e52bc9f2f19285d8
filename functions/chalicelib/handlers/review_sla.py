"""Review SLA reminders: tell approvers (and their managers) when a review waits longer than the SLA.

Trigger: EventBridge schedule, every 15 minutes. Input: none (time from chalicelib.clock). Reads: only
``pending_review`` registrations created at least one SLA ago, through ``ByStatusIndex`` (never a scan).
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
SAFETY_MILLIS = 10_000  # stop before the Lambda timeout; the next run continues


@bp.schedule("rate(15 minutes)")
def remind_overdue_reviews(event):
    from chalicelib import clock
    from chalicelib.store import routing

    context = getattr(event, "context", None)
    time_left = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        time_left = lambda: context.get_remaining_time_in_millis() > SAFETY_MILLIS  # noqa: E731
    sent = routing.remind_overdue(now=clock.now(), time_left=time_left)
    logger.info("review reminders sent: %d", sent)
    return {"reminders": sent}
