"""Turning a registration change into domain events. Pure.

One event per audit entry the change appended: the audit trail already says who did what and why, so
events cannot disagree with it, and a write that appends nothing (a no-op, a handler's bookkeeping)
emits nothing and re-triggers no handler.
"""
from __future__ import annotations

from schemas.events import EVENT_TYPES, RegistrationSnapshot
from schemas.registration import AuditEntry, Registration, RegistrationStatus as S

_BY_STATUS = {
    S.SUBMITTED: "registration.submitted",
    S.PENDING_REVIEW: "registration.review_requested",
    S.APPROVED: "registration.approved",
    S.REJECTED: "registration.rejected",
    S.WITHDRAWN: "registration.withdrawn",
    S.WON: "registration.won",
    S.LOST: "registration.lost",
    S.EXPIRED: "registration.expired",
    S.RECLAIMED: "registration.reclaimed",
}
_BY_ACTION = {
    "updated": "registration.updated",
    # Ownership moves (issue 4) that are not plain status changes get their own types.
    "claimed": "registration.claimed",
    "assigned": "registration.assigned",
    "transferred": "registration.transferred",
    "extended": "registration.extended",
    # Approval workflow: an approval below the required level count; the next level's approvers decide.
    "approval_recorded": "registration.escalated",
    # ... or a reviewer referred the waiting level up (``POST .../escalate``): the higher level decides.
    "escalated": "registration.escalated",
    # Pipeline (issue 18): a stage move of an approved registration.
    "stage_changed": "registration.stage_changed",
}
# An offboarding (离职交接) line moves the holding either to the pool (a status change: reclaimed) or, without
# a status change, to a successor: that is a transfer.
_WITHOUT_STATUS = {"offboarded": "registration.transferred"}


def event_type(entry: AuditEntry) -> str | None:
    if entry.action in _BY_ACTION:
        return _BY_ACTION[entry.action]
    if entry.to_status:
        return _BY_STATUS.get(entry.to_status)
    return _WITHOUT_STATUS.get(entry.action)


def snapshot(reg: Registration, model=None, attribute_of=None) -> RegistrationSnapshot:
    """The registration as events carry it; with ``model`` (``scoring_model.Model``), its win probability; with
    ``attribute_of`` (reg -> its attribute score: ``store.scoring.attribute_scorer``, the score lists show, with
    the customer's company size), its attribute score (issue 19). The domain reads no setting: both come in."""
    probability = None
    if model is not None:
        from chalicelib.domain.scoring_model import encode, record_of

        probability = round(model.probability(encode(model.spec, record_of(reg), model.codes)), 4)
    return RegistrationSnapshot(
        id=reg.id, status=reg.status, source=reg.source, submitter=reg.submitter, partner_id=reg.partner_id,
        owner=reg.owner, team_id=reg.team_id, customer_key=reg.customer_key,
        customer_name=reg.customer.name, project_title=reg.project.title,
        expected_amount=reg.project.expected_amount.amount, currency=reg.project.expected_amount.currency,
        version=reg.version, attribute_score=attribute_of(reg) if attribute_of is not None else None,
        model_probability=probability,
        model_version=model.version if model is not None else None,
    )


def events_for_change(old: Registration | None, new: Registration, *, model=None, attribute_of=None) -> list:
    """Domain events for the audit entries ``new`` has beyond ``old``; ``model`` (the published one, if any)
    puts its win probability in each snapshot (issue 19)."""
    seen = old.audit[-1].seq if old and old.audit else 0
    out = []
    for entry in new.audit:
        if entry.seq <= seen:
            continue
        etype = event_type(entry)
        if etype is None:
            continue
        extra: dict[str, object] = (
            {"previous_owner": old.owner if old else None} if etype == "registration.transferred" else {})
        if etype == "registration.stage_changed":
            extra = {"from_stage": old.sales_stage if old else new.sales_stage, "to_stage": new.sales_stage}
        # EVENT_TYPES is typed by EventBase; an audit entry's type is always a registration event's, which has
        # these fields (the dedup event is not an audit entry's type)
        out.append(EVENT_TYPES[etype](  # type: ignore[call-arg]
            id=f"{new.id}:{entry.seq}", occurred_at=entry.at, subject=new.id, actor=entry.actor,
            registration=snapshot(new, model, attribute_of), from_status=entry.from_status, to_status=entry.to_status,
            reason=entry.reason, reason_shared=entry.shared, **extra,
        ))
    return out
