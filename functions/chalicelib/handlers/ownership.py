"""Ownership API: claim from the pool, assign, release, transfer, extend, follow-ups, and the holding view.

Trigger: HTTP (bearer API key). Each write is one DynamoDB transaction (registration + holder counters)
conditioned on the status, owner and version that were read: a lost race answers 409 and changes nothing;
a holding limit answers 409 naming the limit. Roles: reps (and managers) claim, owners release, managers of
the registration's team and admins assign, transfer and extend; anyone who can read it may log a
follow-up, and only the owner's move the activity clock.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.domain.errors import DealregError
from chalicelib.http import HttpError, api, bearer_principal, json_response, refusal_body, request_body
from chalicelib.rules import ownership_rules
from chalicelib.services.registrations import readable_with_holding

bp = Blueprint(__name__)


def _read(reg_id: str):
    from chalicelib.services.registrations import with_holding

    return with_holding(reg_id)


def _view(h, principal) -> dict:
    from chalicelib.domain import visibility
    from chalicelib.domain.ownership import POOL
    from schemas.common import Actor
    from schemas.ownership import Ownership

    t = h.timers
    return visibility.ownership(visibility.Viewer.of(principal), Ownership(
        id=h.reg_id, status=h.status, version=h.version, owner=Actor.from_ref(h.owner.key) if h.owner else None,
        in_pool=h.status is POOL and h.owner is None, granted_at=t.granted_at, extension_days=t.extension_days,
        last_activity_at=t.last_activity_at, due_at=t.due_at, due_reason=t.due_reason,
        previous_owner=Actor.from_ref(t.previous_owner), cooldown_until=t.cooldown_until))


def _operate(reg_id: str, op: str, decide) -> object:
    """Common shape: authenticate, read, authorise, decide (pure), write, answer with the new holding."""
    from chalicelib import clock
    from chalicelib.domain import ownership as dom
    from chalicelib.domain.access import can_read
    from chalicelib.services import ownership as ownership_ops

    principal = bearer_principal(bp.current_request.headers)
    reg, h = _read(reg_id)
    # Pool items are claimable by reps and managers of their team who cannot otherwise see them (others are
    # refused by authorize, 403); anything else follows read access. A registration claimed from the
    # caller's own pool meanwhile is a lost race (409), not a disappearance (404).
    if not can_read(principal, reg) and not (op == "claim" and (
            h.status is dom.POOL or (dom.may_claim_from(principal, h) and _left_pool_by_claim(reg)))):
        raise HttpError(404, "not_found", "no such registration")
    now = clock.now()
    dom.authorize(op, principal, h)
    change = decide(principal, h, now, ownership_rules())
    ownership_ops.apply(h, change, now=now)
    return json_response(200, _view(ownership_ops.after(h, change), principal))


def _left_pool_by_claim(reg) -> bool:
    """The registration's last ownership move took it out of the pool by a claim."""
    for entry in reversed(reg.audit):
        if entry.action in ("claimed", "assigned", "transferred", "granted", "reclaimed", "released",
                            "pooled", "offboarded"):
            return entry.action == "claimed"
    return False


def _body(model, *, optional: bool = False):
    return request_body(bp.current_request, model, optional=optional)


def _profile(ref, loc: str = "body.owner.id"):
    from chalicelib.services.ownership import resolve_recipient

    return resolve_recipient(ref, loc=loc)


@bp.route("/v1/registrations/{reg_id}/claim", methods=["POST"])
@api(responses={200: "Ownership"}, summary="Claim a registration from the pool (公海) for yourself")
def claim_registration(reg_id: str):
    from chalicelib.domain import ownership as dom
    from chalicelib.services.ownership import resolve
    from chalicelib.services.registrations import current_team_id, ensure_team_open

    def decide(p, h, now, rules):
        # taking one for yourself: your team now (403), read afresh
        ensure_team_open(current_team_id(p), loc="principal.team_id", fresh=True)
        return dom.claim(h, resolve(dom.holder_of(p)), actor=p.actor, now=now, rules=rules)

    return _operate(reg_id, "claim", decide)


@bp.route("/v1/registrations/{reg_id}/assign", methods=["POST"])
@api(request="AssignRequest", responses={200: "Ownership"},
     summary="Assign a pooled or archived registration to a holder (manager of the team, admin)")
def assign_registration(reg_id: str):
    from chalicelib.domain import ownership as dom
    from schemas.ownership import AssignRequest

    def decide(p, h, now, rules):
        body = _body(AssignRequest)  # parsed once the caller is known to be allowed
        owner = _profile(dom.HolderRef(body.owner.kind.value, body.owner.id))
        return dom.assign(h, owner, actor=p.actor, now=now, rules=rules, reason=body.reason)

    return _operate(reg_id, "assign", decide)


@bp.route("/v1/registrations/{reg_id}/release", methods=["POST"])
@api(request="ReleaseRequest", request_optional=True, responses={200: "Ownership"},
     summary="Release your registration to the pool (optional body: reason)")
def release_registration(reg_id: str):
    from chalicelib.domain import ownership as dom
    from schemas.ownership import ReleaseRequest

    def decide(p, h, now, rules):
        body = _body(ReleaseRequest, optional=True)
        return dom.release(h, dom.holder_of(p), actor=p.actor, now=now, rules=rules, reason=body.reason)

    return _operate(reg_id, "release", decide)


