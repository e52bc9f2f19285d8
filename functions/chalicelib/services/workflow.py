"""Workflow operations that more than one entry point shares: an edit of a registration's payload by its
submitter, from ``PATCH /v1/registrations/{id}`` (handlers/review.py) and from a partner's
``opportunity.updated`` webhook (handlers/intake.py)."""
from __future__ import annotations

from typing import Any

from chalicelib import settings
from chalicelib.domain.errors import DealregError

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
