"""Workflow: auto-check a registration once its dedup verdict is in, and never let one wait for it forever.

Triggers:
- ``workflow`` SQS queue (filter: registration.dedup_checked) -> ``review_submissions``. Input:
  ``RegistrationDedupChecked`` for one registration version. Reads the registration and, if it is still
  that version and awaiting checks (submitted, or pending review after an edit), runs the auto-checks
  (chalicelib.domain.auto_checks) on it and its stored verdict, then writes one conditional audit line:
  submitted -> pending_review or rejected, or, re-checked in review, rejected or a ``checked`` line. The
  check report is the line's reason. A redelivery finds a newer version and changes nothing.
- Schedule, every 15 minutes -> ``advance_stalled_submissions``: registrations still ``submitted``
  ``dedup_wait_minutes`` after their last change (the sharded ByStatusShardIndex, never a scan) are checked with whatever
  verdict is stored for their current input, or marked "dedup verdict unavailable" and put to review.

Failures: storage errors -> batch item failure (retried, then the DLQ); unparseable messages are parked.
"""
from __future__ import annotations

import logging

from chalice import Blueprint

from chalicelib import settings

bp = Blueprint(__name__)
logger = logging.getLogger("dealreg.workflow")  # the service (services/workflow.py) logs under the same name
QUEUE = "workflow"
SUBSCRIBES_TO = settings.QUEUES[QUEUE]


@bp.on_sqs_message(queue=settings.get().queue(QUEUE), batch_size=10)
def review_submissions(event):
    from chalicelib.handlers._batch import process_sqs

    return process_sqs(event, QUEUE, _auto_check)


def _auto_check(evt) -> None:
    from chalicelib.services.workflow import auto_check

    if evt.type in SUBSCRIBES_TO:
        auto_check(evt)


@bp.schedule("rate(15 minutes)")
def advance_stalled_submissions(event):
    from chalicelib import clock
    from chalicelib.handlers._batch import time_left
    from chalicelib.services.workflow import sweep

    moved = sweep(now=clock.now(), time_left=time_left(event))
    logger.info("stalled submissions moved on: %d", moved)
    return {"moved": moved}
