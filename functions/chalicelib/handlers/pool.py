"""The pool (公海): reps list and read reclaimed registrations they may claim.

Trigger: HTTP (bearer API key). Side effects: none.
- ``GET /v1/pool?region=&industry=&min_amount=&max_amount=&currency=&since=&limit=&cursor=`` — newest first. A rep
  sees its team's pool (or, without a team, the whole pool); managers and admins the whole pool (``team=`` to
  narrow). Partners cannot claim, so they get 403.
- ``GET /v1/pool/{reg_id}`` — one pooled registration, without the previous owner's private fields
  (contacts, competitors, background, external ref, submitter, audit: ``domain.visibility.pooled``); 404 if it
  is not in the pool or not claimable by the caller.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.http import HttpError, api, bearer_principal, json_response, parse_query

bp = Blueprint(__name__)
SCAN_BUDGET = 500  # most pool items examined per page, so sparse filters answer with a cursor, not a timeout


def _may_browse(principal) -> None:
    from chalicelib.domain.access import Role

    if principal.role is Role.PARTNER:
        raise HttpError(403, "forbidden", "partners do not claim from the pool")


def _visible_team(principal, reg) -> bool:
    from chalicelib.domain.access import Role

    return principal.role is not Role.REP or reg.team_id is None or reg.team_id == principal.team_id


def _filter(q):
    """The listing's filters (``domain.pool.PoolFilter``) from its query (``schemas.registration.PoolQuery``)."""
    from datetime import UTC

    from chalicelib.domain.pool import PoolFilter

    since = q.since.replace(tzinfo=UTC) if q.since is not None and q.since.tzinfo is None else q.since
    return PoolFilter(region=q.region, industry=q.industry, currency=q.currency, min_amount=q.min_amount,
                      max_amount=q.max_amount, since=since)


@bp.route("/v1/pool", methods=["GET"])
@api(responses={200: "RegistrationPage"}, query="schemas.registration:PoolQuery",
     summary="List claimable pool registrations (query: region, industry, min_amount, max_amount, currency, since, "
             "team, limit, cursor, sort=newest|score, min_score 0–100 — sort=score ranks the newest 500, one page)")
def list_pool():
    from chalicelib.domain import visibility
    from chalicelib.domain.access import Role
    from chalicelib.domain.ownership import POOL
    from chalicelib.domain.pool import matches
    from chalicelib.handlers.registrations import score_args, scored
    from chalicelib.store import registrations, scoring
    from schemas.registration import PoolQuery, RegistrationPage

    request = bp.current_request
    principal = bearer_principal(request.headers)
    _may_browse(principal)
    q = parse_query(PoolQuery, request.query_params)
    flt = _filter(q)
    sort, min_score = score_args(request.query_params or {}, principal)  # who may ask for scores
    limit = q.limit
    try:
        cursor = registrations.decode_cursor(q.cursor)
    except ValueError:
        raise HttpError(422, "validation_failed", "bad cursor",
                        errors=[{"loc": "query.cursor", "type": "value_error"}]) from None
    team = q.team if principal.role is not Role.REP else principal.team_id
    index, key = ("by_team", team) if team else ("by_status", POOL.value)
    if sort == "score":  # issue 19: the newest SCAN_BUDGET examined, the matching ones ranked, one page
        ranked, sums, truncated = scoring.ranked_window(
            index, key, status=POOL.value, min_score=min_score or 0, limit=limit,
            keep=lambda r: r.owner_id is None and _visible_team(principal, r) and matches(r, flt))
        return json_response(200, RegistrationPage(items=scored([visibility.pooled(r) for r in ranked], sums),
                                                   truncated=truncated))
    score_of, sums = scoring.summarizer(), {}
    items, examined = [], 0
    try:
        while len(items) < limit and examined < SCAN_BUDGET:
            page, cursor = registrations.list_page(index, key, status=POOL.value, limit=limit, cursor=cursor)
            examined += len(page)
            page = [r for r in page if r.owner_id is None and _visible_team(principal, r) and matches(r, flt)]
            facts = scoring.customer_facts_many({r.customer_key for r in page})
            for r in page:
                sums[r.id] = score_of(r, facts.get(r.customer_key))  # the full record; shown on the pooled view
                if sums[r.id]["score"] >= (min_score or 0):
                    items.append(visibility.pooled(r))
            if cursor is None:
                break
    except ValueError:
        raise HttpError(422, "validation_failed", "bad cursor",
                        errors=[{"loc": "query.cursor", "type": "value_error"}]) from None
    items = scored(items, sums)
    return json_response(200, RegistrationPage(items=items, next_cursor=registrations.encode_cursor(cursor)))


@bp.route("/v1/pool/{reg_id}", methods=["GET"])
@api(responses={200: "Registration"}, summary="Read one pool registration (without the previous owner's details)")
def get_pooled(reg_id: str):
    from chalicelib.domain import visibility
    from chalicelib.domain.ownership import POOL
    from chalicelib.store import registrations

    principal = bearer_principal(bp.current_request.headers)
    _may_browse(principal)
    reg = registrations.get(reg_id)
    if reg is None or reg.status is not POOL or reg.owner_id is not None or not _visible_team(principal, reg):
        raise HttpError(404, "not_found", "no such registration in the pool")
    return json_response(200, visibility.pooled(reg))
