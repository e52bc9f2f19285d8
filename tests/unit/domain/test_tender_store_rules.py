"""Pure rules for stored tenders: linking ids, merging sightings, backoff, source configuration."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas.tender import Tender

from chalicelib.domain.tenders import Change, link_keys, load_sources, merge, next_due, tender_id_for

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def tender(**data) -> Tender:
    return Tender.model_validate({"source": "a", "source_id": "1", "title": "Roads", "refs": ["ocds:x-1"], **data})


def test_ids_come_from_the_procedure_ref_so_sources_agree() -> None:
    a = tender(source="a", source_id="1")
    b = tender(source="b", source_id="zz")
    assert tender_id_for(a) == tender_id_for(b)
    assert link_keys(a) == ["src:a:1", "ocds:x-1"]
    assert tender_id_for(tender(refs=[])) != tender_id_for(a)


def test_merge_rules() -> None:
    first = tender(published=T0, deadline=T0 + timedelta(days=10), value=Decimal(5))
    assert merge(None, first) == (first, Change.NEW)
    assert merge(first, first)[1] is Change.UNCHANGED
    amended = tender(published=T0 + timedelta(days=1), status="amendment", deadline=T0 + timedelta(days=20))
    merged, change = merge(first, amended)
    assert change is Change.AMENDED and merged.deadline == T0 + timedelta(days=20)
    assert merged.value == Decimal(5)  # not stated by the amendment: kept
    older = tender(source="b", published=T0 - timedelta(days=1), title="Old title", currency="GBP")
    merged2, change2 = merge(first, older)
    assert change2 is Change.LINKED and merged2.title == "Roads" and merged2.currency == "GBP"  # gap filled
    cancelled, change3 = merge(first, tender(status="cancellation", refs=["ocds:x-1", "ted:9"]))
    assert change3 is Change.CANCELLED and cancelled.status == "cancellation" and "ted:9" in cancelled.refs
    # nothing un-cancels
    assert merge(cancelled, amended)[0].status == "cancellation"


def test_backoff_doubles_and_is_capped() -> None:
    assert next_due(T0, 15, 0) == T0 + timedelta(minutes=15)
    assert next_due(T0, 15, 2) == T0 + timedelta(minutes=60)
    assert next_due(T0, 15, 30) == T0 + timedelta(hours=24)
    assert next_due(T0, 15, 0, retry_after=3600) == T0 + timedelta(hours=1)


def test_load_sources_skips_broken_entries_and_keeps_the_rest() -> None:
    text = """[{"name": "ok", "connector": "tender_rss", "config": {"source": "ok", "feed_url": "https://x/f"}},
               {"name": "Bad Name", "connector": "tender_rss", "config": {}},
               {"name": "ok", "connector": "tender_rss", "config": {}},
               {"name": "reg", "connector": "gleif", "config": {}}]"""
    sources, problems = load_sources(text)
    assert [s.name for s in sources] == ["ok"]
    assert [p["type"] for p in problems] == ["string_pattern_mismatch", "duplicate_name", "value_error"]
    assert load_sources("{")[1] == [{"index": "-", "type": "json_invalid"}]
