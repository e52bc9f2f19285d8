"""Board cards (issue 18): days in stage from the audit, filters, protection countdown. Pure."""
from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.console import board

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _reg(i, **kw):
    audit = kw.pop("audit", [{"action": "status_changed", "to_status": "approved", "at": "2026-12-01T12:00:00Z"}])
    return {"id": f"reg_{i}", "status": "approved", "sales_stage": "proposal",
            "owner": {"kind": "user", "id": "rita"},
            "customer": {"name": f"客户{i}", "region": "广东省深圳市", "industry": "制造业"},
            "project": {"expected_amount": {"amount": "10.00", "currency": "CNY"}}, "audit": audit, **kw}


def test_days_in_stage_count_from_the_last_move_else_the_approval():
    moved = _reg(2, audit=[{"action": "status_changed", "to_status": "approved", "at": "2026-11-01T00:00:00Z"},
                           {"action": "stage_changed", "at": "2026-12-04T11:00:00Z"},
                           {"action": "followed_up", "at": "2026-12-05T00:00:00Z"}])
    rows = board.cards([_reg(1), moved, _reg(3, status="won")], {}, NOW)
    assert [(r["id"], r["days_in_stage"]) for r in rows] == [("reg_1", 5), ("reg_2", 2)]  # longest first; won left out


def test_filters_partner_owner_exact_region_industry_substring():
    regs = [_reg(1), _reg(2, owner={"kind": "user", "id": "ralph"}, partner_id="acme"), _reg(3, customer={"name": "x", "region": "北京市"})]
    ids = lambda f: [r["id"] for r in board.cards(regs, f, NOW)]  # noqa: E731
    assert ids({"owner": "ralph"}) == ["reg_2"]
    assert [r["owner"] for r in board.cards(regs, {}, NOW)][:2] == ["rita", "ralph"]
    assert ids({"partner": "acme"}) == ["reg_2"]
    assert ids({"region": "深圳"}) == ["reg_1", "reg_2"]
    assert ids({"industry": "制造"}) == ["reg_1", "reg_2"]
    assert ids({}) == ["reg_1", "reg_2", "reg_3"]


def test_protection_left_in_whole_days():
    assert board.protection_left("2026-12-16T13:00:00Z", NOW) == 10
    assert board.protection_left("2026-12-01T00:00:00Z", NOW) == 0
    assert board.protection_left(None, NOW) is None
