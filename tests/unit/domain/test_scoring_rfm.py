"""RFM for customers (issue 19): values from won registrations, quintile scores 1–5."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace as NS

from chalicelib.domain import scoring_rfm as rfm

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_win_of_reads_the_contracted_amount_of_the_won_line():
    reg = NS(customer_key="k", updated_at=NOW, project=NS(expected_amount=NS(amount=Decimal("100"), currency="CNY")),
             audit=[NS(to_status="approved", at=NOW - timedelta(days=9), reason=None),
                    NS(to_status="won", at=NOW - timedelta(days=3), reason="won at 250000.00 CNY: signed")])
    assert rfm.win_of(reg) == rfm.Win("k", NOW - timedelta(days=3), Decimal("250000.00"), "CNY")
    reg.audit[-1].reason = None
    assert rfm.win_of(reg).amount == Decimal("100")


def test_quintiles_rank_recent_frequent_and_big_customers_highest():
    wins = []
    for i in range(10):  # customer c<i>: i+1 wins of 1000·(i+1) CNY, the latest i·10 days ago
        for n in range(i + 1):
            wins.append(rfm.Win(f"c{i}", NOW - timedelta(days=i * 10 + n), Decimal(1000 * (i + 1)), "CNY"))
    wins.append(rfm.Win("usd", NOW, Decimal(5), "USD"))
    table = rfm.raw_values(wins, now=NOW)
    assert table["c9"]["frequency"] == 10 and table["c9"]["recency_days"] == 90
    assert table["c9"]["monetary"] == str(Decimal(10000) * 10)
    cuts = rfm.all_cutpoints(table)
    best, worst = rfm.scores(table["c9"], cuts), rfm.scores(table["c0"], cuts)
    assert (best["f"], best["m"]) == (5, 5) and best["r"] == 1
    assert worst["r"] == 5 and worst["m"] == 1
    # a USD customer is ranked among USD customers only (here: alone)
    assert rfm.scores(table["usd"], cuts)["m"] == 1
    # recency is recounted to "now" at read time
    later = rfm.scores(table["c0"], cuts, now=NOW + timedelta(days=400))
    assert later["recency_days"] == 400 and later["r"] == 1


def test_no_population_scores_the_middle():
    assert rfm.quintile(7, []) == 3
    assert rfm.cutpoints([]) == []
