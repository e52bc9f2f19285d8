"""Workflow API: approve/reject (review), withdraw, resubmit, edit, and close as won/lost.

Trigger: HTTP (bearer API key). Every route reads the registration, asks the state machine
(chalicelib.domain.workflow) for the audit line of the move, and writes it conditioned on the status and
version read: an illegal move or a lost race answers 409 and changes nothing.

- approve/reject: an approver the routing rules allow at the current level (chalicelib.domain.routing),
  else 403. Below the required level count an approval is recorded (``approval_recorded``, announced as
  ``registration.escalated``); the last level grants ownership (store.ownership_ops.grant) to the submitter
  or the holder the body names. A reject needs a reason (422 without).
- withdraw (before a decision), resubmit (a rejected one, bounded), ``PATCH`` (edit while submitted,
  pending review or rejected; re-runs the checks): the submitter only.
- won/lost: the owner, a manager of the registration's team or an admin; the holder's counter is released.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http import (HttpError, api, bearer_principal, check_size, header, json_response, parse_body,
                             parse_json, validate)

bp = Blueprint(__name__)


def _refusal(exc) -> HttpError:
    from chalicelib.domain.workflow import ReasonRequiredError
    from chalicelib.store.registrations import PendingCapReached

    if isinstance(exc, ReasonRequiredError):
        return HttpError(422, "validation_failed", str(exc), errors=[{"loc": "body.reason", "type": "missing"}])
    if isinstance(exc, PendingCapReached):
        return HttpError(409, "pending_cap", str(exc), errors=exc.errors)
    from chalicelib.domain.ownership import LimitExceededError, PendingCapError

    # a limit refusal names its limit, as everywhere
    errors = exc.errors if isinstance(exc, (LimitExceededError, PendingCapError)) else None
    return HttpError(getattr(exc, "status", 409), getattr(exc, "code", "conflict"), str(exc), errors=errors)


def _refusals():
    from chalicelib.domain.ownership import OwnershipError
    from chalicelib.domain.workflow import ReasonRequiredError, WorkflowError
    from chalicelib.store.registrations import PendingCapReached

    return WorkflowError, OwnershipError, ReasonRequiredError, PendingCapReached


def _lost() -> HttpError:
    return HttpError(409, "conflict", "the registration changed meanwhile; read it again")


def _read(reg_id: str, principal, *, also_visible_to=None):
    """The registration, or 404 for one the caller may not see (``also_visible_to`` may widen that)."""
    from chalicelib.domain.access import can_read
    from chalicelib.store import registrations

    reg = registrations.get(reg_id)
    if reg is None or not (can_read(principal, reg) or (also_visible_to is not None and also_visible_to(reg))):
        raise HttpError(404, "not_found", "no such registration")
    return reg


def _body(model, *, optional: bool = False):
    request = bp.current_request
    check_size(request.raw_body, settings.get().max_body_bytes)
    if optional and not request.raw_body:
        return model()
    return parse_body(model, request.raw_body)


def _decision(reg_id: str, principal=None):
    from chalicelib.domain import routing, visibility
    from chalicelib.store import registrations
    from chalicelib.store import routing as routing_store
    from schemas.registration import RegistrationStatus
    from schemas.workflow import Decision

    reg = registrations.get(reg_id)
    review = reg.status is RegistrationStatus.PENDING_REVIEW
    answer = Decision(
        id=reg.id, status=reg.status, version=reg.version, owner=reg.owner,
        levels_required=routing.levels_required(routing_store.rules(), reg) if review else None,
        levels_done=len(routing.round_approvals(reg.audit)) if review else None)
    return json_response(200, visibility.decision(visibility.Viewer.of(principal), answer) if principal else answer)


def _move(reg, line, principal=None):
    """Write the status move ``line(now)`` builds (pure, may refuse), conditioned on the status and version
    read; refusals and a lost race answer 4xx and write nothing. Answers with the decision."""
    from chalicelib import clock
    from chalicelib.store import registrations

    now = clock.now()
    try:
        if not registrations.apply_transition(reg, line(now), now=now):
            raise _lost()
    except _refusals() as exc:
        raise _refusal(exc) from None
    return _decision(reg.id, principal)


# --- review ------------------------------------------------------------------------------------------------------

class _Review:
    """What approve and reject share: the caller, the registration, the level and whether they may decide."""

    def __init__(self, reg_id: str, target, principal) -> None:
        from chalicelib.domain import routing
        from chalicelib.domain.workflow import check_decidable
        from chalicelib.store import routing as routing_store

        self.principal = principal
        rules = routing_store.rules()

        def may(reg) -> bool:
            self.required = routing.levels_required(rules, reg)
            # An approval recorded beyond what is now required (the rules changed): decide the last level.
            self.level = min(routing.current_level(reg), self.required)
            return routing.may_decide(rules, self.principal, reg, self.level,
                                      team_manager_ids=routing_store.team_manager_ids(reg.team_id))

        self.reg = _read(reg_id, self.principal, also_visible_to=may)
        allowed = may(self.reg)
        try:
            check_decidable(self.reg, self.principal, target)
        except _refusals() as exc:
            raise _refusal(exc) from None
        if not allowed:
            raise HttpError(403, "forbidden", f"you may not decide level {self.level} of this registration")


def _default_owner(reg):
    from chalicelib.domain.ownership import HolderRef
    from schemas.common import PrincipalKind

    if reg.submitter.kind is PrincipalKind.PARTNER:
        return HolderRef("partner", reg.partner_id or reg.submitter.id)
    return HolderRef("user", reg.submitter.id)


@bp.route("/v1/registrations/{reg_id}/approve", methods=["POST"])
@api(request="ApproveRequest", request_optional=True, responses={200: "Decision"},
     summary="Approve a registration pending review (allowed approvers; a level of several is recorded)")
def approve_registration(reg_id: str):
    from chalicelib import clock
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.domain.workflow import record_approval
    from chalicelib.store import ownership_ops, registrations
    from schemas.registration import RegistrationStatus
    from schemas.workflow import ApproveRequest

    principal = bearer_principal(bp.current_request.headers)
    r = _Review(reg_id, RegistrationStatus.APPROVED, principal)
    body = _body(ApproveRequest, optional=True)  # parsed only for a caller allowed to decide
    now = clock.now()
    try:
        if r.level < r.required:
            entry = record_approval(r.reg, r.principal.actor, now=now, level=r.level, required=r.required,
                                    reason=body.reason)
            if not registrations.append_audit(r.reg, entry, now=now):
                raise _lost()
        else:
            owner = HolderRef(body.owner.kind.value, body.owner.id) if body.owner else _default_owner(r.reg)
            ownership_ops.grant(r.reg, owner, r.principal.actor, now=now, reason=body.reason)
    except _refusals() as exc:
        raise _refusal(exc) from None
    return _decision(reg_id)


@bp.route("/v1/registrations/{reg_id}/reject", methods=["POST"])
@api(request="RejectRequest", responses={200: "Decision"},
     summary="Reject a registration pending review, with a reason (allowed approvers)")
def reject_registration(reg_id: str):
    from chalicelib.domain.workflow import reject
    from schemas.registration import RegistrationStatus
    from schemas.workflow import RejectRequest

    principal = bearer_principal(bp.current_request.headers)
    r = _Review(reg_id, RegistrationStatus.REJECTED, principal)
    body = _body(RejectRequest)
    return _move(r.reg, lambda now: reject(r.reg, r.principal.actor, now=now, reason=body.reason,
                                                  shared=body.share_reason))


# --- the submitter's moves ---------------------------------------------------------------------------------------

@bp.route("/v1/registrations/{reg_id}/withdraw", methods=["POST"])
@api(request="WithdrawRequest", request_optional=True, responses={200: "Decision"},
     summary="Withdraw your registration before it is decided (optional body: reason)")
def withdraw_registration(reg_id: str):
    from chalicelib.domain.workflow import withdraw
    from schemas.workflow import WithdrawRequest

    principal = bearer_principal(bp.current_request.headers)
    reg = _read(reg_id, principal)
    body = _body(WithdrawRequest, optional=True)
    return _move(reg, lambda now: withdraw(reg, principal, now=now, reason=body.reason), principal)


@bp.route("/v1/registrations/{reg_id}/resubmit", methods=["POST"])
@api(request="ResubmitRequest", request_optional=True, responses={200: "Decision"},
     summary="Send your rejected registration through the checks again (bounded; fix it first with PATCH)")
def resubmit_registration(reg_id: str):
    from chalicelib.domain.workflow import resubmit
    from chalicelib.handlers.workflow import rules
    from schemas.workflow import ResubmitRequest

    principal = bearer_principal(bp.current_request.headers)
    reg = _read(reg_id, principal)
    body = _body(ResubmitRequest, optional=True)
    limit = rules().max_resubmits
    return _move(reg, lambda now: resubmit(reg, principal, now=now, max_resubmits=limit, reason=body.reason),
                 principal)


def apply_edit(reg, payload, principal, *, idempotency_key: str | None = None,
               fingerprint: str | None = None) -> str:
    """Replace ``reg``'s payload with ``payload`` as ``principal`` (the submitter). Returns ``updated``,
    ``unchanged`` (nothing differs: nothing written) or ``replayed`` (this webhook id was applied before).
    Raises HttpError for a refusal or a lost race."""
    from datetime import timedelta

    from chalicelib import clock
    from chalicelib.domain.workflow import edit
    from chalicelib.store import registrations

    now = clock.now()
    if idempotency_key:
        seen = registrations.idempotency_state(idempotency_key, fingerprint, now=now)
        if seen == "reused":
            raise HttpError(422, "idempotency_key_reused", "this webhook-id was used for a different body; use a "
                            "new webhook-id for a new request",
                            errors=[{"loc": "header.webhook-id", "type": "idempotency_key_reused"}])
        if seen is not None:
            return "replayed"
    try:
        entry = edit(reg, payload, principal, now=now)
    except _refusals() as exc:
        raise _refusal(exc) from None
    if entry is None:
        return "unchanged"
    outcome = registrations.update_payload(
        reg, payload, entry, now=now, idempotency_key=idempotency_key,
        idempotency_ttl=timedelta(seconds=settings.get().idempotency_ttl_seconds), fingerprint=fingerprint)
    if outcome == "reused":
        raise HttpError(422, "idempotency_key_reused", "this webhook-id was used for a different body",
                        errors=[{"loc": "header.webhook-id", "type": "idempotency_key_reused"}])
    if outcome == "lost":
        raise _lost()
    return outcome


def _if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header names ("3", '"3"' or 'W/"3"'); None without one."""
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise HttpError(400, "if_match_invalid", "If-Match must name a registration version, e.g. \"3\"",
                        errors=[{"loc": "header.if-match", "type": "int_parsing"}])
    return int(text)


