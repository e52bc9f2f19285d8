"""One exponential back-off (issue 17 item 9): the helper's rule, and every retry in the tree uses it."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.domain import enrichment, notifications, tenders
from chalicelib.domain.backoff import backoff_seconds

ROOT = Path(__file__).resolve().parents[3]


def test_the_wait_doubles_from_the_base_up_to_the_cap():
    assert [backoff_seconds(n, base=30, cap=900) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert backoff_seconds(0, base=30, cap=900) == 30  # no try before the first: the base, never less
    assert backoff_seconds(10**6, base=1, cap=math.inf) == 2.0 ** 64  # a huge count cannot overflow


def test_retry_after_is_a_lower_bound_at_most_the_cap():
    assert backoff_seconds(1, base=30, cap=900, retry_after=120) == 120
    assert backoff_seconds(3, base=30, cap=900, retry_after=10) == 120  # asked for less: ours is longer
    assert backoff_seconds(1, base=30, cap=900, retry_after=86400) == 900


def test_equal_jitter_stays_between_half_and_the_whole_wait():
    rng = random.Random(7)
    waits = [backoff_seconds(3, base=30, cap=3600, jitter=rng) for _ in range(200)]
    assert all(60 <= w <= 120 for w in waits) and len(set(waits)) > 100


def test_the_callers_keep_their_rules():
    # enrichment: whole seconds from 30 s, 15 min at most, Retry-After rounded up
    assert [enrichment.backoff_seconds(a) for a in (1, 2, 6, 7)] == [30, 60, 900, 900]
    assert enrichment.backoff_seconds(1, retry_after=44.2) == 45
    # tender polling: the period doubled per failure (the first failure already doubles), a day at most
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert [tenders.next_due(now, 15, f) - now for f in (0, 1, 2)] == [timedelta(minutes=m) for m in (15, 30, 60)]
    assert tenders.next_due(now, 15, 40) - now == timedelta(hours=24)
    assert tenders.next_due(now, 1, 40) - now == timedelta(minutes=1024)  # at most ten doublings
    assert tenders.next_due(now, 15, 0, retry_after=7200) - now == timedelta(hours=2)
    # the outbox: equal jitter under the policy's ceiling, parked after the last attempt
    policy = notifications.RetryPolicy(max_attempts=5, base_seconds=30, cap_seconds=3600)
    assert 60 <= notifications.retry_delay(3, random.Random(1), policy) <= 120
    assert notifications.retry_delay(5, random.Random(1), policy) is None


@pytest.mark.parametrize("tree", ["functions/chalicelib", "connectors", "infra"])
def test_no_other_exponential_backoff_formula(tree):
    doubling = re.compile(r"\b2(\.0)?\s*\*\*\s*\(?\s*(max|min|attempt|failures|n\b|retries|tries)")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / tree).rglob("*.py") if "vendor" not in p.parts
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if doubling.search(line.split("#")[0]) and p.name != "backoff.py" and '``' not in line]
    assert found == []
