"""The console's pure parts: form <-> API body, error loc -> field, language negotiation, cookie signing."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.console import forms, i18n


def test_form_becomes_the_api_body_and_empty_fields_are_left_for_the_api_to_report():
    body = forms.to_body({"customer.name": "腾讯", "customer.registry_ids.0.scheme": "uscc",
                          "customer.registry_ids.0.value": "", "contacts.0.name": "王磊",
                          "contacts.0.email": "w@example.com", "project.products": "a, b，c",
                          "competitors": "Huawei", "project.expected_amount.amount": "1.00", "sales_stage": ""})
    assert body == {"customer": {"name": "腾讯", "registry_ids": []},
                    "contacts": [{"name": "王磊", "email": "w@example.com"}],
                    "project": {"products": ["a", "b", "c"], "expected_amount": {"amount": "1.00"}},
                    "competitors": [{"name": "Huawei"}]}


def test_a_stored_registration_round_trips_through_the_form():
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).resolve().parents[3] / "examples" / "opportunity.json").read_text())["data"]
    values = forms.from_registration(data)
    assert values["contacts.0.role"] == "decision_maker" and values["competitors"] == "Huawei"
    again = forms.to_body(values)
    assert again["customer"]["registry_ids"] == data["customer"]["registry_ids"]
    assert again["project"]["products"] == data["project"]["products"]


def test_error_locs_land_on_the_field_they_name_or_on_the_form():
    fields = [f for f, _ in forms.FIELDS]
    errors = [{"loc": "body.data.customer.name", "type": "missing"},
              {"loc": "body.data.contacts.0.email", "type": "string_pattern_mismatch"},
              {"loc": "body.data.project.products.3", "type": "string_too_long"},
              {"loc": "body.data.customer.registry_ids", "type": "too_long"},
              {"loc": "body.data", "type": "model_type"}]
    by_field, other = forms.field_errors(errors, "body.data.", fields)
    assert set(by_field) == {"customer.name", "contacts.0.email", "project.products", "customer.registry_ids.0.scheme"}
    assert other == [{"loc": "body.data", "type": "model_type"}]


@pytest.mark.parametrize("cookie,header,expected", [
    (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    (None, "zh-TW,zh;q=0.9", "zh-CN"),
    (None, "fr-FR, en;q=0.5, zh;q=0.7", "zh-CN"),
    (None, "", "zh-CN"),
    ("en", "zh-CN", "en"),
    ("xx", "en", "en"),
])
def test_language_from_cookie_then_accept_language_then_chinese(cookie, header, expected):
    assert i18n.negotiate(cookie, header) == expected


def test_every_message_has_both_languages():
    assert all(len(pair) == 2 and all(pair) for pair in i18n.MESSAGES.values())


def test_session_cookie_refuses_tampering_and_expiry(monkeypatch):
    from chalicelib.console import session

    monkeypatch.setattr(session, "signing_key", lambda: b"k" * 32)
    s = session.Session("drs_abc", int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()))
    value = session.cookie_value(s)
    now = datetime(2029, 1, 1, tzinfo=UTC)
    assert session.from_cookie(value, now=now) == s
    key, expires, mac = value.split(".")
    assert session.from_cookie(f"drs_abd.{expires}.{mac}", now=now) is None  # another key
    assert session.from_cookie(f"{key}.{int(expires) + 3600}.{mac}", now=now) is None  # a longer life
    assert session.from_cookie(value, now=datetime(2030, 1, 2, tzinfo=UTC)) is None  # expired
    assert session.from_cookie("garbage", now=now) is None
    assert s.csrf != session.Session("drs_other", s.expires).csrf and "drs_abc" not in s.csrf
