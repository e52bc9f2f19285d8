"""Cockpit page pieces (issue 18): SVG charts escape their labels and scale to the data; the CSV holds the
API's figures. Pure."""
from __future__ import annotations

import csv
import io
import re

from chalicelib.console import charts, cockpit


def test_bars_escape_labels_and_draw_one_rect_per_value():
    svg = charts.bars("新增 <script>", ["a&b", "c"], [("new", [3, 0]), ("won", [1, 2])])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg
    heights = [float(h) for h in re.findall(r'<rect class="s\d" [^>]*height="([\d.]+)"><title>', svg)]
    assert heights == [174.0, 58.0, 0.0, 116.0]  # a·new=3 (the top), a·won=1, c·new=0, c·won=2: to scale
    assert "<title>a&amp;b · new: 3</title>" in svg


def test_hbars_mark_a_row_and_show_missing_values_as_dash():
    svg = charts.hbars("stays", ["review", "proposal"], [("avg", [1.5, None])], mark=1)
    assert 'class="label mark"' in svg and svg.count('class="label mark"') == 1
    assert ">-</text>" in svg


BODY = {"today": "2026-12-06", "team": "north",
        "days": [{"day": "2026-12-06", "new": 2}],
        "weeks": [{"week": "2026-11-30", "new": 2, "approved": 1, "won": 0, "lost": 0, "conflict": 1, "reclaimed": 0}],
        "conversion": {"submitted": 2, "approved": 1, "won": 0, "lost": 0, "approval_rate": "0.5"},
        "stages": [{"stage": "review", "name_zh": "审批中", "name_en": "In review", "stays": 1, "avg_days": "2.0",
                    "p90_days": "2"}, {"stage": "lead", "name_zh": "线索", "name_en": "Lead", "stays": 0}],
        "bottleneck": "review",
        "forecast": [{"month": "2026-11", "overdue": True, "amounts": [{"amount": "4.00", "currency": "CNY"}],
                      "weighted": [{"amount": "2.40", "currency": "CNY"}]},
                     {"month": "2027-01", "amounts": [{"amount": "10.00", "currency": "CNY"}],
                      "weighted": [{"amount": "6.00", "currency": "CNY"}]}],
        "top_partners": [{"partner_id": "acme", "submitted": 2, "approved": 1, "won": 0}], "cells_read": 9}


def test_csv_has_every_section_and_null_as_empty():
    text = cockpit.to_csv(BODY, "zh-CN")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert ["conversion", "window", "approval_rate", "0.5"] in rows
    assert ["conversion", "window", "win_rate", ""] in rows  # left out by the API: null
    assert ["stage", "lead (线索)", "avg_days", ""] in rows
    assert ["forecast", "2027-01", "weighted CNY", "6.00"] in rows
    assert ["forecast", "2026-11", "overdue", "yes"] in rows and ["forecast", "2027-01", "overdue", "no"] in rows
    assert ["forecast", "2026-11", "amounts CNY", "4.00"] in rows
    assert ["partner", "acme", "submitted", "2"] in rows and ["week", "2026-11-30", "conflict", "1"] in rows


def test_view_names_the_bottleneck_in_the_page_language():
    v = cockpit.view(BODY, lambda k: k, "en")
    assert v["bottleneck_name"] == "In review" and v["currencies"] == ["CNY"]
    assert v["pct"]("0.5") == "50.0%" and v["pct"](None) == "-"
    assert len(v["svg"]["forecast"]) == 1 and v["svg"]["stages"].count('class="label mark"') == 1
    assert "26-11 ck_overdue" in v["svg"]["forecast"][0][1] and ">2027-01<" in v["svg"]["forecast"][0][1]
