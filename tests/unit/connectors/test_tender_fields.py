"""Field-level rules shared by the tender parsers (issue 16): amounts by locale and in Chinese forms, buyer
time zones, date-only deadlines, placeholder buyer ids, and the Chinese labelled-field extraction."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.formats.common import buyer_id, decimal_mark, parse_amount, parse_datetime, zone_for


@pytest.mark.parametrize(("text", "mark", "want"), [
    # decimal comma (continental Europe, Latin America)
    ("466459,56", None, "466459.56"),
    ("24.492,00", None, "24492.00"),
    ("1.234.567,89 EUR", None, "1234567.89"),
    ("1 234 567,89", None, "1234567.89"),
    ("1\u00a0234,5", None, "1234.5"),
    ("1.500", ",", "1500"),  # a Spanish notice: a point groups thousands
    ("10 000 000", ",", "10000000"),
    # decimal point
    ("171,181.81", None, "171181.81"),
    ("1,234,567", None, "1234567"),
    ("1,500", None, "1500"),
    ("1,500", ".", "1500"),
    ("1.500", None, "1.500"),  # machine format: a single point is decimal
    ("1.500", ".", "1.500"),
    ("12'345.50 CHF", None, "12345.50"),
    # Chinese forms
    ("￥10618.52 万元", None, "106185200"),
    ("10618.52万元", None, "106185200"),
    ("壹佰万元整", None, "1000000"),
    ("人民币叁佰伍拾万元整", None, "3500000"),
    ("一亿二千万元", None, "120000000"),
    ("叁元伍角陆分", None, "3.56"),
    ("1,234.5元", None, "1234.5"),
    ("１２３，４５６．７８元", None, "123456.78"),
    ("2.5亿元", None, "250000000"),
    ("5千元", None, "5000"),
    ("¥560,000.00元", None, "560000.00"),
])
def test_parse_amount(text: str, mark: str | None, want: str) -> None:
    assert parse_amount(text, decimal=mark) == Decimal(want)


@pytest.mark.parametrize("text", ["", "abc", "万元", "-5", "- 12,5", "详见招标文件", None, True])
def test_parse_amount_refuses_what_is_no_amount(text: object) -> None:
    assert parse_amount(text) is None


def test_decimal_mark_by_language() -> None:
    assert decimal_mark("es") == "," and decimal_mark("de-AT") == "," and decimal_mark("FRA") == ","
    assert decimal_mark("en") == "." and decimal_mark("zh-CN") == "." and decimal_mark(None) is None


def test_buyer_zone_rule() -> None:
    assert zone_for("GB") == "Europe/London" and zone_for("BG") == "Europe/Sofia"
    # a country with several zones: the capital's, unless the NUTS region lies elsewhere
    assert zone_for("ES") == "Europe/Madrid" and zone_for("ES", "ES703") == "Atlantic/Canary"
    assert zone_for("PT", "PT200") == "Atlantic/Azores" and zone_for("FR", "FRY5") == "Indian/Mayotte"
    assert zone_for("FR", "FR101") == "Europe/Paris" and zone_for(None) is None and zone_for("ZZ") is None


def test_zones_resolve_without_a_system_tz_database(monkeypatch) -> None:
    # Lambda images do not guarantee /usr/share/zoneinfo: the tzdata package (a runtime dependency) must be
    # enough on its own.
    import zoneinfo

    from connectors.formats import common

    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    common.zone.cache_clear()
    try:
        assert common.zone("Europe/London") is not UTC
        assert datetime(2016, 4, 29, 17, 0, tzinfo=common.zone("Europe/London")).utcoffset().total_seconds() == 3600
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()
        common.zone.cache_clear()


def test_local_deadlines_and_date_only_deadlines() -> None:
    # UK F21: "20160429 17:00" Local time = 17:00 BST = 16:00Z (Brussels would give 15:00Z)
    assert parse_datetime("20160429 17:00", tz="Europe/London") == datetime(2016, 4, 29, 16, 0, tzinfo=UTC)
    # a date without a time is the end of that day in the buyer's zone
    assert parse_datetime("20170529", tz="Europe/Prague", end_of_day=True) == datetime(2017, 5, 29, 21, 59, 59,
                                                                                       tzinfo=UTC)
    assert parse_datetime("2024-04-18+02:00", end_of_day=True) == datetime(2024, 4, 18, 21, 59, 59, tzinfo=UTC)
    assert parse_datetime("2026年12月10日", tz="Asia/Shanghai", end_of_day=True) == datetime(2026, 12, 10, 15, 59, 59,
                                                                                          tzinfo=UTC)
    # not a deadline: the start of the day, as before
    assert parse_datetime("2024-05-01", tz="UTC") == datetime(2024, 5, 1, tzinfo=UTC)
    # a time given is kept
    assert parse_datetime("2024-05-01T10:00:00Z", end_of_day=True) == datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("value", ["N/A", "n/a", "00", "0000", "DE", "es", "-", "—", " ", "NULL"])
def test_placeholder_buyer_ids_are_no_ids(value: str) -> None:
    assert buyer_id(value) is None


@pytest.mark.parametrize("value", ["44992785", "0201.741.786_22228", "DE811128135", "06E00", "2288666-6"])
def test_real_buyer_ids_are_kept(value: str) -> None:
    assert buyer_id(value) == value


def test_chinese_status_words() -> None:
    from connectors.formats.cn_notice import status_of

    assert status_of("示例项目中标（成交）结果公告") == "award"
    assert status_of("示例项目更正公告（第一次）") == "amendment"
    assert status_of("示例项目终止公告") == "cancellation"
    assert status_of("示例项目废标公告") == "closed"
    assert status_of("示例局2027年政府采购意向公开") == "planning"
    assert status_of("示例项目公开招标公告") is None


def test_chinese_extraction_reads_only_labelled_text() -> None:
    from connectors.formats.cn_notice import extract

    # prose that mentions a budget and a buyer without labels gives nothing
    assert extract("<p>本项目由示例局组织，预算约100万元，欢迎参加。</p>", title="示例公告") == {}
    # the end of document sale is not the bidding deadline
    found = extract("<p>获取招标文件截止时间：2026年12月01日 17:00</p><p>投标截止时间：2026年12月08日 09:30</p>",
                    title="示例公开招标公告")
    assert found["deadline"] == datetime(2026, 12, 8, 1, 30, tzinfo=UTC) and found["deadline_kind"] == "tender"
    # a source in another zone (Taiwan, Hong Kong portals) gives its own zone
    assert extract("投标截止时间：2026年12月08日 09:30", tz="Asia/Tokyo")["deadline"] == datetime(
        2026, 12, 8, 0, 30, tzinfo=UTC)


def test_chinese_golden_set_field_accuracy() -> None:
    from bench.cn_notice_fields import FIELDS, notices, score

    items = notices()
    assert len(items) >= 30 and len({n["style"] for n in items}) >= 10
    table, errors = score()
    for field in FIELDS:
        right, counted = table[field]
        assert counted > 0, field
        assert right / counted >= 0.95, (field, errors)
    holdout, _ = score("holdout")
    assert sum(c for _, c in holdout.values()) > 0
