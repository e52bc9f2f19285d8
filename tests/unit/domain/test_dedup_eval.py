"""``dealreg dedup eval`` on the labelled sets (figures are reported, not asserted beyond the issue's bars)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from infra.cli import main as cli_main
from infra.dedup_eval import evaluate_pairs, read_labelled, read_pairs, script_class
from tests.corpora import corpus

OWN = Path(__file__).resolve().parents[2] / "fixtures" / "dedup" / "labelled_pairs.csv"  # ours
SHARED_PARTS = ("name_matching", "company_name_matcher_test_pairs.csv")  # third-party: the shared corpus


def test_own_set_shape_and_provenance():
    with open(OWN, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 200
    assert all(r["source"].strip() and r["label"] in ("0", "1") for r in rows)
    assert {script_class(r["name_a"]) for r in rows} == {"cjk", "latin"}
    pairs = {(r["name_a"], r["name_b"]) for r in rows}
    for hard in [("京东", "京东方"), ("中国石油", "中国石化"), ("General Motors Company", "General Mills Inc.")]:
        assert hard in pairs


def test_own_set_was_never_built_from_the_shared_evaluation_set():
    pairs = {(a, b) for a, b, _ in read_pairs(OWN)}
    shared = {(a, b) for a, b, _ in read_pairs(corpus(*SHARED_PARTS))}
    assert not pairs & shared


def test_issue_bar_on_own_set():
    own = evaluate_pairs(read_pairs(OWN))
    assert own.figures().f1 >= 0.90


def test_issue_bar_on_same_script_shared_pairs():
    shared = evaluate_pairs(read_pairs(corpus(*SHARED_PARTS))).figures(same_script=True)
    assert shared.precision >= 0.95 and shared.recall >= 0.80


def test_issue_bar_on_the_szse_short_name_pairs():
    # Issue 12 item 8: precision >= 0.97 and recall >= 0.80 overall on the exchange's name pairs (before the
    # abbreviation rules recall was 0.748), and no loss on the other two sets (guarded above).
    report = evaluate_pairs(read_labelled(corpus("name_matching", "szse_a_share_name_pairs.csv")))
    overall = report.figures()
    assert overall.precision >= 0.97 and overall.recall >= 0.80, overall.line("all")
    assert report.figures(kind="cjk full vs short").recall >= 0.90


def test_read_pairs_rejects_bad_rows(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\nx,y,maybe\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        read_pairs(bad)


def test_cli_prints_figures_and_misclassified_pairs(tmp_path, capsys):
    pairs = tmp_path / "p.csv"
    pairs.write_text("\ufeffn1,n2,label,extra\n京东,京东方,1,x\nApple Inc.,APPLE INC,1,y\nIBM,Oracle,0,z\n",
                     encoding="utf-8")
    assert cli_main(["dedup", "eval", str(pairs)]) == 0
    out = capsys.readouterr().out
    assert "precision 1.000  recall 0.500" in out and "FN  京东 | 京东方" in out
