"""The pipeline board (issue 18): aggregates kept from the registrations stream exactly once, read in one
bounded query, rebuilt by the recount; the console shows the API's numbers."""
from __future__ import annotations

import re

import pytest

from tests.functional.helpers import EXAMPLE, make_user


def _data(name: str, amount: str, currency: str = "CNY", stage: str = "proposal") -> dict:
    data = {k: v for k, v in EXAMPLE["data"].items() if k != "external_ref"}
    return {**data, "customer": {"name": name}, "sales_stage": stage,
            "project": {**data["project"], "expected_amount": {"amount": amount, "currency": currency}}}


@pytest.fixture
def team(suite):
    boss = make_user("boss", "manager", "channel")
    rita = make_user("rita", "rep", "channel")
    ids = []
    for name, amount, currency in (("甲公司", "100.00", "CNY"), ("乙公司", "250.50", "CNY"), ("Gamma Ltd", "70.00", "GBP")):
        ids.append(suite.api.post("/v1/registrations", _data(name, amount, currency), rita).json()["id"])
    suite.runner.pump()
    for reg_id in ids:
        assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, boss).status == 200
    suite.runner.pump()
    return {"boss": boss, "rita": rita, "ids": ids, "admin": make_user("admin", "admin")}


def _columns(answer) -> dict:
    return {c["stage"]: (c["count"], {m["currency"]: m["amount"] for m in c["amounts"]})
            for c in answer.json()["columns"] if c["count"]}


def test_board_counts_approved_registrations_and_follows_stage_moves(suite, team):
    api = suite.api
    board = api.get("/v1/pipeline/board", team["boss"])
    assert board.status == 200, board.body
    assert _columns(board) == {"proposal": (3, {"CNY": 350.5, "GBP": 70})}  # numbers are numbers
    assert board.json()["cells_read"] == 2  # proposal#CNY, proposal#GBP: one query of the team's cells
    weighted = {m["currency"]: m["amount"] for m in board.json()["columns"][3]["weighted"]}
    assert weighted == {"CNY": 210.3, "GBP": 42}  # x 0.6
    # a stage move and a close move the figures
    assert api.post(f"/v1/registrations/{team['ids'][0]}/stage", {"stage": "negotiation"}, team["rita"]).status == 200
    assert api.post(f"/v1/registrations/{team['ids'][2]}/lost", {"reason": "budget cut"}, team["rita"]).status == 200
    suite.runner.pump()
    cols = _columns(api.get("/v1/pipeline/board", team["boss"]))
    assert {k: v[0] for k, v in cols.items()} == {"proposal": 1, "negotiation": 1}
    assert _columns(api.get("/v1/pipeline/board", team["admin"])) == cols  # all teams = this one here
    # reps do not get the board; a manager not of this team does not either
    assert api.get("/v1/pipeline/board", team["rita"]).status == 403
    other = make_user("olga", "manager", "other")
    assert api.get("/v1/pipeline/board?team=channel", other).status == 403


def test_a_redelivered_stream_record_is_counted_once_and_recount_rebuilds_the_same_board(suite, team):
    from chalicelib.clock import now
    from chalicelib.services.pipeline import recount
    from chalicelib.store import aggregates
    from chalicelib.store.models import AggregateItem

    before = _columns(suite.api.get("/v1/pipeline/board", team["boss"]))
    assert aggregates.apply("evt-1", [("board#all", "proposal#CNY", 1, 100)], now=now()) is True
    assert aggregates.apply("evt-1", [("board#all", "proposal#CNY", 1, 100)], now=now()) is False
    skewed = _columns(suite.api.get("/v1/pipeline/board", team["admin"]))
    assert skewed["proposal"][0] == 4  # the one synthetic record, once
    # wipe a cell and recount: the board is rebuilt from the table
    AggregateItem("board#team#channel", "proposal#GBP").delete()
    assert recount(now=now()) == 3
    assert _columns(suite.api.get("/v1/pipeline/board", team["boss"])) == before
    assert _columns(suite.api.get("/v1/pipeline/board", team["admin"])) == before


def test_console_board_shows_the_api_numbers(suite, team):
    from tests.functional.console_client import ConsoleClient

    c = ConsoleClient(suite.api.base)
    c.login(team["boss"])
    status, _, page = c.get("/console/board")
    assert status == 200
    shown = {m[0]: int(m[1]) for m in re.findall(r'data-stage="([a-z_]+)" data-count="(\d+)"', page)}
    api = {c["stage"]: c["count"] for c in suite.api.get("/v1/pipeline/board", team["boss"]).json()["columns"]}
    assert shown == api and shown["proposal"] == 3
    rep = ConsoleClient(suite.api.base)
    rep.login(team["rita"])
    assert rep.get("/console/board")[0] == 403


def test_console_board_cards_move_by_button_and_filter(suite, team):
    from tests.functional.console_client import ConsoleClient

    c = ConsoleClient(suite.api.base)
    c.login(team["boss"])
    status, _, page = c.get("/console/board")
    assert status == 200
    cards = re.findall(r'<li class="card deal" data-id="(reg_\w+)" data-stage="(\w+)">', page)
    assert sorted(cards) == sorted((i, "proposal") for i in team["ids"])
    assert page.count('data-k="days_in_stage">0<') == 3  # approved just now
    left = re.findall(r'data-k="protection_left">(\d+|-)<', page)
    assert len(left) == 3 and all(x.isdigit() and int(x) > 0 for x in left)  # protection runs for days
    # move one card by its button: the stage moves (audited, through the API) and the column follows
    reg_id = team["ids"][1]
    status, headers, _ = c.post(f"/console/registrations/{reg_id}/act",
                                {"csrf": c.csrf(page), "op": "stage", "stage": "negotiation", "back": "board"})
    assert status == 303 and "/console/board" in headers["location"] and "m=done" in headers["location"]
    assert suite.api.get(f"/v1/registrations/{reg_id}", team["rita"]).json()["sales_stage"] == "negotiation"
    suite.runner.pump()
    page = c.get("/console/board")[2]
    assert (reg_id, "negotiation") in re.findall(r'data-id="(reg_\w+)" data-stage="(\w+)">', page)
    assert 'data-stage="negotiation" data-count="1"' in page
    # filters: owner, industry (substring), partner, team (a team the manager does not manage is refused)
    assert len(re.findall(r'class="card deal"', c.get("/console/board?owner=rita")[2])) == 3
    assert len(re.findall(r'class="card deal"', c.get("/console/board?owner=nobody")[2])) == 0
    assert len(re.findall(r'class="card deal"', c.get("/console/board?partner=acme")[2])) == 0
    industry = suite.api.get(f"/v1/registrations/{reg_id}", team["rita"]).json()["customer"].get("industry") or ""
    if industry:
        assert len(re.findall(r'class="card deal"', c.get(f"/console/board?industry={industry[:2]}")[2])) == 3
    assert c.get("/console/board?team=other")[0] == 403
    # the registration page names the stage by its configured name, in the page's language
    page = c.get(f"/console/registrations/{reg_id}")[2]
    assert re.search(r'id="sales-stage" data-stage="negotiation">Negotiation<', page)
    zh = ConsoleClient(suite.api.base, lang="zh-CN")
    zh.login(team["boss"])
    assert re.search(r'id="sales-stage" data-stage="negotiation">谈判审核<', zh.get(f"/console/registrations/{reg_id}")[2])
