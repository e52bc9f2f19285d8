"""Pure rules for stored tenders: linking ids, merging sightings, backoff, source configuration."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chalicelib.domain.tenders import Change, link_keys, load_sources, merge, next_due, tender_id_for
from schemas.tender import Tender

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


# -- tender -> registration ------------------------------------------------------------------------------


def _extra(**data):
    from schemas.tender import TenderRegistrationRequest

    return TenderRegistrationRequest.model_validate(data)


CONTACT = {"name": "Ann Lee", "role": "decision_maker"}


def test_registration_is_prefilled_from_the_tender() -> None:
    from chalicelib.domain.tenders import registration_from_tender

    t = tender(title="Cycle lanes", buyer={"name": "London Borough of Barnet", "id": "09506232", "scheme": "GB-COH"},
               value=Decimal("1100000.555"), currency="GBP", deadline=datetime(2024, 6, 30, 17, tzinfo=UTC),
               country="GB", region="UKI", url="https://notices.example/1")
    payload, missing = registration_from_tender("tnd_1", t, _extra(contacts=[CONTACT]))
    assert missing == []
    assert payload.customer.name == "London Borough of Barnet" and payload.customer.region == "UKI"
    assert [(str(r.scheme), r.value) for r in payload.customer.registry_ids] == [("gb-coh", "09506232")]
    assert payload.project.title == "Cycle lanes" and payload.project.expected_close_date.isoformat() == "2024-06-30"
    assert payload.project.expected_amount.amount == Decimal("1100000.56")  # to the cent, half up
    assert payload.external_ref == "tender:tnd_1" and "https://notices.example/1" in payload.project.background
    # the rep's values win over the tender's
    payload, _ = registration_from_tender("tnd_1", t, _extra(
        contacts=[CONTACT], expected_amount={"amount": "5", "currency": "EUR"}, expected_close_date="2025-01-01"))
    assert (payload.project.expected_amount.currency, str(payload.project.expected_close_date)) == ("EUR", "2025-01-01")


def test_buyer_ids_unknown_schemes_kept_invalid_ones_dropped() -> None:
    from chalicelib.domain.tenders import buyer_registry_id
    from schemas.tender import Buyer

    assert buyer_registry_id(Buyer(name="x", id="3.76.48.97.88")).value == "3.76.48.97.88"
    other = buyer_registry_id(Buyer(name="x", id="12345", scheme="MD-IDNO"))
    assert (str(other.scheme), other.value) == ("other", "MD-IDNO:12345")
    assert buyer_registry_id(Buyer(name="x", id="123", scheme="CN-USCC")) is None  # fails the USCC check
    assert buyer_registry_id(Buyer(name="x")) is None


def test_registration_names_what_is_missing() -> None:
    from chalicelib.domain.tenders import registration_from_tender

    payload, missing = registration_from_tender("tnd_2", tender(value=Decimal(10)), _extra())
    assert payload is None
    assert [m["loc"] for m in missing] == ["body.contacts", "body.expected_amount", "body.expected_close_date",
                                           "body.customer"]  # a value without a currency is no amount
