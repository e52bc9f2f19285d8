"""Workflow: auto-check a submitted registration and put it up for review.

Trigger: the ``workflow`` SQS queue (filter: registration.submitted). Input: ``RegistrationSubmitted``.
Side effects: the registration moves submitted -> pending_review with an audit line, written only if it is
still ``submitted`` at the version read (redelivery or a concurrent decision changes nothing).
Failures: storage errors -> batch item failure (retried, then the DLQ); unparseable messages are parked.
The approval issue extends the checks (eligibility, dedup verdict) and routing.
"""
from __future__ import annotations

import logging

from chalice import Blueprint

from chalicelib import settings

bp = Blueprint(__name__)
logger = logging.getLogger("dealreg.workflow")
QUEUE = "workflow"
SUBSCRIBES_TO = settings.QUEUES[QUEUE]


@bp.on_sqs_message(queue=settings.get().queue(QUEUE), batch_size=10)
def review_submissions(event):
    from chalicelib.handlers._batch import process_sqs

    return process_sqs(event, QUEUE, _auto_check)


def _auto_check(evt) -> None:
    from chalicelib import clock
    from chalicelib.domain.workflow import transition
    from chalicelib.store import registrations
    from schemas.common import Actor, PrincipalKind
    from schemas.registration import RegistrationStatus

    if evt.type not in SUBSCRIBES_TO:
        return
    reg = registrations.get(evt.subject)
    if reg is None or reg.status is not RegistrationStatus.SUBMITTED:
        return  # already handled (redelivery) or moved on by someone else
    entry = transition(reg.audit, reg.status, RegistrationStatus.PENDING_REVIEW,
                       actor=Actor(kind=PrincipalKind.SYSTEM, id="workflow"), now=clock.now())
    if not registrations.apply_transition(reg, entry, now=entry.at):
        logger.info("registration %s changed concurrently; left as is", reg.id)
