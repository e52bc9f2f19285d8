"""RFM for customers (issue 19): recency, frequency and monetary value from won registrations, as quintile
scores 1–5 (5 best: most recent, most frequent, most money). Pure.

Each won registration counts once for its customer: recency = days since the latest win, frequency = number of
wins, monetary = the sum of the won amounts (the contracted amount of the ``won`` audit line, else the
expected amount). Amounts in different currencies are not converted: monetary quintiles are ranked among the
customers whose wins are in the same currency (a customer's currency is that of most of its won value).
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_WON_AT = re.compile(r"^won at (\d+(?:\.\d+)?) ([A-Z]{3})")


@dataclass(frozen=True)
class Win:
    customer_key: str
    at: datetime
    amount: Decimal
    currency: str


def win_of(reg: Any) -> Win:
    """The win a ``won`` registration records: when (its ``won`` audit line) and for how much."""
    at, amount, currency = reg.updated_at, reg.project.expected_amount.amount, reg.project.expected_amount.currency
    for entry in reg.audit:
        status = entry.to_status.value if hasattr(entry.to_status, "value") else entry.to_status
        if status == "won":
            at = entry.at
            m = _WON_AT.match(entry.reason or "")
            if m:
                with contextlib.suppress(InvalidOperation):
                    amount, currency = Decimal(m.group(1)), m.group(2)
    return Win(reg.customer_key, at, Decimal(amount), currency)


def raw_values(wins: Iterable[Win], *, now: datetime) -> dict[str, dict[str, Any]]:
    """customer key -> {recency_days, frequency, monetary, currency, last_won_at}."""
    by_customer: dict[str, list[Win]] = {}
    for w in wins:
        by_customer.setdefault(w.customer_key, []).append(w)
    out = {}
    for key, ws in by_customer.items():
        per_currency: dict[str, Decimal] = {}
        for w in ws:
            per_currency[w.currency] = per_currency.get(w.currency, Decimal(0)) + w.amount
        currency = max(per_currency.items(), key=lambda kv: (kv[1], kv[0]))[0]
        last = max(w.at for w in ws)
        out[key] = {"recency_days": max(0, (now - last).days), "frequency": len(ws),
                    "monetary": str(per_currency[currency]), "currency": currency, "last_won_at": last.isoformat()}
    return out


def cutpoints(values: Sequence[float]) -> list[float]:
    """The 20th, 40th, 60th and 80th percentiles (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return []
    return [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.2, 0.4, 0.6, 0.8)]


def quintile(value: float, cuts: Sequence[float], *, lower_is_better: bool = False) -> int:
    """1–5 against ``cuts`` (5 best); with no population yet, 3."""
    if not cuts:
        return 3
    rank = 1 + sum(1 for c in cuts if value > c)  # 1..5, higher value -> higher rank
    if lower_is_better:
        rank = 6 - (1 + sum(1 for c in cuts if value >= c))
    return rank


def all_cutpoints(table: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Cut points of every dimension over the customers of ``table`` (monetary per currency)."""
    money: dict[str, list[float]] = {}
    for v in table.values():
        money.setdefault(v["currency"], []).append(float(v["monetary"]))
    return {"recency_days": cutpoints([v["recency_days"] for v in table.values()]),
            "frequency": cutpoints([v["frequency"] for v in table.values()]),
            "monetary": {cur: cutpoints(vals) for cur, vals in money.items()},
            "customers": len(table)}


def scores(raw: Mapping[str, Any], cuts: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """{r, f, m (1–5), segment "R-F-M", the raw values}; recency is recounted to ``now`` when given."""
    recency = raw["recency_days"]
    if now is not None and raw.get("last_won_at"):
        recency = max(0, (now - datetime.fromisoformat(raw["last_won_at"])).days)
    r = quintile(recency, cuts.get("recency_days", []), lower_is_better=True)
    f = quintile(raw["frequency"], cuts.get("frequency", []))
    m = quintile(float(raw["monetary"]), cuts.get("monetary", {}).get(raw["currency"], []))
    return {"r": r, "f": f, "m": m, "segment": f"{r}{f}{m}", "recency_days": recency,
            "frequency": raw["frequency"], "monetary": raw["monetary"], "currency": raw["currency"]}
