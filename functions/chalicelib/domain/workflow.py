"""The registration state machine: every allowed status move, in one place. Pure: time is passed in.

The workflow alone changes a registration's status: handlers and API routes ask this module for the audit
entry of a move and write it with a condition on the status and version they read, so a lost race changes
nothing. Ownership moves (grant, reclaim, close) build their entries through :func:`transition` too.

    submitted ──auto-checks──▶ pending_review ──approve (all levels)──▶ approved ──▶ won | lost
        │   └──auto-reject──▶ rejected ◀──reject / auto-reject──┘            └──▶ expired | reclaimed
        │                        └──resubmit (bounded)──▶ submitted          (reclaimed/expired: back to approved
        └──withdraw──▶ withdrawn ◀──withdraw── pending_review                 by claim/assign)

Edits (``PATCH``, the partner's ``opportunity.updated``) are allowed while submitted, pending review or
rejected; they append an ``updated`` audit line (no status move) and, except when rejected, re-run the
checks; no decision is taken until the re-check has run. An approval below the level count the routing
rules require (``chalicelib.domain.routing``) appends ``approval_recorded`` (no status move). A reviewer who
may decide the waiting level may instead escalate it (``escalated``, no status move): the review then waits
for a higher level's approvers (at most :data:`TOP_LEVEL`), and the escalator decides no later level of it.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import DealregError
from schemas.common import Actor, PrincipalKind
from schemas.registration import AuditEntry, Registration, RegistrationCreate, RegistrationStatus as S

if TYPE_CHECKING:
    from chalicelib.domain.access import Principal
    from chalicelib.domain.auto_checks import CheckReport

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


class WorkflowError(DealregError):
    """A refused workflow operation; ``status`` and ``code`` are what the HTTP edge answers."""

    status = 409
    code = "conflict"


class IllegalTransitionError(WorkflowError):
    code = "illegal_transition"

    def __init__(self, current: S, target: S) -> None:
        super().__init__(f"cannot move a registration from {current} to {target}")
        self.current = current
        self.target = target


class ReasonRequiredError(WorkflowError):
    status = 422
    code = "validation_failed"
    errors = [{"loc": "body.reason", "type": "missing"}]


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


# --- the workflow's operations -----------------------------------------------------------------------------------

SYSTEM = Actor(kind=PrincipalKind.SYSTEM, id="workflow")
EDITABLE: frozenset[S] = frozenset({S.SUBMITTED, S.PENDING_REVIEW, S.REJECTED})
RECHECKED: frozenset[S] = frozenset({S.SUBMITTED, S.PENDING_REVIEW})  # an edit re-runs the checks here
APPROVAL_RECORDED = "approval_recorded"
ESCALATED = "escalated"
TOP_LEVEL = 2  # the routing rules define at most two approver levels (domain.routing)
UPDATED = "updated"
CHECKED = "checked"


class ForbiddenError(WorkflowError):
    status = 403
    code = "forbidden"


class NotEditableError(WorkflowError):
    code = "not_editable"


class ResubmitLimitError(WorkflowError):
    code = "resubmit_limit"


class ChecksPendingError(WorkflowError):
    code = "checks_pending"


def is_submitter(p: Principal, reg: Registration) -> bool:
    """The rep who submitted it, or the partner system it came from."""
    return p.kind is reg.submitter.kind and p.id == reg.submitter.id


def _require_submitter(p: Principal, reg: Registration, what: str) -> None:
    if not is_submitter(p, reg):
        raise ForbiddenError(f"only the submitter may {what} this registration")


def checks_current(audit: list[AuditEntry]) -> bool:
    """False while an edit waits for its re-check: no decision may skip a check."""
    last_edit = max((e.seq for e in audit if e.action == UPDATED), default=0)
    if not last_edit:
        return True
    return any(e.seq > last_edit and (e.action == CHECKED or e.to_status in (S.PENDING_REVIEW, S.REJECTED))
               for e in audit)


def resubmits(audit: list[AuditEntry]) -> int:
    return sum(1 for e in audit if e.from_status is S.REJECTED and e.to_status is S.SUBMITTED)


def auto_decide(reg: Registration, report: CheckReport, *, now: datetime) -> AuditEntry | None:
    """The audit line the auto-checks' ``report`` causes, or None when ``reg`` is not awaiting checks.

    submitted -> pending_review (passed or flagged) or rejected; pending_review (re-checked after an edit)
    -> rejected, or a ``checked`` line that keeps it in review. The report's summary is the reason.
    """
    reason = report.summary()
    if reg.status not in RECHECKED:
        return None
    evidence = {"evidence": report.evidence()}  # staff only (domain.visibility)
    if report.outcome == "reject":
        return transition(reg.audit, reg.status, S.REJECTED, actor=SYSTEM, now=now, reason=reason).model_copy(
            update=evidence)
    if reg.status is S.SUBMITTED:
        return transition(reg.audit, reg.status, S.PENDING_REVIEW, actor=SYSTEM, now=now,
                          reason=reason).model_copy(update=evidence)
    return AuditEntry(seq=next_seq(reg.audit), at=now, actor=SYSTEM, action=CHECKED, reason=reason, **evidence)


def reject(reg: Registration, actor: Actor, *, now: datetime, reason: str, shared: bool = False) -> AuditEntry:
    """A reviewer's rejection: only from pending review (a submitted one has not been checked yet).
    ``shared``: the reviewer lets a partner submitter read the reason (domain.visibility)."""
    if reg.status is not S.PENDING_REVIEW:
        raise IllegalTransitionError(reg.status, S.REJECTED)
    line = transition(reg.audit, reg.status, S.REJECTED, actor=actor, now=now, reason=reason)
    return line.model_copy(update={"shared": True}) if shared else line


def check_decidable(reg: Registration, decider: Principal, target: S) -> None:
    """What every decision needs besides routing: review status, current checks, not one's own."""
    if reg.status is not S.PENDING_REVIEW:
        raise IllegalTransitionError(reg.status, target)
    if not checks_current(reg.audit):
        raise ChecksPendingError("the registration was edited; its checks are running again")
    if is_submitter(decider, reg):
        raise ForbiddenError("nobody decides their own registration")


