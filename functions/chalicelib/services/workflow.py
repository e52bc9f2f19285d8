"""Workflow operations behind the handlers: the auto-checks once a registration's dedup verdict is in
(``auto_check``, the ``workflow`` queue), the sweep of submissions left waiting (``sweep``, the schedule), and
an edit of a registration's payload by its submitter (``apply_edit``, from ``PATCH /v1/registrations/{id}``
and from a partner's ``opportunity.updated`` webhook)."""
from __future__ import annotations

import logging
from typing import Any

from chalicelib import settings
from chalicelib.domain.errors import DealregError
from chalicelib.rules import workflow_rules

logger = logging.getLogger("dealreg.workflow")

_REUSED = "this webhook-id was used for a different body; use a new webhook-id for a new request"


def lost_race() -> DealregError:
    """The registration changed between read and write; nothing was written."""
    return DealregError("the registration changed meanwhile; read it again", code="conflict", status=409)


def _reused() -> DealregError:
    return DealregError(_REUSED, code="idempotency_key_reused", status=422,
                        errors=[{"loc": "header.webhook-id", "type": "idempotency_key_reused"}])


def apply_edit(reg: Any, payload: Any, principal: Any, *, idempotency_key: str | None = None,
               fingerprint: str | None = None) -> str:
    """Replace ``reg``'s payload with ``payload`` as ``principal`` (the submitter). Returns ``updated``,
    ``unchanged`` (nothing differs: nothing written) or ``replayed`` (this webhook id was applied before).
    Raises a ``DealregError`` for a refusal (``domain.workflow.edit``), a reused webhook id or a lost race."""
    from datetime import timedelta

    from chalicelib import clock
    from chalicelib.domain.workflow import edit
    from chalicelib.store import registrations

    now = clock.now()
    if idempotency_key:
        seen = registrations.idempotency_state(idempotency_key, fingerprint, now=now)
        if seen == "reused":
            raise _reused()
        if seen is not None:
            return "replayed"
    entry = edit(reg, payload, principal, now=now)
    if entry is None:
        return "unchanged"
    outcome = registrations.update_payload(
        reg, payload, entry, now=now, idempotency_key=idempotency_key,
        idempotency_ttl=timedelta(seconds=settings.get().idempotency_ttl_seconds), fingerprint=fingerprint)
    if outcome == "reused":
        raise _reused()
    if outcome == "lost":
        raise lost_race()
    return outcome


# --- auto-checks ---------------------------------------------------------------------------------------

def auto_check(evt: Any) -> None:
    """A ``registration.dedup_checked`` event: check its registration if it is still the version judged."""
    from chalicelib.store import dedup_verdicts, registrations
    from schemas.dedup import DedupVerdict

    reg = registrations.get(evt.subject)
    if reg is None or reg.version != evt.registration.version:
        return  # changed since dedup judged it: a newer verdict event follows if it needs one
    stored = dedup_verdicts.get_verdict(reg.id)
    check(reg, DedupVerdict.model_validate(stored) if stored is not None else None)


def check(reg: Any, verdict: Any) -> str | None:
    """Run the auto-checks on ``reg`` with ``verdict`` and write the outcome. Returns the new audit action,
    or None when nothing was written (not awaiting checks, or another writer won the race)."""
    from chalicelib import clock
    from chalicelib.domain.auto_checks import run_checks
    from chalicelib.domain.workflow import auto_decide, payload_of
    from chalicelib.store import registrations

    now = clock.now()
    rules = workflow_rules()
    score = model_score = None
    if rules.flag_attribute_score_below is not None or rules.flag_model_score_below is not None:
        from chalicelib.store.scoring import (  # issue 19 (model read only when asked)
            customer_facts,
            summarizer,
        )

        summary = summarizer(with_model=rules.flag_model_score_below is not None)(
            reg, customer_facts(reg.customer_key))
        score = summary["attribute"]
        model_score = summary["score"] if summary["basis"] == "model" else None
    report = run_checks(payload_of(reg), verdict, rules, today=now.date(), attribute_score=score,
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


def sweep(*, now: Any, time_left: Any = None) -> int:
    """Check every registration left ``submitted`` longer than the dedup wait. Returns how many moved."""
    from datetime import timedelta

    from chalicelib.domain.workflow import input_at
    from chalicelib.store import dedup_verdicts, registrations
    from schemas.dedup import DedupVerdict

    cutoff = now - timedelta(minutes=workflow_rules().dedup_wait_minutes)
    moved = 0
    start = None
    while True:
        page, start = registrations.stalled_submissions(cutoff, start=start)
        for reg in page:
            stored = dedup_verdicts.get_verdict(reg.id)
            verdict = DedupVerdict.model_validate(stored) if stored is not None else None
            # A verdict judged before the latest input (an edit, a resubmission) is not this version's.
            if verdict is not None and (verdict.computed_at is None or verdict.computed_at < input_at(reg)):
                verdict = None
            if check(reg, verdict) is not None:
                moved += 1
        if start is None or (time_left is not None and not time_left()):
            return moved
