"""Pipeline API (issue 18): the configured sales stages, the audited stage move and the board.

Trigger: HTTP (bearer API key). ``GET /v1/pipeline/cockpit`` answers the cockpit (驾驶舱) from the cockpit
aggregates: a fixed set of key-range queries bounded by the window (weeks, months), whatever the number of
registrations; same access as the board. ``POST /v1/registrations/{id}/stage`` moves an approved registration to
another configured stage: the owner, a manager of its team or an admin (else 403; 404 for one the caller
may not see). ``GET /v1/pipeline/board`` answers the board's columns (count and amount per currency,
weighted by the stage's probability) from the aggregates the stream keeps: one query, whatever the number of
registrations; managers see their team's board, admins any team's or all. One conditional write (status and version read) adds the ``stage_changed`` audit line, which
the stream announces as ``registration.stage_changed``; a lost race answers 409 and writes nothing.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http import (
    HttpError,
    api,
    bearer_principal,
    check_size,
    json_response,
    parse_body,
    parse_query,
)
from chalicelib.rules import pipeline_rules

bp = Blueprint(__name__)


@bp.route("/v1/pipeline/stages", methods=["GET"])
@api(responses={200: "PipelineRules"}, summary="The sales stages in pipeline order, with win probabilities")
def pipeline_stages():
    bearer_principal(bp.current_request.headers)
    return json_response(200, pipeline_rules())


@bp.route("/v1/registrations/{reg_id}/stage", methods=["POST"], content_types=["application/json"])
@api(request="StageMoveRequest", responses={200: "StageMoveResult"},
     summary="Move an approved registration to another sales stage (owner, team manager, admin); audited")
def move_registration_stage(reg_id: str):
    from chalicelib import clock
    from chalicelib.domain.ownership import holder_of, manages
    from chalicelib.domain.pipeline import move_line
    from chalicelib.services.registrations import readable
    from chalicelib.store import ownership as ownership_store, registrations
    from schemas.pipeline import StageMoveRequest, StageMoveResult

    request = bp.current_request
    check_size(request.raw_body, settings.get().max_body_bytes)
    principal = bearer_principal(request.headers)
    body = parse_body(StageMoveRequest, request.raw_body)
    reg = readable(reg_id, principal)
    h = ownership_store.holding(reg_id)
    may = h is not None and ((h.owner is not None and h.owner == holder_of(principal)) or manages(principal, h.team_id))
    now = clock.now()
    line = move_line(reg, body.stage, actor=principal.actor, may_move=may, rules=pipeline_rules(), now=now,
                     reason=body.reason)
    if not registrations.move_stage(reg, body.stage, line, now=now):
        raise HttpError(409, "conflict", "the registration changed meanwhile; read it again")
    return json_response(200, StageMoveResult(id=reg.id, sales_stage=body.stage, version=reg.version + 1))


@bp.route("/v1/pipeline/board", methods=["GET"])
@api(responses={200: "Board"}, query="schemas.pipeline:BoardQuery",
     summary="Pipeline board: approved registrations per stage, count and amount per currency (query: team; "
             "weighting=stage|model: the forecast by the stage's or the model's win probability)")
def pipeline_board():
    from chalicelib.domain.board import ALL, team_partition
    from chalicelib.store import aggregates
    from schemas.pipeline import BoardQuery

    q = parse_query(BoardQuery, bp.current_request.query_params)
    team = _team_in_view("the board")
    by_model = None
    if q.weighting == "model":  # issue 19: each approved registration's amount x the model's win probability
        from chalicelib.store import scoring

        by_model = scoring.model_forecast(team)
        if by_model is None:
            raise HttpError(409, "no_model", "no scoring model is published: use weighting=stage")
    items = aggregates.partition(team_partition(team) if team else ALL)
    return json_response(200, board(items, team, by_model))


def _team_in_view(what: str) -> str | None:
    """The team whose figures the caller asked for (``?team=``; a manager of one team: that team), or None for
    all teams (admins only); 403 for anyone else."""
    from chalicelib.domain.access import Role

    principal = bearer_principal(bp.current_request.headers)
    team = (bp.current_request.query_params or {}).get("team")
    if principal.role is Role.MANAGER and team is None and len(principal.managed_team_ids) == 1:
        team = next(iter(principal.managed_team_ids))
    if not (principal.role is Role.ADMIN or (team is not None and team in principal.managed_team_ids)):
        raise HttpError(403, "forbidden", f"{what} is for managers of the team and admins")
    return team


@bp.route("/v1/pipeline/cockpit", methods=["GET"])
@api(responses={200: "Cockpit"}, query="schemas.pipeline:CockpitQuery",
     summary="Cockpit (驾驶舱): trends, conversion, stage stays, bottleneck, weighted forecast, top partners "
             "(query: team, weeks, months, past_months: overdue open deals)")
def pipeline_cockpit():
    from chalicelib import clock
    from chalicelib.domain import cockpit as dom
    from chalicelib.store import aggregates
    from schemas.pipeline import CockpitQuery

    q = parse_query(CockpitQuery, bp.current_request.query_params)
    team = _team_in_view("the cockpit")
    window = dom.Window(today=clock.now().date(), weeks=q.weeks, months=q.months, past_months=q.past_months)
    part = dom.team_partition(team) if team else dom.ALL
    items = [i for low, high in window.ranges() for i in aggregates.cells(part, low, high)]
    return json_response(200, cockpit(items, team, window))


def cockpit(items, team, window):
    """The API model of the cockpit from the aggregate cells read."""
    from decimal import Decimal

    from chalicelib.domain import cockpit as dom
    from schemas.pipeline import Cockpit, Money

    stages = pipeline_rules().stages
    names = {s.key.value: (s.name_zh, s.name_en) for s in stages}
    names[dom.REVIEW] = ("审批中", "In review")
    got = dom.figures([(i.sk, int(i.count or 0), int(i.cents or 0)) for i in items], window,
                      [(s.key.value, s.probability) for s in stages])

    def money(pairs):
        return [Money(amount=(Decimal(c) / 100).quantize(Decimal("0.01")), currency=cur) for cur, c in pairs]

    return Cockpit(
        team=team, today=window.today.isoformat(), days=got["days"], weeks=got["weeks"],
        conversion=got["conversion"],
        stages=[{**r, "name_zh": names.get(r["stage"], (r["stage"],) * 2)[0],
                 "name_en": names.get(r["stage"], (r["stage"],) * 2)[1]} for r in got["stages"]],
        bottleneck=got["bottleneck"],
        forecast=[{"month": f["month"], "overdue": f["overdue"], "amounts": money(f["amounts"]),
                   "weighted": money(f["weighted"])} for f in got["forecast"]],
        top_partners=got["top_partners"], cells_read=len(items))


def board(items, team, by_model=None):
    """The board's columns in stage order from the aggregate cells."""
    from decimal import Decimal

    from schemas.pipeline import Board, BoardColumn, Money

    cells: dict[str, list] = {}
    for item in items:
        stage, _, currency = item.sk.partition("#")
        if item.count:
            cells.setdefault(stage, []).append((currency, int(item.count), int(item.cents or 0)))
    columns = []
    for st in pipeline_rules().stages:
        got = sorted(cells.get(st.key.value, []))
        columns.append(BoardColumn(
            stage=st.key, name_zh=st.name_zh, name_en=st.name_en, probability=st.probability,
            count=sum(c for _, c, _ in got),
            amounts=[Money(amount=(Decimal(m) / 100).quantize(Decimal("0.01")), currency=cur) for cur, _, m in got],
            weighted=[Money(amount=(Decimal(m) / 100 * st.probability).quantize(Decimal("0.01")), currency=cur)
                      for cur, _, m in got] if by_model is None else
            [Money(amount=v, currency=cur) for cur, v in sorted(by_model["cells"].get(st.key.value, {}).items())]))
    if by_model is None:
        return Board(team=team, columns=columns, cells_read=len(items))
    return Board(team=team, columns=columns, cells_read=len(items), weighting="model",
                 model_version=by_model["model_version"], registrations_read=by_model["read"],
                 truncated=by_model["truncated"])

