"""One strict input policy (issue 13 item 21): text, amounts, dates, duplicate keys, nesting."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from chalicelib.http import HttpError, json_depth, parse_json, validate
from schemas.registration import RegistrationCreate
from schemas.webhook import OpportunityRegistered

EXAMPLE = json.loads((Path(__file__).resolve().parents[3] / "examples" / "opportunity.json").read_text())


def _submit(mutate) -> RegistrationCreate:
    data = copy.deepcopy(EXAMPLE["data"])
    mutate(data)
    return validate(RegistrationCreate, parse_json(json.dumps(data, ensure_ascii=False)))


def _refused(mutate) -> list[dict]:
    with pytest.raises(HttpError) as err:
        _submit(mutate)
    assert err.value.status == 422
    return err.value.errors


def _name(value):
    return lambda d: d["customer"].__setitem__("name", value)


@pytest.mark.parametrize("name, kind", [
    ("腾讯\x00科技", "control_character"), ("腾讯\x1b[31m", "control_character"), ("\x85腾讯", "control_character"),
    ("腾讯\ud800", "control_character"), ("evil\u202egnp.exe", "bidi_control"), ("a\u2066b", "bidi_control"),
    ("\u200f腾讯", "bidi_control"),
])
def test_controls_and_bidi_overrides_are_refused_with_the_field_path(name, kind):
    assert _refused(_name(name)) == [{"loc": "body.customer.name", "type": kind}]


@pytest.mark.parametrize("sent, stored", [
    ("腾\u200b讯", "腾讯"), ("\ufeff腾讯", "腾讯"), ("腾\u2060讯\u00ad", "腾讯"), ("腾\u200d讯", "腾讯"),
    ("深圳市腾讯计算机系统有限公司", "深圳市腾讯计算机系统有限公司"),  # CJK untouched
    ("Cafe\u0301 Mu\u0308ller", "Cafe\u0301 Mu\u0308ller"),  # combining marks kept as sent
    ("ﾃｽﾄ（株）", "ﾃｽﾄ（株）"), ("شرکت\u200cها", "شرکت\u200cها"),  # a Persian ZWNJ between letters is spelling
])
def test_invisible_characters_are_stripped_and_real_text_is_kept(sent, stored):
    assert _submit(_name(sent)).customer.name == stored


def test_a_name_of_only_invisible_characters_is_too_short():
    assert _refused(_name(" \u200b\ufeff "))[0]["loc"] == "body.customer.name"


def test_a_long_text_keeps_line_breaks_but_not_other_controls():
    ok = _submit(lambda d: d["project"].__setitem__("background", "第一行\n第二行\tend"))
    assert ok.project.background == "第一行\n第二行\tend"
    assert _refused(lambda d: d["project"].__setitem__("background", "a\x07b"))[0]["type"] == "control_character"


def _amount(value):
    return lambda d: d["project"]["expected_amount"].__setitem__("amount", value)


@pytest.mark.parametrize("amount", ["１００", "١٠٠", "1_000", "-0", "+5", " 5", "1e3", "5.", ".5", "1.234", "", "NaN",
                                    "00", "1,000", True])
def test_amounts_in_any_other_syntax_are_refused(amount):
    assert _refused(_amount(amount)) == [{"loc": "body.project.expected_amount.amount", "type": "decimal_syntax"}]


def test_amount_numbers_with_an_exponent_are_refused_not_rounded_to_zero():
    data = copy.deepcopy(EXAMPLE["data"])
    text = json.dumps(data).replace('"amount": "3800000.00"', '"amount": 1e-400')
    assert "1e-400" in text
    with pytest.raises(HttpError) as err:
        validate(RegistrationCreate, parse_json(text))
    assert err.value.errors[0]["type"] == "decimal_syntax"


@pytest.mark.parametrize("amount, expected", [("0", "0.00"), ("1200", "1200.00"), ("1200.5", "1200.50"),
                                              ("0.01", "0.01"), (1200, "1200.00"), (12.5, "12.50")])
def test_plain_decimals_are_read_exactly(amount, expected):
    # exactly, at one scale (cents), however they were written
    assert str(_submit(_amount(amount)).project.expected_amount.amount) == expected


@pytest.mark.parametrize("day, kind", [("0001-01-01", "date_range"), ("9999-12-31", "date_range"),
                                       ("1999-12-31", "date_range"), (0, "iso_format"), (1_900_000_000, "iso_format")])
def test_close_dates_outside_a_sane_range_or_not_iso_text_are_refused(day, kind):
    errors = _refused(lambda d: d["project"].__setitem__("expected_close_date", day))
    assert errors == [{"loc": "body.project.expected_close_date", "type": kind}]


def test_the_envelope_timestamp_is_iso_text_in_range():
    body = copy.deepcopy(EXAMPLE)
    for stamp, kind in ((0, "iso_format"), ("0001-01-01T00:00:00Z", "date_range")):
        body["timestamp"] = stamp
        with pytest.raises(HttpError) as err:
            validate(OpportunityRegistered, parse_json(json.dumps(body)))
        assert err.value.errors == [{"loc": "body.timestamp", "type": kind}]


def test_duplicate_keys_at_any_depth_are_refused():
    for text in ('{"a": 1, "a": 2}', '{"x": {"y": [{"k": 1, "k": 1}]}}'):
        with pytest.raises(HttpError) as err:
            parse_json(text)
        assert (err.value.status, err.value.code) == (400, "json_duplicate_key")


def test_nesting_is_bounded_and_brackets_inside_strings_do_not_count():
    assert json_depth(parse_json('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [1, {"c": "\\"]"}]}')) == 3
    assert (json_depth(1), json_depth([]), json_depth({"a": [[], {}]})) == (0, 1, 3)
    with pytest.raises(HttpError) as err:
        parse_json("[" * 33 + "]" * 33)
    assert err.value.code == "json_too_deep"
    assert parse_json("[" * 32 + "]" * 32) is not None
    for deep in ("[" * 5000 + "]" * 5000, '{"a": ' * 5000 + "1" + "}" * 5000, "[" * 5000):  # the parser gives up
        with pytest.raises(HttpError) as err:
            parse_json(deep)
        assert err.value.code == "json_too_deep"


def test_nan_and_infinity_are_not_json():
    for text in ('{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'):
        with pytest.raises(HttpError) as err:
            parse_json(text)
        assert err.value.code == "json_invalid"
