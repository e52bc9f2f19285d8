"""Pipeline API (issue 18): the configured sales stages, the audited stage move and the board.

Trigger: HTTP (bearer API key). ``POST /v1/registrations/{id}/stage`` moves an approved registration to
another configured stage: the owner, a manager of its team or an admin (else 403; 404 for one the caller
may not see). ``GET /v1/pipeline/board`` answers the board's columns (count and amount per currency,
weighted by the stage's probability) from the aggregates the stream keeps: one query, whatever the number of
registrations; managers see their team's board, admins any team's or all. One conditional write (status and version read) adds the ``stage_changed`` audit line, which
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
    from chalicelib.store import ownership as ownership_store, registrations
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


@bp.route("/v1/pipeline/board", methods=["GET"])
@api(responses={200: "Board"},
     summary="Pipeline board: approved registrations per stage, count and amount per currency (query: team)")
def pipeline_board():
    from chalicelib.domain.access import Role
    from chalicelib.domain.board import ALL, team_partition
    from chalicelib.store import aggregates

    principal = bearer_principal(bp.current_request.headers)
    team = (bp.current_request.query_params or {}).get("team")
    if principal.role is Role.MANAGER and team is None and len(principal.managed_team_ids) == 1:
        team = next(iter(principal.managed_team_ids))
    if not (principal.role is Role.ADMIN or (team is not None and team in principal.managed_team_ids)):
        raise HttpError(403, "forbidden", "the board is for managers of the team and admins")
    items = aggregates.partition(team_partition(team) if team else ALL)
    return json_response(200, board(items, team))


def board(items, team):
    """The board's columns in stage order from the aggregate cells."""
    from decimal import Decimal

    from schemas.pipeline import Board, BoardColumn, Money

    cells: dict[str, list] = {}
    for item in items:
        stage, _, currency = item.sk.partition("#")
        if item.count:
            cells.setdefault(stage, []).append((currency, int(item.count), int(item.cents or 0)))
    columns = []
    for st in rules().stages:
        got = sorted(cells.get(st.key.value, []))
        columns.append(BoardColumn(
            stage=st.key, name_zh=st.name_zh, name_en=st.name_en, probability=st.probability,
            count=sum(c for _, c, _ in got),
            amounts=[Money(amount=(Decimal(m) / 100).quantize(Decimal("0.01")), currency=cur) for cur, _, m in got],
            weighted=[Money(amount=(Decimal(m) / 100 * st.probability).quantize(Decimal("0.01")), currency=cur)
                      for cur, _, m in got]))
    return Board(team=team, columns=columns, cells_read=len(items))


def recount(*, now, page_size: int = 500) -> int:
    """Rebuild the board from the registrations table (approved ones, by the status index); returns the
    number of registrations counted. Run while nothing writes, or run it twice."""
    from chalicelib.domain.board import sums
    from chalicelib.store import aggregates
    from chalicelib.store.models import RegistrationItem
    from chalicelib.store.registrations import from_item
    from schemas.registration import RegistrationStatus

    regs = [from_item(i) for i in RegistrationItem.by_status.query(RegistrationStatus.APPROVED.value,
                                                                   page_size=page_size)]
    aggregates.overwrite(sums(regs), now=now)
    return len(regs)
