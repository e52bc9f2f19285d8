"""``dealreg scoring eval FILE --mapping M`` end to end on a CSV we write here (issue 19)."""
from __future__ import annotations

import csv
import json
import random

import pytest

pytest.importorskip("lightgbm")


def test_eval_maps_columns_trains_and_prints_the_table(tmp_path, capsys):
    from infra.cli import main

    rng = random.Random(4)
    path = tmp_path / "deals.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(["Deal", "Outcome", "Area", "Value", "Stage days"])
        for i in range(2000):
            area = rng.choice(["北区", "南区", "东区"])
            value = rng.randint(1, 100) * 1000
            won = rng.random() < (0.6 if area == "南区" else 0.2) + (0.2 if value > 50000 else 0)
            w.writerow([f"D{i}", "Won" if won else "Lost", area, value, rng.randint(0, 90)])
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({
        "label": {"column": "Outcome", "won": ["Won"], "lost": ["Lost"]}, "group": "Deal",
        "fields": {"customer.region": {"column": "Area"}, "project.amount": {"column": "Value"},
                   "project.currency": {"value": "CNY"}}}), encoding="utf-8")
    out = tmp_path / "model.json"
    assert main(["scoring", "eval", str(path), "--mapping", str(mapping), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed.splitlines()[0])
    assert summary["rows"] == 2000 and summary["parity_max_diff"] == 0.0
    assert summary["holdout"]["auc"] > 0.65
    assert "| predicted | rows | mean predicted | observed win rate |" in printed
    doc = json.loads(out.read_text())
    assert [f["name"] for f in doc["features"]] == ["customer.region", "project.amount", "project.currency"]


def test_a_mapping_to_an_unknown_field_is_refused(tmp_path):
    from infra.cli import main

    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,Won\n", encoding="utf-8")
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"label": {"column": "b", "won": ["Won"]},
                                   "fields": {"customer.shoe_size": {"column": "a"}}}), encoding="utf-8")
    with pytest.raises(SystemExit, match="unknown fields"):
        main(["scoring", "eval", str(path), "--mapping", str(mapping)])
