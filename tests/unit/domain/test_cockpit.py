"""Cockpit figures (issue 18) as per-registration contributions: stays from the audit trail, cohort conversion,
conflicts, reclaims, forecast; the stream's difference equals the recount's sums; the window read back."""
from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from chalicelib.domain import cockpit, ownership
from chalicelib.domain.ownership import HolderRef, Holding
from chalicelib.domain.pipeline import DEFAULT
from chalicelib.domain.registration import new_registration
from schemas.common import Actor, PrincipalKind
from schemas.registration import AuditEntry, RegistrationCreate, RegistrationStatus as S, SalesStage, Source

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
REP = Actor(kind=PrincipalKind.USER, id="rita")
SYSTEM = Actor(kind=PrincipalKind.SYSTEM, id="system")


def _reg(*, stage="proposal", amount="1000.00", currency="CNY", close="2026-12-15", partner=None, team="north"):
    payload = RegistrationCreate.model_validate({
        "customer": {"name": "甲公司"}, "contacts": [{"name": "张三", "role": "decision_maker"}],
        "project": {"title": "云平台", "expected_close_date": close,
                    "expected_amount": {"amount": amount, "currency": currency}}, "sales_stage": stage})
    reg = new_registration(payload, reg_id="reg_1", source=Source.PARTNER if partner else Source.REP,
                           submitter=REP, team_id=team, now=T0)
    return reg.model_copy(update={"partner_id": partner})


def _line(reg, action, at, *, frm=None, to=None, reason=None):
    entry = AuditEntry(seq=len(reg.audit) + 1, at=at, actor=SYSTEM, action=action, from_status=frm, to_status=to,
                       reason=reason)
    return reg.model_copy(update={"audit": [*reg.audit, entry], "status": to or reg.status})


def _cells(reg, part=cockpit.ALL):
    return {cell: (count, cents) for p, cell, count, cents in cockpit.contribution(reg) if p == part}


def test_stays_review_then_stages_by_their_moves_and_the_close():
    reg = _reg()
    reg = _line(reg, "status_changed", T0 + timedelta(hours=1), frm=S.SUBMITTED, to=S.PENDING_REVIEW)
    reg = _line(reg, "status_changed", T0 + timedelta(days=2, hours=1), frm=S.PENDING_REVIEW, to=S.APPROVED)
    reg = _line(reg, "stage_changed", T0 + timedelta(days=6, hours=1), reason="proposal -> negotiation: 报价已确认")
    reg = _line(reg, "status_changed", T0 + timedelta(days=16, hours=1), frm=S.APPROVED, to=S.WON)
    assert cockpit.stays(reg.audit) == [("review", 2 * 86400), ("proposal", 4 * 86400), ("negotiation", 10 * 86400)]
    cells = _cells(reg)
    assert cells["dwell#review#1"] == (1, 2 * 86400)  # 2 days: the bucket "<= 2 days"
    assert cells["dwell#proposal#3"] == (1, 4 * 86400)  # <= 5 days
    assert cells["dwell#negotiation#5"] == (1, 10 * 86400)  # <= 10 days
    assert cells["reach#2026-11-02#approved"] == (1, 0) and cells["reach#2026-11-02#won"] == (1, 0)
    assert "reach#2026-11-02#lost" not in cells
    assert not any(c.startswith("forecast#") for c in cells)  # won: no longer open


def test_a_close_without_a_stage_move_ends_the_stay_of_the_stage_it_closed_in():
    reg = _reg(close="2027-01-20", amount="250.50", stage="negotiation")
    reg = _line(reg, "status_changed", T0, frm=S.SUBMITTED, to=S.PENDING_REVIEW)
    reg = _line(reg, "status_changed", T0 + timedelta(hours=5), frm=S.PENDING_REVIEW, to=S.APPROVED)
    cells = _cells(reg)
    assert cells["forecast#2027-01#negotiation#CNY"] == (1, 25050)
    assert cells["new#2026-11-02"] == (1, 0)
    # The close line as domain.ownership.close writes it: it names the stage the deal closed in.
    h = Holding(reg_id=reg.id, status=S.APPROVED, version=3, last_seq=reg.audit[-1].seq,
                owner=HolderRef("user", "rita"), sales_stage="negotiation")
    line = ownership.close(h, S.LOST, actor=REP, now=T0 + timedelta(days=3, hours=5), reason="budget cut").audit[0]
    assert line.stage == "negotiation"
    lost = reg.model_copy(update={"audit": [*reg.audit, line], "status": S.LOST,
                                  "sales_stage": SalesStage.CLOSED_LOST})  # the close overwrites the stage
    assert cockpit.stays(lost.audit) == [("review", 5 * 3600), ("negotiation", 3 * 86400)]
    cells = _cells(lost)
    assert cells["dwell#negotiation#2"] == (1, 3 * 86400)  # <= 3 days
    assert not any(c.startswith("forecast#") for c in cells)


