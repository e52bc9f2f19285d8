"""Over-limit reclaim order (issue 19): the lowest scores are taken back first, then the least active."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from chalicelib.domain import ownership as dom
from tests.unit.domain.test_ownership import T0, held_by_wang


def test_over_limit_takes_the_lowest_scores_first():
    base = held_by_wang(T0)
    held = [replace(base, reg_id=f"reg_{i}", timers=replace(base.timers, last_activity_at=T0 + timedelta(days=i)))
            for i in (3, 1, 4, 2)]
    scores = {"reg_3": 0.1, "reg_1": 0.9, "reg_4": 0.2, "reg_2": 0.9}
    out = dom.over_limit_excess(held, dom.Limit("role:rep", 2), scores)
    assert [h.reg_id for h in out] == ["reg_3", "reg_4"]  # without scores: reg_1, reg_2 (least active)
    tie = dom.over_limit_excess(held, dom.Limit("role:rep", 3), {k: 0.5 for k in scores})
    assert [h.reg_id for h in tie] == ["reg_1"]  # equal scores: least recently active first