@bp.route("/v1/registrations/{reg_id}", methods=["PATCH"],
          content_types=["application/json", "application/merge-patch+json"])
@api(request="RegistrationPatch", responses={200: "Registration"},
     summary="Edit your registration while it awaits a decision (JSON merge patch; optional If-Match: version)")
def patch_registration(reg_id: str):
    from pydantic import ValidationError

    from chalicelib.domain.workflow import merge_patch, payload_of
    from chalicelib.http import validation_errors
    from chalicelib.store import registrations
    from schemas.registration import RegistrationCreate
    from schemas.workflow import RegistrationPatch

    request = bp.current_request
    principal = bearer_principal(request.headers)
    reg = _read(reg_id, principal)
    check_size(request.raw_body, settings.get().max_body_bytes)
    patch = parse_json(request.raw_body)
    validate(RegistrationPatch, patch)  # the patch's shape: known top-level fields only (422 otherwise)
    expected = _if_match(header(request.headers, "if-match", max_chars=64))
    if expected is not None and expected != reg.version:
        raise HttpError(412, "precondition_failed", f"the registration is at version {reg.version}, not {expected}")
    merged = merge_patch(payload_of(reg).model_dump(mode="json"), patch)
    try:
        payload = RegistrationCreate.model_validate(merged)
    except ValidationError as exc:
        raise HttpError(422, "validation_failed", "the edited registration failed validation",
                        errors=validation_errors(exc, "body")) from None
    apply_edit(reg, payload, principal)
    current = registrations.get(reg_id)
    from chalicelib.domain import visibility

    return json_response(200, visibility.registration(visibility.Viewer.of(principal), current),
                         headers={"ETag": f'"{current.version}"'})