def test_a_close_after_moves_ends_the_last_stage_once_and_old_close_lines_still_count_by_the_moves():
    reg = _reg()
    reg = _line(reg, "status_changed", T0, frm=S.SUBMITTED, to=S.PENDING_REVIEW)
    reg = _line(reg, "status_changed", T0 + timedelta(days=1), frm=S.PENDING_REVIEW, to=S.APPROVED)
    reg = _line(reg, "stage_changed", T0 + timedelta(days=2), reason="proposal -> negotiation")
    closed = _line(reg, "won", T0 + timedelta(days=4), frm=S.APPROVED, to=S.WON)
    named = closed.audit[-1].model_copy(update={"stage": "negotiation"})
    for audit in (closed.audit, [*closed.audit[:-1], named]):  # a line before the fix names no stage
        assert cockpit.stays(audit) == [("review", 86400), ("proposal", 86400), ("negotiation", 2 * 86400)]


def test_conflict_reclaim_and_partner_cells_in_team_and_all_partitions():
    reg = _reg(partner="acme", team="south")
    reg = _line(reg, "status_changed", T0 + timedelta(days=8), frm=S.SUBMITTED, to=S.PENDING_REVIEW,
                reason="dedup: " + cockpit.CONFLICT_MARK)
    reg = _line(reg, "checked", T0 + timedelta(days=9), reason="dedup: " + cockpit.CONFLICT_MARK)  # counted once
    reg = _line(reg, "status_changed", T0 + timedelta(days=10), frm=S.PENDING_REVIEW, to=S.APPROVED)
    reg = _line(reg, "reclaimed", T0 + timedelta(days=40), frm=S.APPROVED, to=S.RECLAIMED)
    for part in (cockpit.ALL, cockpit.team_partition("south")):
        cells = _cells(reg, part)
        assert cells["conflict#2026-11-09"] == (1, 0)
        assert cells["reclaimed#2026-12-07"] == (1, 0)
        assert cells["partner#acme#submitted"] == (1, 0) and cells["partner#acme#approved"] == (1, 0)
        assert "partner#acme#won" not in cells


def test_deltas_of_each_step_add_up_to_the_final_contribution():
    steps = [_reg()]
    steps.append(_line(steps[-1], "status_changed", T0 + timedelta(hours=1), frm=S.SUBMITTED, to=S.PENDING_REVIEW))
    steps.append(_line(steps[-1], "status_changed", T0 + timedelta(days=1), frm=S.PENDING_REVIEW, to=S.APPROVED))
    moved = _line(steps[-1], "stage_changed", T0 + timedelta(days=3), reason="proposal -> negotiation")
    steps.append(moved.model_copy(update={"sales_stage": SalesStage.NEGOTIATION}))
    steps.append(_line(steps[-1], "status_changed", T0 + timedelta(days=30), frm=S.APPROVED, to=S.WON)
                 .model_copy(update={"sales_stage": SalesStage.CLOSED_WON}))
    total: dict = defaultdict(lambda: [0, 0])
    for old, new in zip([None, *steps], steps, strict=False):
        for part, cell, count, cents in cockpit.deltas(old, new):
            total[(part, cell)][0] += count
            total[(part, cell)][1] += cents
    expected = {(p, c): [n, m] for p, c, n, m in cockpit.contribution(steps[-1])}
    assert {k: v for k, v in total.items() if v != [0, 0]} == expected
    assert cockpit.deltas(steps[-1], steps[-1]) == []


