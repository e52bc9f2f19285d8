"""The registration state machine: every allowed status move, in one place.

The workflow alone changes a registration's status: handlers and API routes ask :func:`transition` for
the audit entry of a move and write it with a condition on the status they read, so a lost race changes
nothing.

    submitted ──auto-check──▶ pending_review ──approve──▶ approved ──▶ won | lost | expired | reclaimed
        │  └──auto-reject──▶ rejected ◀──reject── │                    (reclaimed/expired return to the pool)
        └──withdraw──▶ withdrawn ◀──withdraw──────┘   rejected ──resubmit──▶ submitted
"""
from __future__ import annotations

from datetime import datetime

from schemas.common import Actor
from schemas.registration import AuditEntry, RegistrationStatus as S

ALLOWED: dict[S, frozenset[S]] = {
    S.SUBMITTED: frozenset({S.PENDING_REVIEW, S.REJECTED, S.WITHDRAWN}),
    S.PENDING_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.WITHDRAWN}),
    S.REJECTED: frozenset({S.SUBMITTED}),
    S.APPROVED: frozenset({S.WON, S.LOST, S.EXPIRED, S.RECLAIMED}),
    S.WITHDRAWN: frozenset(),
    S.WON: frozenset(),
    S.LOST: frozenset(),
    S.EXPIRED: frozenset({S.APPROVED}),
    S.RECLAIMED: frozenset({S.APPROVED}),
}

# Moves that must say why.
REASON_REQUIRED: frozenset[S] = frozenset({S.REJECTED, S.LOST})


class IllegalTransitionError(Exception):
    def __init__(self, current: S, target: S) -> None:
        super().__init__(f"cannot move a registration from {current} to {target}")
        self.current = current
        self.target = target


class ReasonRequiredError(ValueError):
    pass


def transition(
    audit: list[AuditEntry], current: S, target: S, *, actor: Actor, now: datetime, reason: str | None = None
) -> AuditEntry:
    """Return the audit entry for moving ``current`` -> ``target``, or raise if the move is not allowed."""
    if target not in ALLOWED[current]:
        raise IllegalTransitionError(current, target)
    if target in REASON_REQUIRED and not (reason and reason.strip()):
        raise ReasonRequiredError(f"a reason is required to move to {target}")
    return AuditEntry(
        seq=next_seq(audit), at=now, actor=actor, action="status_changed",
        from_status=current, to_status=target, reason=reason,
    )


def next_seq(audit: list[AuditEntry]) -> int:
    return (audit[-1].seq + 1) if audit else 1
