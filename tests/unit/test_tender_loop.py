"""Issue 17 item 9: polling and backfill share one fetch -> parse -> ingest loop (services/tenders.py)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "functions/chalicelib/services/tenders.py"


def _calls(fn: ast.FunctionDef) -> set[str]:
    return {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            for n in ast.walk(fn) if isinstance(n, ast.Call)}


def test_poll_and_backfill_go_through_the_one_loop():
    tree = {n.name: n for n in ast.parse(SERVICE.read_text(encoding="utf-8")).body if isinstance(n, ast.FunctionDef)}
    for caller in ("poll_source", "backfill_source"):
        calls = _calls(tree[caller])
        assert "fetch_and_ingest" in calls and "_connector" in calls, caller
        # fetching, parsing and storing happen only inside the loop
        assert not calls & {"fetch", "parse", "split_parsed", "ingest"}, caller
    assert {"fetch", "parse", "split_parsed", "ingest"} <= _calls(tree["fetch_and_ingest"])
