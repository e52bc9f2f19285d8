"""Company identifier validation: USCC, LEI, UK Companies House, Taiwan UBN, DUNS (schemas/identifiers.py).

Real identifiers come from the fixtures in tests/fixtures/company_ids/ (see SOURCES.md there). Cases that
the data does not contain are constructed in the test, with the arithmetic done here, independently of the
module, from the algorithm facts recorded in the fixture files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from schemas import identifiers
from schemas.common import RegistryId
from schemas.identifiers import (
    InvalidIdentifierError,
    normalise_identifier,
    validate,
    validate_duns,
    validate_gb_coh,
    validate_lei,
    validate_tw_ubn,
    validate_uscc,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "company_ids"


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


USCC = _load("uscc_cn_python-stdnum.json")
LEI = _load("lei_python-stdnum.json")
TW_DOC = _load("tw_ubn_python-stdnum.json")
TW_TESTS = _load("tw_ubn_python-stdnum_tests.json")
UK = _load("uk_companies_house_number_cases.json")
GLEIF = [_load(f"gleif/{p.name}") for p in sorted((FIXTURES / "gleif").glob("*.json"))]


def _reason(func: Any, *args: str) -> str:
    with pytest.raises(InvalidIdentifierError) as info:
        func(*args)
    return info.value.reason


def _full_width(text: str) -> str:
    # ASCII '!'..'~' map to U+FF01..U+FF5E; space maps to the ideographic space U+3000.
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# Independent reimplementation of the two USCC checks from the facts in the fixture file, used only to
# construct test cases that the real data cannot provide.
_ALPHABET = USCC["algorithm"]["alphabet"]
_WEIGHTS = USCC["algorithm"]["weights_pos1_17"]


def _gb32100_check(first17: str) -> str:
    total = sum(_ALPHABET.index(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _ALPHABET[(31 - total % 31) % 31]


def _gb11714_check(body8: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    return {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))


# --- USCC ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", USCC["valid"])
def test_uscc_real_codes_validate(code: str) -> None:
    assert validate_uscc(code) == code


def test_uscc_fixture_has_all_200_codes() -> None:
    # Guards the parametrisation above against an accidentally truncated fixture.
    assert len(USCC["valid"]) == 200


@pytest.mark.parametrize("case", USCC["valid_with_separators"], ids=lambda c: c["input"])
def test_uscc_with_separators(case: dict[str, str]) -> None:
    assert validate_uscc(case["input"]) == case["compact"]


# Upstream reason -> our reason. python-stdnum reports alphabet violations as InvalidFormat; we call
# them "character" (the issue asks for length / character / check digit).
USCC_INVALID_REASONS = {
    "12345": "length",
    "9111000060003IOZSV": "character",
    "91110000600037341N": "check_digit",
    # Upstream says InvalidFormat because it demands 8 leading digits. GB 32100-2015 allows letters in
    # position 1 (A = 中央军委改革和编制办公室, N = 农业, Y = 其他) and "A1" (军队事业单位) is a real
    # authority/type pair, so the structure is fine; the check character was computed for the leading
    # "9", which is why our validator rejects it as a check-digit failure.
    "A1110000600037341L": "check_digit",
}


@pytest.mark.parametrize("case", USCC["invalid"], ids=lambda c: c["value"])
def test_uscc_invalid_cases_fail_for_the_right_reason(case: dict[str, str]) -> None:
    assert _reason(validate_uscc, case["value"]) == USCC_INVALID_REASONS[case["value"]]


def test_uscc_invalid_reason_table_covers_the_data() -> None:
    assert set(USCC_INVALID_REASONS) == {c["value"] for c in USCC["invalid"]}


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "empty"),
        (" - . ", "empty"),
        ("91110000600037341", "length"),
        ("91110000600037341LL", "length"),
        ("91110000600037341*", "character"),
        # 'B' is in the 31-symbol alphabet but is no registering-authority code.
        ("B1110000600037341L", "format"),
        # Entity type 0 does not exist in any authority's table.
        ("90110000600037341L", "format"),
        # Positions 3-8 are the GB/T 2260 region code: digits only.
        ("911100A0600037341L", "format"),
    ],
)
def test_uscc_constructed_invalid_cases(code: str, reason: str) -> None:
    assert _reason(validate_uscc, code) == reason


def test_uscc_letter_authorities_accepted_when_checks_pass() -> None:
    # GIVEN a real code re-labelled as authority N (农业), type 2, with its check character recomputed
    first17 = "N2" + "110000600037341"
    code = first17 + _gb32100_check(first17)
    # THEN it is accepted: letters in position 1 are part of GB 32100, not a format error
    assert validate_uscc(code) == code


def test_uscc_org_code_check_is_enforced_separately() -> None:
    # GIVEN a real code, with a wrong GB 11714 check digit put into position 17, and then the GB 32100
    # check character in position 18 recomputed so that the outer mod-31 check passes
    valid = "91110000600037341L"
    body = valid[8:16]
    assert _gb11714_check(body) == valid[16]  # the embedded org code 60003734-1 is valid to start with
    wrong = "2" if valid[16] != "2" else "3"
    first17 = valid[:16] + wrong
    forged = first17 + _gb32100_check(first17)
    assert forged != valid
    # WHEN validated THEN only the embedded organisation-code check can catch it
    assert _reason(validate_uscc, forged) == "org_code_check"


def test_uscc_org_code_check_x_and_zero_digits() -> None:
    # The GB 11714 check digit may be 'X' (10) or '0' (11); codes in the fixture cover both forms.
    check_digits = {code[16] for code in USCC["valid"]}
    assert {"X", "0"} <= check_digits
    assert validate_uscc("9115220107837941X1") == "9115220107837941X1"


def test_uscc_outer_check_reported_before_org_code_check() -> None:
    # A code broken in both checks reports check_digit: the outer check covers all 17 characters.
    assert _reason(validate_uscc, "91110000600037342L") == "check_digit"


# --- LEI -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lei", LEI["valid"])
def test_lei_real_codes_validate(lei: str) -> None:
    assert validate_lei(lei) == lei


def test_lei_fixture_has_all_100_codes() -> None:
    assert len(LEI["valid"]) == 100


@pytest.mark.parametrize("case", LEI["invalid"], ids=lambda c: c["value"])
def test_lei_invalid_cases(case: dict[str, str]) -> None:
    # The data's only invalid LEI is an InvalidChecksum (A->X substitution).
    assert case["reason"].startswith("InvalidChecksum")
    assert _reason(validate_lei, case["value"]) == "check_digit"


def _gleif_leis(record: dict[str, Any]) -> list[str]:
    attributes = record["data"]["attributes"]
    return [attributes["lei"], attributes["registration"]["managingLou"]]


@pytest.mark.parametrize("lei", [lei for rec in GLEIF for lei in _gleif_leis(rec)])
def test_lei_from_gleif_records_validate(lei: str) -> None:
    # Both the entity's LEI and its managing LOU's LEI, from real GLEIF API responses (one LAPSED).
    assert validate_lei(lei) == lei


@pytest.mark.parametrize(
    ("lei", "reason"),
    [
        ("", "empty"),
        ("213800KUD8LAJWSQ9D1", "length"),
        ("213800KUD8LAJWSQ9D155", "length"),
        ("213800KUD8LAJWSQ9D1_", "character"),
        # 'ß' must not be upper-cased into "SS" and slip through as two valid characters.
        ("213800KUD8LAJWSQ9Dß5", "character"),
        # ISO 17442 check digits are numeric.
        ("213800KUD8LAJWSQ9DAB", "format"),
        # Every single-digit change of a valid LEI breaks MOD 97-10.
        ("213800KUD8LAJWSQ9D16", "check_digit"),
        ("313800KUD8LAJWSQ9D15", "check_digit"),
    ],
)
def test_lei_constructed_invalid_cases(lei: str, reason: str) -> None:
    assert _reason(validate_lei, lei) == reason


# --- UK Companies House ----------------------------------------------------------------------------


@pytest.mark.parametrize("number", UK["valid"])
def test_gb_coh_valid_cases(number: str) -> None:
    # Short numeric ones are left-padded: "7592231" -> "07592231".
    assert validate_gb_coh(number) == number.zfill(8)


UK_INVALID_REASONS = {
    "NI045": "length",  # data: too short (prefixed numbers are not padded: the prefix fixes the layout)
    "LP874892738923789724": "length",  # data: too long
    "BC098765": "format",  # data: unknown prefix; BC is not on the Companies House prefix list either
}


@pytest.mark.parametrize("case", [c for c in UK["invalid"] if c["value"] in UK_INVALID_REASONS],
                         ids=lambda c: c["value"])
def test_gb_coh_invalid_cases_fail_for_the_right_reason(case: dict[str, str]) -> None:
    assert _reason(validate_gb_coh, case["value"]) == UK_INVALID_REASONS[case["value"]]


def test_gb_coh_eight_digit_numbers_are_accepted_despite_upstream_rule() -> None:
    # The data marks "88887654" invalid "(this rule only)": gocardless allows at most 7 significant
    # digits (/^0?[0-9]{7}$/). England & Wales numbers passed 10,000,000 years ago, so 8 significant
    # digits are real company numbers; we deliberately accept them.
    (case,) = [c for c in UK["invalid"] if c["value"] not in UK_INVALID_REASONS]
    assert case["value"] == "88887654" and "this rule only" in case["reason"]
    assert validate_gb_coh(case["value"]) == "88887654"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("sc592231", "SC592231"),
        ("SC 592231", "SC592231"),
        ("1", "00000001"),
        ("R0000123", "R0000123"),  # official pre-partition NI prefix
        ("OE000123", "OE000123"),  # Register of Overseas Entities
        ("FC012345", "FC012345"),
        ("RS007123", "RS007123"),
        ("CE010135", "CE010135"),
    ],
)
def test_gb_coh_normalised_forms(number: str, expected: str) -> None:
    assert validate_gb_coh(number) == expected


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("", "empty"),
        ("123456789", "length"),  # digits are padded, never truncated
        ("SC59223", "length"),
        ("SC#92231", "character"),
        ("SC59223A", "format"),  # the 6 characters after a prefix are digits
        ("1C592231", "format"),  # a digit-letter mix is no prefix
        ("XX592231", "format"),
    ],
)
def test_gb_coh_constructed_invalid_cases(number: str, reason: str) -> None:
    assert _reason(validate_gb_coh, number) == reason


# --- Taiwan UBN ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ubn", TW_DOC["valid"] + TW_TESTS["valid_found_online"])
def test_tw_ubn_real_numbers_validate(ubn: str) -> None:
    assert validate_tw_ubn(ubn) == ubn


@pytest.mark.parametrize("ubn", TW_TESTS["valid_since_2023"])
def test_tw_ubn_divisor_five_rule_since_2023(ubn: str) -> None:
    # These sums are 5 or 14 (+1 via the 7th-digit rule, i.e. 15): valid only since the 2023-04-01
    # change of divisor from 10 to 5, e.g. "10000004": 1 + 4 = 5.
    assert validate_tw_ubn(ubn) == ubn


@pytest.mark.parametrize("case", TW_TESTS["valid_corner_cases"], ids=lambda c: c["input"])
def test_tw_ubn_corner_cases(case: dict[str, str]) -> None:
    assert validate_tw_ubn(case["input"]) == case["compact"]


TW_INVALID_REASONS = {
    "12345": "length",  # data: InvalidLength
    "00501502": "check_digit",  # data: InvalidChecksum
    "00277103": "check_digit",  # data: InvalidChecksum
    "FF277104": "character",  # data: InvalidFormat (letters in an all-digit number)
}


@pytest.mark.parametrize("case", TW_DOC["invalid"] + TW_TESTS["invalid"], ids=lambda c: c["value"])
def test_tw_ubn_invalid_cases_fail_for_the_right_reason(case: dict[str, str]) -> None:
    assert _reason(validate_tw_ubn, case["value"]) == TW_INVALID_REASONS[case["value"]]


def test_tw_ubn_seventh_digit_rule_needs_a_seven() -> None:
    # "10000073": 1 + (7*4=28 -> 2+8=10) + 3 = 14; valid only because the 7th digit is 7 (14 + 1 = 15).
    assert validate_tw_ubn("10000073") == "10000073"
    # "10000003": 1 + 3 = 4, also one short of a multiple of 5, but with no 7 in position 7.
    assert _reason(validate_tw_ubn, "10000003") == "check_digit"


# --- normalisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "typed", "expected"),
    [
        (validate_uscc, _full_width("91110000600037341L"), "91110000600037341L"),
        (validate_uscc, _full_width("91 110000 600037341l"), "91110000600037341L"),
        (validate_uscc, "9111\u30000000-6000.3734 1l", "91110000600037341L"),
        (validate_lei, _full_width("213800kud8lajwsq9d15"), "213800KUD8LAJWSQ9D15"),
        (validate_lei, "2138 00KU D8LA JWSQ 9D15", "213800KUD8LAJWSQ9D15"),
        (validate_gb_coh, _full_width("sc592231"), "SC592231"),
        (validate_tw_ubn, _full_width("0050 1503"), "00501503"),
        (validate_tw_ubn, "0050\u20131503", "00501503"),  # en dash from a word processor
        (validate_duns, "15-048-3782", "150483782"),
    ],
)
def test_full_width_spaced_and_lower_case_input(func: Any, typed: str, expected: str) -> None:
    assert func(typed) == expected


def test_normalise_identifier() -> None:
    assert normalise_identifier(" ９１ａ－Ｂ．c\u00a0d\t") == "91ABCD"


def test_normalise_leaves_non_ascii_letters_alone() -> None:
    # Non-ASCII letters stay visible so validators can reject them as "character".
    assert normalise_identifier("aßı") == "Aßı"


# --- dispatch, DUNS, other -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "value", "expected"),
    [
        ("uscc", "91110000600037341l", "91110000600037341L"),
        ("lei", "213800KUD8LAJWSQ9D15", "213800KUD8LAJWSQ9D15"),
        ("gb-coh", "7592231", "07592231"),
        ("tw-ubn", "00501503", "00501503"),
        ("duns", "150 483 782", "150483782"),
        # Unknown formats: only trimmed, since hyphens or dots may be meaningful there.
        ("other", "  ABC-12.3 ", "ABC-12.3"),
    ],
)
def test_validate_dispatches_by_scheme(scheme: str, value: str, expected: str) -> None:
    assert validate(scheme, value) == expected


@pytest.mark.parametrize(
    ("scheme", "value", "reason"),
    [
        ("duns", "15048378", "length"),
        ("duns", "15048378A", "character"),
        ("other", "   ", "empty"),
        ("tw-ubn", "00501502", "check_digit"),
    ],
)
def test_validate_reports_reasons(scheme: str, value: str, reason: str) -> None:
    assert _reason(validate, scheme, value) == reason


def test_validate_unknown_scheme_is_a_plain_value_error() -> None:
    with pytest.raises(ValueError, match="unknown identifier scheme") as info:
        validate("vat", "123")
    assert not isinstance(info.value, InvalidIdentifierError)


def test_error_message_names_the_reason_and_never_echoes_raw_input() -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        validate_lei("x" * 40 + "<script>")
    assert info.value.reason == "length"
    assert str(info.value).startswith("length: ")
    assert "<script>" not in str(info.value) and "x" * 40 not in str(info.value).lower()


def test_module_imports_only_the_standard_library() -> None:
    # Cold-start budget: the module must not pull in third-party packages.
    source = Path(identifiers.__file__).read_text(encoding="utf-8")
    imported = {line.split()[1].split(".")[0] for line in source.splitlines()
                if line.startswith(("import ", "from "))}
    assert imported <= {"__future__", "string", "unicodedata", "collections", "typing"}


# --- through the pydantic model --------------------------------------------------------------------


def test_registry_id_normalises_value() -> None:
    rid = RegistryId(scheme="uscc", value=_full_width("91110000600037341l"))
    assert rid.value == "91110000600037341L"


def test_registry_id_bad_uscc_is_a_value_error_with_reason() -> None:
    with pytest.raises(ValidationError) as info:
        RegistryId.model_validate({"scheme": "uscc", "value": "91110000600037341N"})
    (error,) = info.value.errors()
    assert error["type"] == "value_error"
    assert error["loc"] == ()
    assert "check_digit" in error["msg"]
    assert error["ctx"]["error"].reason == "check_digit"


class _Holder(BaseModel):
    # Stand-in for a payload with a list of ids (like registration's Customer), kept local so this test
    # does not depend on other fields of the registration contract.
    registry_ids: list[RegistryId]


def test_registry_id_error_loc_points_at_the_list_item() -> None:
    payload = {"registry_ids": [{"scheme": "lei", "value": "213800KUD8LAJWSQ9D15"},
                                {"scheme": "uscc", "value": "9111000060003IOZSV"}]}
    with pytest.raises(ValidationError) as info:
        _Holder.model_validate(payload)
    (error,) = info.value.errors()
    assert (error["loc"], error["type"]) == (("registry_ids", 1), "value_error")
    assert "character" in error["msg"]


@pytest.mark.parametrize(
    ("scheme", "value", "expected"),
    [("duns", "15-048-3782", "150483782"), ("other", "anything-goes", "anything-goes")],
)
def test_registry_id_other_schemes(scheme: str, value: str, expected: str) -> None:
    assert RegistryId(scheme=scheme, value=value).value == expected
