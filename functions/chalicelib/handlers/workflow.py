"""Workflow: auto-check a registration once its dedup verdict is in, and never let one wait for it forever.

Triggers:
- ``workflow`` SQS queue (filter: registration.dedup_checked) -> ``review_submissions``. Input:
  ``RegistrationDedupChecked`` for one registration version. Reads the registration and, if it is still
  that version and awaiting checks (submitted, or pending review after an edit), runs the auto-checks
  (chalicelib.domain.auto_checks) on it and its stored verdict, then writes one conditional audit line:
  submitted -> pending_review or rejected, or, re-checked in review, rejected or a ``checked`` line. The
  check report is the line's reason. A redelivery finds a newer version and changes nothing.
- Schedule, every 15 minutes -> ``advance_stalled_submissions``: registrations still ``submitted``
  ``dedup_wait_minutes`` after their last change (ByStatusIndex, never a scan) are checked with whatever
  verdict is stored for their current input, or marked "dedup verdict unavailable" and put to review.

Failures: storage errors -> batch item failure (retried, then the DLQ); unparseable messages are parked.
"""
from __future__ import annotations

import logging
from functools import lru_cache

from chalice import Blueprint

from chalicelib import settings

bp = Blueprint(__name__)
logger = logging.getLogger("dealreg.workflow")
QUEUE = "workflow"
SUBSCRIBES_TO = settings.QUEUES[QUEUE]


@lru_cache(maxsize=4)
def _rules_for(raw: str):
    from chalicelib.domain.auto_checks import load_rules

    return load_rules(raw)


def rules():
    """The workflow rules in force (``DEALREG_WORKFLOW_RULES``), parsed once per value."""
    return _rules_for(settings.get().workflow_rules_json)


@bp.on_sqs_message(queue=settings.get().queue(QUEUE), batch_size=10)
def review_submissions(event):
    from chalicelib.handlers._batch import process_sqs

    return process_sqs(event, QUEUE, _auto_check)


def _auto_check(evt) -> None:
    from chalicelib.store import dedup, registrations
    from schemas.dedup import DedupVerdict

    if evt.type not in SUBSCRIBES_TO:
        return
    reg = registrations.get(evt.subject)
    if reg is None or reg.version != evt.registration.version:
        return  # changed since dedup judged it: a newer verdict event follows if it needs one
    stored = dedup.get_verdict(reg.id)
    check(reg, DedupVerdict.model_validate(stored) if stored is not None else None)


def check(reg, verdict) -> str | None:
    """Run the auto-checks on ``reg`` with ``verdict`` and write the outcome. Returns the new audit action,
    or None when nothing was written (not awaiting checks, or another writer won the race)."""
    from chalicelib import clock
    from chalicelib.domain.auto_checks import run_checks
    from chalicelib.domain.workflow import auto_decide, payload_of
    from chalicelib.store import registrations

    now = clock.now()
    workflow_rules = rules()
    score = model_score = None
    if workflow_rules.flag_attribute_score_below is not None or workflow_rules.flag_model_score_below is not None:
        from chalicelib.store.scoring import customer_facts, summarizer  # issue 19 (model read only when asked)

        summary = summarizer(with_model=workflow_rules.flag_model_score_below is not None)(
            reg, customer_facts(reg.customer_key))
        score = summary["attribute"]
        model_score = summary["score"] if summary["basis"] == "model" else None
    report = run_checks(payload_of(reg), verdict, workflow_rules, today=now.date(), attribute_score=score,
                        model_score=model_score)
    entry = auto_decide(reg, report, now=now)
    if entry is None:
        return None
    written = (registrations.apply_transition(reg, entry, now=now) if entry.to_status is not None
               else registrations.append_audit(reg, entry, now=now))
    if not written:
        logger.info("registration %s changed concurrently; left as is", reg.id)
        return None
    logger.info("registration %s: %s (%s)", reg.id, entry.action, report.outcome)
    return entry.action


@bp.schedule("rate(15 minutes)")
def advance_stalled_submissions(event):
    from chalicelib import clock
    from chalicelib.handlers._batch import time_left

    moved = sweep(now=clock.now(), time_left=time_left(event))
    logger.info("stalled submissions moved on: %d", moved)
    return {"moved": moved}


def sweep(*, now, time_left=None) -> int:
    """Check every registration left ``submitted`` longer than the dedup wait. Returns how many moved."""
    from datetime import timedelta

    from chalicelib.domain.workflow import input_at
    from chalicelib.store import dedup, registrations
    from schemas.dedup import DedupVerdict

    cutoff = now - timedelta(minutes=rules().dedup_wait_minutes)
    moved = 0
    start = None
    while True:
        page, start = registrations.stalled_submissions(cutoff, start=start)
        for reg in page:
            stored = dedup.get_verdict(reg.id)
            verdict = DedupVerdict.model_validate(stored) if stored is not None else None
            # A verdict judged before the latest input (an edit, a resubmission) is not this version's.
            if verdict is not None and (verdict.computed_at is None or verdict.computed_at < input_at(reg)):
                verdict = None
            if check(reg, verdict) is not None:
                moved += 1
        if start is None or (time_left is not None and not time_left()):
            return moved
