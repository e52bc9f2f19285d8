"""Exchange listing marks (``dedup_keys._listing_marks_removed``): compiled only for a name that could carry one
(issue 15 item 1: each pattern's Han range costs ~1 ms to compile on a cold dedup function), same result."""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

from chalicelib.domain import dedup_keys

ROOT = Path(__file__).resolve().parents[3]
MARKET = re.compile(dedup_keys._MARKET_MARKER)
SHARE = re.compile(dedup_keys._SHARE_CLASS)


def _both_patterns(text: str) -> str:
    """What name_forms did before: both patterns on every name."""
    return SHARE.sub("", MARKET.sub("", text, count=1), count=1)


def test_the_guards_let_through_every_first_and_last_character_a_mark_can_have():
    # the marker's alternatives start with * S X D N C, their case ignored as the pattern ignores it: every
    # code point the regex engine folds onto one of them (e.g. U+017F) must pass the guard
    first = re.compile(r"(?i:[*SXDNC])")
    folded = {chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF and first.fullmatch(chr(c))}
    assert "\u017f" in folded and folded <= dedup_keys._MARKET_MARKER_FIRST
    for c in folded:
        assert MARKET.match(f"{c}ST中") or MARKET.match(f"{c}中") or MARKET.match(f"{c}D中") or MARKET.match(
            f"{c}R中") or c == "*", hex(ord(c))
    # the share class is case-sensitive: A, B and their full-width forms, nothing else
    assert {c for c in dedup_keys._SHARE_CLASS_LAST if SHARE.search(f"中{c}")} == set("AB\uff21\uff22")


def test_marks_are_removed_as_before():
    names = ["ST西发", "*ST华通", "S*ST前锋", " sst华新", "\u017ft华通", "N马可波罗", "XD中国平安", "DR宁德", "C华电",
             "张裕Ａ", "粤高速B", "深桑达Ａ ", "深桑达 Ａ", "ABC", "Apple Inc B", "Sony", "Nokia", "CATL",
             "中国石油", "  ", "", "B", "STAR科技", "National Grid", "深圳市腾讯计算机系统有限公司"]
    with open(ROOT / "tests" / "fixtures" / "dedup" / "labelled_pairs.csv", encoding="utf-8") as f:
        for row in csv.reader(f):
            names.extend(row[:2])
    for name in names:
        assert dedup_keys._listing_marks_removed(name) == _both_patterns(name), name
    assert dedup_keys._listing_marks_removed("*ST华通") == "华通"
    assert dedup_keys._listing_marks_removed("张裕Ａ") == "张裕"


def test_a_han_name_compiles_neither_pattern():
    code = ("import re, sys\n"
            "from chalicelib.domain import dedup_keys\n"
            "dedup_keys.name_forms('杭州星辰网络信息技术有限公司')\n"
            "print(dedup_keys._compiled.cache_info().currsize)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "functions", capture_output=True, text=True,
                          env={"PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}", "PATH": ""}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"
