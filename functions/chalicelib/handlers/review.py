"""Workflow API: approve/reject (review), withdraw, resubmit, edit, and close as won/lost.

Trigger: HTTP (bearer API key). Every route reads the registration, asks the state machine
(chalicelib.domain.workflow) for the audit line of the move, and writes it conditioned on the status and
version read: an illegal move or a lost race answers 409 and changes nothing.

- approve/reject: an approver the routing rules allow at the current level (chalicelib.domain.routing),
  else 403. Below the required level count an approval is recorded (``approval_recorded``, announced as
  ``registration.escalated``); the last level grants ownership (store.ownership_ops.grant) to the submitter
  or the holder the body names. A reject needs a reason (422 without).
- escalate: whoever may decide the waiting level refers it up, with a reason (``escalated``, announced as
  ``registration.escalated`` to the higher level's approvers); conditioned on the version read like a decision.
- withdraw (before a decision), resubmit (a rejected one, bounded), ``PATCH`` (edit while submitted,
  pending review or rejected; re-runs the checks): the submitter only.
- won/lost: the owner, a manager of the registration's team or an admin; the holder's counter is released.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http import (
    HttpError,
    api,
    bearer_principal,
    check_size,
    header,
    json_response,
    parse_json,
    request_body,
    validate,
)
from chalicelib.rules import workflow_rules

bp = Blueprint(__name__)


def _lost() -> Exception:
    from chalicelib.services.workflow import lost_race

    return lost_race()


def _read(reg_id: str, principal, *, also_visible_to=None):
    from chalicelib.services.registrations import readable

    return readable(reg_id, principal, also_visible_to=also_visible_to)


def _body(model, *, optional: bool = False):
    return request_body(bp.current_request, model, optional=optional)


def _decision(reg_id: str, principal=None):
    from chalicelib.domain import routing, visibility
    from chalicelib.store import registrations, routing as routing_store
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
    if not registrations.apply_transition(reg, line(now), now=now):
        raise _lost()
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
        check_decidable(self.reg, self.principal, target)
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
    from chalicelib.services import ownership as ownership_ops
    from chalicelib.store import registrations
    from schemas.registration import RegistrationStatus
    from schemas.workflow import ApproveRequest

    principal = bearer_principal(bp.current_request.headers)
    r = _Review(reg_id, RegistrationStatus.APPROVED, principal)
    body = _body(ApproveRequest, optional=True)  # parsed only for a caller allowed to decide
    now = clock.now()
    if r.level < r.required:
        entry = record_approval(r.reg, r.principal.actor, now=now, level=r.level, required=r.required,
                                reason=body.reason)
        if not registrations.append_audit(r.reg, entry, now=now):
            raise _lost()
    else:
        if body.owner:  # named by the approver: a new holding, so not for a deactivated team's member
            ownership_ops.grant(r.reg, HolderRef(body.owner.kind.value, body.owner.id), r.principal.actor,
                                now=now, reason=body.reason, named_at="body.owner.id")
        else:
            ownership_ops.grant(r.reg, _default_owner(r.reg), r.principal.actor, now=now, reason=body.reason)
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


@bp.route("/v1/registrations/{reg_id}/escalate", methods=["POST"])
@api(request="EscalateRequest", responses={200: "Decision"},
     summary="Refer a registration pending review to a higher approver level, with a reason (those who may "
             "decide the waiting level)")
def escalate_registration(reg_id: str):
    from chalicelib import clock
    from chalicelib.domain.workflow import escalate
    from chalicelib.store import registrations
    from schemas.registration import RegistrationStatus
    from schemas.workflow import EscalateRequest

    principal = bearer_principal(bp.current_request.headers)
    r = _Review(reg_id, RegistrationStatus.PENDING_REVIEW, principal)
    body = _body(EscalateRequest)
    now = clock.now()
    entry = escalate(r.reg, r.principal.actor, now=now, reason=body.reason, level=r.level, to_level=body.level)
    if not registrations.append_audit(r.reg, entry, now=now):  # conditioned on the version read
        raise _lost()
    return _decision(reg_id)


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
    from chalicelib.services.registrations import current_team_id, ensure_team_open
    from schemas.workflow import ResubmitRequest

    principal = bearer_principal(bp.current_request.headers)
    reg = _read(reg_id, principal)
    body = _body(ResubmitRequest, optional=True)
    # back to review is a new request for protection: judged by the caller's team now, not the one it was filed under
    ensure_team_open(current_team_id(principal), fresh=True)
    limit = workflow_rules().max_resubmits
    return _move(reg, lambda now: resubmit(reg, principal, now=now, max_resubmits=limit, reason=body.reason),
                 principal)


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
     headers={"If-Match": {"type": "string", "maxLength": 64, "description": 'the version read, e.g. "3"'}},
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
    from chalicelib.services.workflow import apply_edit

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
    from chalicelib.services import ownership as ownership_ops
    from chalicelib.store import ownership as ownership_store
    from schemas.registration import RegistrationStatus

    _read(reg_id, principal)
    h = ownership_store.holding(reg_id)
    if h.status is not RegistrationStatus.APPROVED or h.owner is None:
        raise IllegalTransitionError(h.status, target)
    if not (h.owner == holder_of(principal) or manages(principal, h.team_id)):
        raise HttpError(403, "forbidden", "only the owner, a manager of the team or an admin may close it")
    text, won_amount = parse()
    ownership_ops.close(reg_id, target, principal.actor, now=clock.now(), reason=text, won_amount=won_amount)
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