def record_approval(reg: Registration, actor: Actor, *, now: datetime, level: int, required: int,
                    reason: str | None = None) -> AuditEntry:
    """An approval below the last required level: recorded, the registration stays in review. Levels are
    counted by ``chalicelib.domain.routing`` from these lines (one per level, in the current review round)."""
    note = f"level {level} of {required} approved" + (f": {reason}" if reason else "")
    return AuditEntry(seq=next_seq(reg.audit), at=now, actor=actor, action=APPROVAL_RECORDED, reason=note)


class NoHigherLevelError(WorkflowError):
    code = "no_higher_level"


class EscalationLevelError(WorkflowError):
    status = 422
    code = "validation_failed"
    errors = [{"loc": "body.level", "type": "escalation_level"}]


def escalate(reg: Registration, actor: Actor, *, now: datetime, reason: str, level: int,
             to_level: int | None = None) -> AuditEntry:
    """A reviewer of the waiting ``level`` refers the decision up to ``to_level`` (default: the next one).

    The caller has checked that ``actor`` may decide ``level`` (``check_decidable`` and the routing rules).
    Raises ``ReasonRequiredError`` without a reason, ``NoHigherLevelError`` at the top level, and
    ``EscalationLevelError`` for a target not above ``level`` or above :data:`TOP_LEVEL`."""
    if reg.status is not S.PENDING_REVIEW:
        raise IllegalTransitionError(reg.status, S.PENDING_REVIEW)
    if not (reason and reason.strip()):
        raise ReasonRequiredError("a reason is required to escalate")
    if level >= TOP_LEVEL:
        raise NoHigherLevelError(f"level {level} is the highest review level; approve or reject it")
    target = level + 1 if to_level is None else to_level
    if not level < target <= TOP_LEVEL:
        raise EscalationLevelError(f"escalate to a level above {level}, at most {TOP_LEVEL}")
    return AuditEntry(seq=next_seq(reg.audit), at=now, actor=actor, action=ESCALATED, level=target,
                      reason=f"escalated from level {level} to level {target}: {reason.strip()}")


def withdraw(reg: Registration, p: Principal, *, now: datetime, reason: str | None = None) -> AuditEntry:
    _require_submitter(p, reg, "withdraw")
    return transition(reg.audit, reg.status, S.WITHDRAWN, actor=p.actor, now=now, reason=reason)


def resubmit(reg: Registration, p: Principal, *, now: datetime, max_resubmits: int,
             reason: str | None = None) -> AuditEntry:
    """A rejected registration goes back through the checks, at most ``max_resubmits`` times."""
    _require_submitter(p, reg, "resubmit")
    if reg.status is not S.REJECTED:
        raise IllegalTransitionError(reg.status, S.SUBMITTED)
    done = resubmits(reg.audit)
    if done >= max_resubmits:
        raise ResubmitLimitError(f"resubmitted {done} times already; the limit is {max_resubmits}")
    return transition(reg.audit, reg.status, S.SUBMITTED, actor=p.actor, now=now, reason=reason)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def payload_of(reg: Registration) -> RegistrationCreate:
    return RegistrationCreate.model_validate(reg.model_dump(include=set(RegistrationCreate.model_fields)))


def changed_fields(old: dict, new: dict, prefix: str = "", depth: int = 2) -> list[str]:
    """Dotted paths (two levels deep) whose values differ, for the audit line."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        path = f"{prefix}{key}"
        if depth > 1 and isinstance(a, dict) and isinstance(b, dict):
            out.extend(changed_fields(a, b, path + ".", depth - 1))
        else:
            out.append(path)
    return out


def edit(reg: Registration, new: RegistrationCreate, p: Principal, *, now: datetime) -> AuditEntry | None:
    """The ``updated`` audit line for replacing the payload with ``new``, or None when nothing changes.

    Raises:
        ForbiddenError: not the submitter.
        NotEditableError: decided already (approved, withdrawn, won, ...).
    """
    _require_submitter(p, reg, "edit")
    if reg.status not in EDITABLE:
        raise NotEditableError(f"a registration that is {reg.status} cannot be edited")
    if new.external_ref != reg.external_ref:
        raise NotEditableError("external_ref cannot change")
    changed = changed_fields(payload_of(reg).model_dump(mode="json"), new.model_dump(mode="json"))
    if not changed:
        return None
    return AuditEntry(seq=next_seq(reg.audit), at=now, actor=p.actor, action=UPDATED,
                      reason="changed " + ", ".join(changed))


def input_at(reg: Registration) -> datetime:
    """When the registration last took input the checks must see (submitted, resubmitted or edited)."""
    return max((e.at for e in reg.audit if e.action == UPDATED or e.to_status is S.SUBMITTED), default=reg.created_at)
