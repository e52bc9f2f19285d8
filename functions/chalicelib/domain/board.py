"""The pipeline board's figures as contributions of single registrations. Pure.

An approved registration contributes one to the count and its expected amount to the amount of its
(stage, currency) cell, in its team's partition and in the all-teams partition. A stream record changes the
figures by the difference between the new and the old image's contributions, so the board is kept exact
by additions alone, and a recount is the sum of all contributions.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from schemas.registration import Registration, RegistrationStatus

ALL = "board#all"


def team_partition(team_id: str | None) -> str:
    return f"board#team#{team_id or '-'}"


def cell(stage: str, currency: str) -> str:
    return f"{stage}#{currency}"


def contribution(reg: Registration | None) -> list[tuple[str, str, int, int]]:
    """``[(partition, cell, count, cents)]`` this registration adds to the board (nothing unless approved)."""
    if reg is None or reg.status is not RegistrationStatus.APPROVED:
        return []
    money = reg.project.expected_amount
    cents = int((Decimal(money.amount) * 100).to_integral_value())
    key = cell(reg.sales_stage.value, money.currency)
    return [(team_partition(reg.team_id), key, 1, cents), (ALL, key, 1, cents)]


def deltas(old: Registration | None, new: Registration | None) -> list[tuple[str, str, int, int]]:
    """What to add to each board (partition, cell) for a change from ``old`` to ``new``."""
    return deltas_of(contribution, old, new)


def deltas_of(contribution: Callable[[Registration | None], list[tuple[str, str, int, int]]],
              old: Registration | None, new: Registration | None) -> list[tuple[str, str, int, int]]:
    """What to add to each (partition, cell) of the figures ``contribution`` gives a registration, for a change
    from ``old`` to ``new`` (the board's and the cockpit's); empty when nothing moves."""
    total: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for sign, reg in ((-1, old), (1, new)):
        for part, key, count, cents in contribution(reg):
            total[(part, key)][0] += sign * count
            total[(part, key)][1] += sign * cents
    return [(p, k, c, m) for (p, k), (c, m) in sorted(total.items()) if c or m]


def sums(regs) -> dict[tuple[str, str], list[int]]:
    """Every (partition, cell) figure of a set of registrations: what a recount writes."""
    total: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for reg in regs:
        for part, key, count, cents in contribution(reg):
            total[(part, key)][0] += count
            total[(part, key)][1] += cents
    return dict(total)
