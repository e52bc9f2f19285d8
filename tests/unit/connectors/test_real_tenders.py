"""Real notices nobody here wrote (``../shared/corpora/real_tenders``), checked against goldens we wrote by
reading them (``tests/fixtures/real_tenders/golden.json``), and the rule that only opportunities alert.

The per-field table is ``bench/tender_fields.py``'s (the numbers in bench/RESULTS.md come from it).
"""
from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from tests.corpora import corpus


@pytest.fixture(scope="module")
def root():
    return corpus("real_tenders")


@pytest.fixture(scope="module")
def result(root):
    from bench.tender_fields import run

    return run(root)


def test_every_file_parses_without_crash_or_refusal(result) -> None:
    assert result["crashes"] == [] and result["refusals"] == []
    assert result["unscored_files"] == []  # every corpus file has goldens
    assert result["files"] >= 40 and result["tenders_parsed"] > 600


def test_each_field_is_right_in_at_least_98_percent_of_the_files_that_have_it(result) -> None:
    for field, (right, counted) in result["table"].items():
        assert counted >= 20, field
        assert right / counted >= 0.98, (field, [e for e in result["errors"] if f"] {field}:" in e])


def _all_tenders(root) -> list[Any]:
    from bench.tender_fields import golden, parse_file

    return [t for rel, spec in golden().items() for t in parse_file(root, rel, spec)]


class _Index:
    """Every subscription matches every tender: only the status can stop an alert."""

    def __init__(self) -> None:
        self.by_id = {"sub_all": SimpleNamespace(id="sub_all", rep_id="rep_1", delivery="immediate")}

    def __len__(self) -> int:
        return 1

    def match(self, prepared: Any) -> set[str]:
        return {"sub_all"}


def test_no_alert_is_ever_raised_for_a_closed_awarded_or_cancelled_process(root, monkeypatch) -> None:
    from chalicelib.services import tenders as handler
    from chalicelib.store import publisher, tenders as store
    from schemas.tender import ALERTABLE_STATUSES

    published: list[Any] = []
    monkeypatch.setattr(store, "alerts_published", lambda tender_id: None)
    monkeypatch.setattr(store, "create_alert", lambda *a, **k: True)
    monkeypatch.setattr(publisher, "publish", lambda events: published.extend(events))
    run = SimpleNamespace(index=_Index)
    now = datetime(2026, 12, 1, tzinfo=UTC)

    seen: dict[str, int] = {}
    for n, tender in enumerate(_all_tenders(root)):
        before = len(published)
        handler.alert(f"tnd_{n}", tender, now, run)
        alerted = len(published) - before
        seen[str(tender.status)] = seen.get(str(tender.status), 0) + 1
        if tender.status in ALERTABLE_STATUSES:
            assert alerted == 1, tender.source_id  # the rule does not silence opportunities
        else:
            assert alerted == 0, (tender.source_id, tender.status)
    # the corpus really holds both kinds: awards, closed and cancelled processes, and open/planned ones
    assert seen.get("award", 0) > 400 and seen.get("closed", 0) > 0 and seen.get("cancellation", 0) > 0
    assert seen.get("tender", 0) > 10 and seen.get("planning", 0) > 0
