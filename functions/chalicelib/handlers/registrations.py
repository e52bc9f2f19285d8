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


SORTS = ("newest", "score")


def score_args(q, principal) -> tuple[str, int | None]:
    """``sort`` (newest | score) and ``min_score`` (0–100) of a list route (issue 19); scores are for staff."""
    from schemas.common import PrincipalKind

    sort = q.get("sort", "newest")
    if sort not in SORTS:
        raise HttpError(422, "validation_failed", "sort must be newest or score",
                        errors=[{"loc": "query.sort", "type": "enum"}])
    raw = q.get("min_score")
    if raw is not None and not (raw.isdigit() and 0 <= int(raw) <= 100):
        raise HttpError(422, "validation_failed", "min_score must be 0–100",
                        errors=[{"loc": "query.min_score", "type": "int_range"}])
    min_score = int(raw) if raw is not None else None
    if (sort == "score" or min_score is not None) and principal.kind is not PrincipalKind.USER:
        raise HttpError(403, "forbidden", "scores are for users (reps, managers, admins)")
    if sort == "score" and q.get("cursor"):
        raise HttpError(422, "validation_failed", "sort=score answers one ranked page (the newest 500 ranked), "
                        "without a cursor", errors=[{"loc": "query.cursor", "type": "value_error"}])
    return sort, min_score


def scored(items, sums):
    """List items with their ``score`` (``schemas.registration.ScoreSummary``) set."""
    from schemas.registration import ScoreSummary

    return [r.model_copy(update={"score": ScoreSummary.model_validate(sums[r.id])}) for r in items]


@bp.route("/v1/registrations", methods=["GET"])
@api(responses={200: "RegistrationPage"},
     query="schemas.registration:RegistrationListQuery",
     summary="List registrations visible to the caller (query: status, owner, team, limit, cursor; staff: "
             "sort=newest|score, min_score 0–100 — sort=score ranks the newest 500 and answers one page)")
def list_registrations():
    from chalicelib.domain.access import list_plan
    from chalicelib.store import registrations
    from schemas.registration import RegistrationListQuery, RegistrationPage

    request = bp.current_request
    principal = bearer_principal(request.headers)
    q = parse_query(RegistrationListQuery, request.query_params)
    status = q.status.value if q.status is not None else None
    sort, min_score = score_args(request.query_params or {}, principal)
    plan = list_plan(principal, owner=q.owner, status=status, team=q.team)
    from chalicelib.domain import visibility

    viewer = visibility.Viewer.of(principal)
    if sort == "score":
        from chalicelib.store import scoring

        ranked, sums, truncated = scoring.ranked_window(plan.index, plan.key, status=status,
                                                        min_score=min_score or 0, limit=q.limit)
        return json_response(200, RegistrationPage(items=scored(ranked, sums), truncated=truncated))
    try:
        cursor = registrations.decode_cursor(q.cursor)
    except ValueError:
        raise HttpError(422, "validation_failed", "bad cursor",
                        errors=[{"loc": "query.cursor", "type": "value_error"}]) from None
    try:
        items, last_key = registrations.list_page(plan.index, plan.key, status=status, limit=q.limit, cursor=cursor)
    except ValueError:
        raise HttpError(422, "validation_failed", "bad cursor",
                        errors=[{"loc": "query.cursor", "type": "value_error"}]) from None
    items = [visibility.registration(viewer, r) for r in items]
    if not viewer.is_partner:
        from chalicelib.store import scoring

        sums = scoring.summaries(items)
        items = scored([r for r in items if sums[r.id]["score"] >= (min_score or 0)], sums)
    return json_response(200, RegistrationPage(items=items, next_cursor=registrations.encode_cursor(last_key)))
