"""The pool (公海): which reclaimed registrations a pool listing shows. Pure.

A listing's filters: ``region`` (a prefix of the customer's region, e.g. 广东 matches 广东省深圳市, or a country
code), ``industry`` (case-insensitive), ``min_amount`` / ``max_amount`` (inclusive, in ``currency``: an
amount in another currency never matches a range) and ``since`` (in the pool since then: its last change).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class PoolFilter:
    region: str | None = None
    industry: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    currency: str | None = None
    since: datetime | None = None


def matches(reg, f: PoolFilter) -> bool:
    """True when ``reg`` (schemas.registration.Registration, in the pool) passes every filter given."""
    c = reg.customer
    if f.region and not ((c.region or "").startswith(f.region) or (c.country or "") == f.region):
        return False
    if f.industry and (c.industry or "").casefold() != f.industry.casefold():
        return False
    money = reg.project.expected_amount
    if f.min_amount is not None or f.max_amount is not None:
        if f.currency and money.currency != f.currency:
            return False
        if f.min_amount is not None and money.amount < f.min_amount:
            return False
        if f.max_amount is not None and money.amount > f.max_amount:
            return False
    if f.since is not None and reg.updated_at < f.since:
        return False
    return True