@bp.route("/v1/registrations/{reg_id}/transfer", methods=["POST"])
@api(request="TransferRequest", responses={200: "Ownership"},
     summary="Transfer a held registration to another holder; its timers carry over (manager, admin)")
def transfer_registration(reg_id: str):
    from chalicelib.domain import ownership as dom
    from schemas.ownership import TransferRequest

    def decide(p, h, now, rules):
        body = _body(TransferRequest)
        to = _profile(dom.HolderRef(body.owner.kind.value, body.owner.id))
        return dom.transfer(h, to, actor=p.actor, now=now, rules=rules, reason=body.reason)

    return _operate(reg_id, "transfer", decide)


@bp.route("/v1/registrations/{reg_id}/extend", methods=["POST"])
@api(request="ExtendRequest", responses={200: "Ownership"},
     summary="Extend the protection period within the configured maximum (manager, admin)")
def extend_registration(reg_id: str):
    from chalicelib.domain import ownership as dom
    from schemas.ownership import ExtendRequest

    def decide(p, h, now, rules):
        body = _body(ExtendRequest)
        return dom.extend(h, body.days, actor=p.actor, now=now, rules=rules, reason=body.reason)

    return _operate(reg_id, "extend", decide)


@bp.route("/v1/registrations/bulk-assign", methods=["POST"])
@api(request="BulkAssignRequest", responses={200: "BulkAssignResult"},
     summary="Hand up to 100 registrations to one holder: pooled/archived are assigned, held ones transferred")
def bulk_assign_registrations():
    """One transaction per registration, each with the single calls' checks (role, status, limit, version),
    so the due times are recomputed exactly as one by one; a refusal stops nothing but itself."""
    from chalicelib import clock
    from chalicelib.domain import ownership as dom
    from chalicelib.services import ownership as ownership_ops
    from schemas.ownership import BulkAssignOutcome, BulkAssignRequest, BulkAssignResult

    principal = bearer_principal(bp.current_request.headers)
    body = _body(BulkAssignRequest)
    # the holder is the same for every item: resolved once (an unknown one refuses the request, 422)
    profile = _profile(dom.HolderRef(body.owner.kind.value, body.owner.id))
    results = []
    rules = ownership_rules()
    for reg_id in dict.fromkeys(body.registration_ids):
        try:
            reg, h = readable_with_holding(reg_id, principal)
            op = "transfer" if h.owner is not None else "assign"
            dom.authorize(op, principal, h)
            now = clock.now()
            change = (dom.transfer(h, profile, actor=principal.actor, now=now, rules=rules, reason=body.reason)
                      if op == "transfer" else
                      dom.assign(h, profile, actor=principal.actor, now=now, rules=rules, reason=body.reason))
            ownership_ops.apply(h, change, now=now)
        except DealregError as exc:
            refusal = refusal_body(exc)  # worded for the caller, as the single calls answer it
            results.append(BulkAssignOutcome(registration_id=reg_id, outcome="refused", code=refusal["code"],
                                             message=refusal["message"], errors=refusal["errors"]))
            continue
        outcome = "transferred" if op == "transfer" else "assigned"
        results.append(BulkAssignOutcome(registration_id=reg_id, outcome=outcome,
                                         ownership=_view(ownership_ops.after(h, change), principal)))
    done = sum(r.outcome != "refused" for r in results)
    return json_response(200, BulkAssignResult(results=results, done=done, refused=len(results) - done))


@bp.route("/v1/registrations/{reg_id}/ownership", methods=["GET"])
@api(responses={200: "Ownership"}, summary="Who holds a registration, until when, and why")
def get_ownership(reg_id: str):

    principal = bearer_principal(bp.current_request.headers)
    _, h = readable_with_holding(reg_id, principal)
    return json_response(200, _view(h, principal))


@bp.route("/v1/registrations/{reg_id}/followups", methods=["POST"])
@api(request="FollowUpCreate", responses={201: "FollowUp"},
     summary="Log a follow-up (跟进); the owner's move the activity clock and so the due time")
def add_follow_up(reg_id: str):
    from datetime import UTC

    from chalicelib import clock
    from chalicelib.domain import ownership as dom
    from chalicelib.domain.registration import new_id
    from chalicelib.store import ownership as store
    from schemas.common import Actor
    from schemas.ownership import FollowUp, FollowUpCreate

    principal = bearer_principal(bp.current_request.headers)
    body = _body(FollowUpCreate)
    _, h = readable_with_holding(reg_id, principal)
    now = clock.now()
    at = body.at or now
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    author = dom.holder_of(principal)
    change = dom.follow_up(h, author, at, now=now, rules=ownership_rules())
    rec = store.FollowUpRecord(id=new_id("fu", now), registration_id=reg_id, at=min(at, now),
                               type=body.type.value, note=body.note, author=author, counted=change is not None)
    store.add_follow_up(h, rec, change, now=now)
    return json_response(201, FollowUp(id=rec.id, registration_id=reg_id, type=body.type, note=body.note,
                                       at=rec.at, author=Actor.from_ref(author.key), counted=rec.counted))
