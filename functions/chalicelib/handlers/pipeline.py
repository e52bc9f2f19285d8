"""Pipeline API (issue 18): the configured sales stages and the audited stage move.

Trigger: HTTP (bearer API key). ``POST /v1/registrations/{id}/stage`` moves an approved registration to
another configured stage: the owner, a manager of its team or an admin (else 403; 404 for one the caller
may not see). One conditional write (status and version read) adds the ``stage_changed`` audit line, which
the stream announces as ``registration.stage_changed``; a lost race answers 409 and writes nothing.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http import HttpError, api, bearer_principal, check_size, json_response, parse_body

bp = Blueprint(__name__)


def rules():
    from chalicelib.domain.pipeline import rules_from

    return rules_from(settings.get().pipeline_stages_json)


@bp.route("/v1/pipeline/stages", methods=["GET"])
@api(responses={200: "PipelineRules"}, summary="The sales stages in pipeline order, with win probabilities")
def pipeline_stages():
    bearer_principal(bp.current_request.headers)
    return json_response(200, rules())


@bp.route("/v1/registrations/{reg_id}/stage", methods=["POST"], content_types=["application/json"])
@api(request="StageMoveRequest", responses={200: "StageMoveResult"},
     summary="Move an approved registration to another sales stage (owner, team manager, admin); audited")
def move_registration_stage(reg_id: str):
    from chalicelib import clock
    from chalicelib.domain.access import can_read
    from chalicelib.domain.ownership import holder_of, manages
    from chalicelib.domain.pipeline import StageMoveError, move_line
    from chalicelib.store import ownership as ownership_store
    from chalicelib.store import registrations
    from schemas.pipeline import StageMoveRequest, StageMoveResult

    request = bp.current_request
    check_size(request.raw_body, settings.get().max_body_bytes)
    principal = bearer_principal(request.headers)
    body = parse_body(StageMoveRequest, request.raw_body)
    reg = registrations.get(reg_id)
    if reg is None or not can_read(principal, reg):
        raise HttpError(404, "not_found", "no such registration")
    h = ownership_store.holding(reg_id)
    may = h is not None and ((h.owner is not None and h.owner == holder_of(principal)) or manages(principal, h.team_id))
    now = clock.now()
    try:
        line = move_line(reg, body.stage, actor=principal.actor, may_move=may, rules=rules(), now=now,
                         reason=body.reason)
    except StageMoveError as exc:
        raise HttpError(exc.status, exc.code, str(exc)) from None
    if not registrations.move_stage(reg, body.stage, line, now=now):
        raise HttpError(409, "conflict", "the registration changed meanwhile; read it again")
    return json_response(200, StageMoveResult(id=reg.id, sales_stage=body.stage, version=reg.version + 1))
