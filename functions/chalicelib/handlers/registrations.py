"""Read API: one registration, and paginated lists that only ever query what the caller may see.

Trigger: HTTP (bearer API key). Side effects: none. Another partner's registration answers 404, not 403,
so ids cannot be probed.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.http import HttpError, api, bearer_principal, json_response, parse_query

bp = Blueprint(__name__)


@bp.route("/v1/registrations/{reg_id}", methods=["GET"])
@api(responses={200: "Registration"}, summary="Read one registration")
def get_registration(reg_id: str):
    from chalicelib.domain import visibility
    from chalicelib.services.registrations import readable

    principal = bearer_principal(bp.current_request.headers)
    reg = readable(reg_id, principal)
    return json_response(200, visibility.registration(visibility.Viewer.of(principal), reg))


@bp.route("/v1/registrations", methods=["GET"])
@api(responses={200: "RegistrationPage"},
     query="schemas.registration:RegistrationListQuery",
     summary="List registrations visible to the caller (query: status, owner, team, limit, cursor)")
def list_registrations():
    from chalicelib.domain.access import list_plan
    from chalicelib.store import registrations
    from schemas.registration import RegistrationListQuery, RegistrationPage

    request = bp.current_request
    principal = bearer_principal(request.headers)
    q = parse_query(RegistrationListQuery, request.query_params)
    status = q.status.value if q.status is not None else None
    try:
        cursor = registrations.decode_cursor(q.cursor)
    except ValueError:
        raise HttpError(422, "validation_failed", "bad cursor",
                        errors=[{"loc": "query.cursor", "type": "value_error"}]) from None
    plan = list_plan(principal, owner=q.owner, status=status, team=q.team)
    try:
        items, last_key = registrations.list_page(plan.index, plan.key, status=status, limit=q.limit, cursor=cursor)
    except ValueError:
        raise HttpError(422, "validation_failed", "bad cursor",
                        errors=[{"loc": "query.cursor", "type": "value_error"}]) from None
    from chalicelib.domain import visibility

    viewer = visibility.Viewer.of(principal)
    return json_response(200, RegistrationPage(items=[visibility.registration(viewer, r) for r in items],
                                               next_cursor=registrations.encode_cursor(last_key)))