def test_figures_read_back_over_the_window():
    window = cockpit.Window(today=date(2026, 11, 18), weeks=3, months=2)
    assert window.week_starts == ["2026-11-02", "2026-11-09", "2026-11-16"]
    assert window.days[0] == "2026-11-02" and window.days[-1] == "2026-11-18" and len(window.days) == 17
    assert window.month_keys == ["2026-11", "2026-12"]
    cells = [("new#2026-11-02", 3, 0), ("new#2026-11-10", 2, 0), ("new#2026-10-30", 9, 0),  # outside: ignored
             ("reach#2026-11-02#approved", 2, 0), ("reach#2026-11-02#won", 1, 0), ("reach#2026-11-09#lost", 1, 0),
             ("conflict#2026-11-09", 1, 0), ("reclaimed#2026-11-16", 4, 0),
             ("dwell#review#0", 9, 9 * 3600), ("dwell#review#2", 1, 3 * 86400),
             ("dwell#proposal#6", 2, 2 * 12 * 86400),
             ("forecast#2026-12#proposal#CNY", 2, 100000), ("forecast#2026-12#lead#CNY", 1, 10000),
             ("partner#acme#submitted", 5, 0), ("partner#beta#submitted", 7, 0), ("partner#beta#won", 1, 0)]
    got = cockpit.figures(cells, window, [(s.key.value, s.probability) for s in DEFAULT.stages])
    assert [d["new"] for d in got["days"][:9]] == [3, 0, 0, 0, 0, 0, 0, 0, 2]
    assert [w["new"] for w in got["weeks"]] == [3, 2, 0]
    assert got["weeks"][2]["reclaimed"] == 4 and got["weeks"][1]["conflict"] == 1
    conv = got["conversion"]
    assert (conv["submitted"], conv["approved"], conv["won"], conv["lost"]) == (5, 2, 1, 1)
    assert conv["approval_rate"] == Decimal("0.4") and conv["win_rate"] == Decimal("0.5")
    stages = {r["stage"]: r for r in got["stages"]}
    assert stages["review"]["stays"] == 10 and stages["review"]["p90_days"] == 1.0  # 9 of 10 within a day
    assert stages["proposal"]["avg_days"] == Decimal("12.0") and stages["proposal"]["p90_days"] == 14.0
    assert got["bottleneck"] == "proposal"
    assert got["forecast"][0] == {"month": "2026-11", "overdue": False, "amounts": [], "weighted": []}
    assert got["forecast"][1]["amounts"] == [("CNY", 110000)]
    assert got["forecast"][1]["weighted"] == [("CNY", 60000 + 500)]  # 1000 x 0.6 + 100 x 0.05
    assert [p["partner_id"] for p in got["top_partners"]] == ["beta", "acme"]


def test_the_read_ranges_do_not_depend_on_the_data():
    window = cockpit.Window(today=date(2026, 12, 31), weeks=12, months=6)
    ranges = window.ranges()
    assert len(ranges) == 7 and all(lo <= hi for lo, hi in ranges)
    assert window.month_keys[-1] == "2027-05"


def test_the_forecast_shows_past_months_of_open_deals_as_overdue():
    window = cockpit.Window(today=date(2027, 1, 10), weeks=1, months=2, past_months=3)
    assert window.month_keys == ["2026-10", "2026-11", "2026-12", "2027-01", "2027-02"]  # across the year
    assert window.ranges()[5] == ("forecast#2026-10", "forecast#2027-02#~")
    cells = [("forecast#2026-09#proposal#CNY", 1, 500),  # before the window: not read back
             ("forecast#2026-11#proposal#CNY", 2, 100000), ("forecast#2027-01#lead#USD", 1, 20000)]
    got = cockpit.figures(cells, window, [(s.key.value, s.probability) for s in DEFAULT.stages])
    assert [(f["month"], f["overdue"]) for f in got["forecast"]] == [
        ("2026-10", True), ("2026-11", True), ("2026-12", True), ("2027-01", False), ("2027-02", False)]
    assert got["forecast"][1]["amounts"] == [("CNY", 100000)] and got["forecast"][1]["weighted"] == [("CNY", 60000)]
    assert got["forecast"][3]["amounts"] == [("USD", 20000)]
    assert all(not f["amounts"] for f in got["forecast"] if f["month"] == "2026-09")
    # an approved deal whose expected close is in a past month is counted in that month: open, so overdue
    reg = _reg(close="2026-11-20")
    reg = _line(reg, "status_changed", T0, frm=S.SUBMITTED, to=S.PENDING_REVIEW)
    reg = _line(reg, "status_changed", T0 + timedelta(hours=1), frm=S.PENDING_REVIEW, to=S.APPROVED)
    assert _cells(reg)["forecast#2026-11#proposal#CNY"] == (1, 100000)