# --- closing -----------------------------------------------------------------------------------------------------

def _close(reg_id: str, target, parse, principal):
    """``parse()`` reads the body, called only once the caller may close it: (reason, won amount or None)."""
    from chalicelib import clock
    from chalicelib.domain.ownership import holder_of, manages
    from chalicelib.domain.workflow import IllegalTransitionError
    from chalicelib.store import ownership as ownership_store
    from chalicelib.store import ownership_ops
    from schemas.registration import RegistrationStatus

    _read(reg_id, principal)
    h = ownership_store.holding(reg_id)
    if h.status is not RegistrationStatus.APPROVED or h.owner is None:
        raise _refusal(IllegalTransitionError(h.status, target))
    if not (h.owner == holder_of(principal) or manages(principal, h.team_id)):
        raise HttpError(403, "forbidden", "only the owner, a manager of the team or an admin may close it")
    text, won_amount = parse()
    try:
        ownership_ops.close(reg_id, target, principal.actor, now=clock.now(), reason=text, won_amount=won_amount)
    except _refusals() as exc:
        raise _refusal(exc) from None
    return _decision(reg_id, principal)


@bp.route("/v1/registrations/{reg_id}/won", methods=["POST"])
@api(request="CloseWonRequest", responses={200: "Decision"},
     summary="Close an approved registration as won, with the contracted amount (owner, team manager, admin)")
def close_won(reg_id: str):
    from schemas.registration import RegistrationStatus
    from schemas.workflow import CloseWonRequest

    principal = bearer_principal(bp.current_request.headers)

    def parse():
        body = _body(CloseWonRequest)
        text = f"won at {body.amount.amount} {body.amount.currency}" + (f": {body.reason}" if body.reason else "")
        return text, body.amount

    return _close(reg_id, RegistrationStatus.WON, parse, principal)


@bp.route("/v1/registrations/{reg_id}/lost", methods=["POST"])
@api(request="CloseLostRequest", responses={200: "Decision"},
     summary="Close an approved registration as lost, with the reason (owner, team manager, admin)")
def close_lost(reg_id: str):
    from schemas.registration import RegistrationStatus
    from schemas.workflow import CloseLostRequest

    principal = bearer_principal(bp.current_request.headers)
    return _close(reg_id, RegistrationStatus.LOST, lambda: (_body(CloseLostRequest).reason, None), principal)
