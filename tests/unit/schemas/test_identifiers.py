"""Company identifier validation: USCC, LEI, UK Companies House, Taiwan UBN, DUNS (schemas/identifiers.py).

Real identifiers come from the shared third-party corpus (``company_ids/``, read through tests/corpora.py;
those tests are skipped without it). Everywhere, ``python-stdnum`` (a dev-only dependency) is the oracle:
generated USCC, LEI and UBN cases must get the same answer from it and from us. Cases neither provides are
constructed here, with the arithmetic done independently of the module from the published algorithms
(GB 32100-2015, GB 11714-1997).
"""

from __future__ import annotations

import json
import random
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
from tests.corpora import corpora_root, files, params

IDS = ("company_ids",)
FIXTURES = corpora_root() / "company_ids"
real = pytest.mark.corpus(*IDS)


def _load(name: str) -> dict[str, Any]:
    path = FIXTURES / name
    if not path.is_file():  # corpus absent: empty lists, and the tests marked `real` skip
        return {"valid": [], "invalid": [], "valid_with_separators": []}
    return json.loads(path.read_text(encoding="utf-8"))


USCC = _load("uscc_cn_python-stdnum.json")
LEI = _load("lei_python-stdnum.json")
TW_DOC = _load("tw_ubn_python-stdnum.json")
UK = _load("uk_companies_house_number_cases.json")
GLEIF = [_load(f"gleif/{name}") for name in files("company_ids", "gleif", suffixes=(".json",))]


def _reason(func: Any, *args: str) -> str:
    with pytest.raises(InvalidIdentifierError) as info:
        func(*args)
    return info.value.reason


def _full_width(text: str) -> str:
    # ASCII '!'..'~' map to U+FF01..U+FF5E; space maps to the ideographic space U+3000.
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# Independent reimplementation of the two USCC checks from GB 32100-2015 (31 symbols: digits and capitals
# without I, O, S, V, Z; weights 3^i mod 31) and GB 11714-1997, used only to construct test cases.
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def _gb32100_check(first17: str) -> str:
    total = sum(_ALPHABET.index(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _ALPHABET[(31 - total % 31) % 31]


def _gb11714_check(body8: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    return {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))


# --- USCC ------------------------------------------------------------------------------------------


@real
@pytest.mark.parametrize("code", params(USCC["valid"], *IDS))
def test_uscc_real_codes_validate(code: str) -> None:
    assert validate_uscc(code) == code


@real
def test_uscc_fixture_has_all_200_codes() -> None:
    # Guards the parametrisation above against an accidentally truncated fixture.
    assert len(USCC["valid"]) == 200


@real
@pytest.mark.parametrize("case", params(USCC["valid_with_separators"], *IDS), ids=lambda c: c["input"] if c else "absent")
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


@real
@pytest.mark.parametrize("case", params(USCC["invalid"], *IDS), ids=lambda c: c["value"] if c else "absent")
def test_uscc_invalid_cases_fail_for_the_right_reason(case: dict[str, str]) -> None:
    assert _reason(validate_uscc, case["value"]) == USCC_INVALID_REASONS[case["value"]]


@real
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


@real
def test_uscc_org_code_check_x_and_zero_digits() -> None:
    # The GB 11714 check digit may be 'X' (10) or '0' (11); codes in the fixture cover both forms.
    check_digits = {code[16] for code in USCC["valid"]}
    assert {"X", "0"} <= check_digits
    assert validate_uscc("9115220107837941X1") == "9115220107837941X1"


def test_uscc_outer_check_reported_before_org_code_check() -> None:
    # A code broken in both checks reports check_digit: the outer check covers all 17 characters.
    assert _reason(validate_uscc, "91110000600037342L") == "check_digit"


# --- LEI -------------------------------------------------------------------------------------------


@real
@pytest.mark.parametrize("lei", params(LEI["valid"], *IDS))
def test_lei_real_codes_validate(lei: str) -> None:
    assert validate_lei(lei) == lei


@real
def test_lei_fixture_has_all_100_codes() -> None:
    assert len(LEI["valid"]) == 100


@real
@pytest.mark.parametrize("case", params(LEI["invalid"], *IDS), ids=lambda c: c["value"] if c else "absent")
def test_lei_invalid_cases(case: dict[str, str]) -> None:
    # The data's only invalid LEI is an InvalidChecksum (A->X substitution).
    assert case["reason"].startswith("InvalidChecksum")
    assert _reason(validate_lei, case["value"]) == "check_digit"


def _gleif_leis(record: dict[str, Any]) -> list[str]:
    attributes = record["data"]["attributes"]
    return [attributes["lei"], attributes["registration"]["managingLou"]]


@real
@pytest.mark.parametrize("lei", params([lei for rec in GLEIF for lei in _gleif_leis(rec)], *IDS))
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


@real
@pytest.mark.parametrize("number", params(UK["valid"], *IDS))
def test_gb_coh_valid_cases(number: str) -> None:
    # Short numeric ones are left-padded: "7592231" -> "07592231".
    assert validate_gb_coh(number) == number.zfill(8)


UK_INVALID_REASONS = {
    "NI045": "length",  # data: too short (prefixed numbers are not padded: the prefix fixes the layout)
    "LP874892738923789724": "length",  # data: too long
    "BC098765": "format",  # data: unknown prefix; BC is not on the Companies House prefix list either
}


@real
@pytest.mark.parametrize("case", params([c for c in UK["invalid"] if c["value"] in UK_INVALID_REASONS], *IDS),
                         ids=lambda c: c["value"] if c else "absent")
def test_gb_coh_invalid_cases_fail_for_the_right_reason(case: dict[str, str]) -> None:
    assert _reason(validate_gb_coh, case["value"]) == UK_INVALID_REASONS[case["value"]]


@real
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


@real
@pytest.mark.parametrize("ubn", params(TW_DOC["valid"], *IDS))
def test_tw_ubn_real_numbers_validate(ubn: str) -> None:
    assert validate_tw_ubn(ubn) == ubn


@pytest.mark.parametrize("ubn", ["10000004", "10000010", "00000005", "10000052"])
def test_tw_ubn_divisor_five_rule_since_2023(ubn: str) -> None:
    # Digit sums of the weighted products that are 5 mod 10: valid only since the 2023-04-01 change of
    # divisor from 10 to 5 (e.g. "10000004": 1 + 4 = 5). python-stdnum 2.2 still applies the old divisor
    # (its checksum is 5 here, so it rejects them); the digit sum is its.
    from stdnum.tw import ubn as stdnum_ubn

    assert stdnum_ubn.calc_checksum(ubn) == 5 and not stdnum_ubn.is_valid(ubn)
    assert validate_tw_ubn(ubn) == ubn


@pytest.mark.parametrize(("typed", "compact"), [("04595257", "04595257"), (" 0459525-7 ", "04595257"),
                                                ("0459 5257", "04595257")])
def test_tw_ubn_corner_cases(typed: str, compact: str) -> None:
    assert validate_tw_ubn(typed) == compact


TW_INVALID_REASONS = {
    "12345": "length",  # data: InvalidLength
    "00501502": "check_digit",  # data: InvalidChecksum
}


@real
@pytest.mark.parametrize("case", params(TW_DOC["invalid"], *IDS), ids=lambda c: c["value"] if c else "absent")
def test_tw_ubn_invalid_cases_fail_for_the_right_reason(case: dict[str, str]) -> None:
    assert _reason(validate_tw_ubn, case["value"]) == TW_INVALID_REASONS[case["value"]]


@pytest.mark.parametrize(("ubn", "reason"), [("1234567", "length"), ("AB277104", "character"),
                                             ("04595258", "check_digit")])
def test_tw_ubn_constructed_invalid_cases(ubn: str, reason: str) -> None:
    assert _reason(validate_tw_ubn, ubn) == reason


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
    assert imported <= {"__future__", "operator", "string", "unicodedata", "collections", "typing"}


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


# --- python-stdnum as the oracle (runs everywhere) ---------------------------------------------------

_RNG_SEED = 20261206


def _ubn_cases() -> list[str]:
    rng = random.Random(_RNG_SEED)
    numbers = [f"{rng.randrange(10**8):08d}" for _ in range(150)]
    numbers += [f"{rng.randrange(10**6):06d}7{d}" for d in range(10)]  # the 7th-digit rule
    return numbers


@pytest.mark.parametrize("ubn", _ubn_cases())
def test_tw_ubn_agrees_with_stdnum(ubn: str) -> None:
    from stdnum.tw import ubn as stdnum_ubn

    ours = True
    try:
        validate_tw_ubn(ubn)
    except InvalidIdentifierError:
        ours = False
    # python-stdnum 2.2 applies the pre-2023 divisor 10; since 2023-04-01 the divisor is 5. Its weighted
    # digit sum (mod 10) is the oracle: valid now when it is 0 or 5 (or one short, with a 7 in position 7).
    checksum = stdnum_ubn.calc_checksum(ubn)
    assert ours == (checksum % 5 == 0 or (ubn[6] == "7" and (checksum + 1) % 5 == 0))
    if stdnum_ubn.is_valid(ubn):
        assert ours  # valid under the old rule: valid under the new one


def _uscc_cases() -> list[str]:
    from stdnum.cn import uscc as stdnum_uscc

    rng = random.Random(_RNG_SEED + 1)
    out = []
    for _ in range(60):
        org = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
        first17 = rng.choice("9159") + rng.choice("123") + f"{rng.randrange(110000, 660000):06d}" + org + _gb11714_check(org)
        out.append(first17 + stdnum_uscc.calc_check_digit(first17))
    return out


@pytest.mark.parametrize("code", _uscc_cases())
def test_uscc_generated_with_stdnum_validates_and_every_one_char_change_is_caught(code: str) -> None:
    from stdnum.cn import uscc as stdnum_uscc

    assert stdnum_uscc.is_valid(code)
    assert validate_uscc(code) == code
    rng = random.Random(code)
    for _ in range(5):
        i = rng.randrange(8, 18)
        changed = code[:i] + rng.choice([c for c in _ALPHABET if c != code[i]]) + code[i + 1 :]
        if not stdnum_uscc.is_valid(changed):  # the oracle rejects: so must we
            with pytest.raises(InvalidIdentifierError):
                validate_uscc(changed)


def _lei_cases() -> list[str]:
    from stdnum.iso7064 import mod_97_10

    rng = random.Random(_RNG_SEED + 2)
    out = []
    for _ in range(60):
        body = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(18))
        out.append(body + mod_97_10.calc_check_digits(body))
    return out


@pytest.mark.parametrize("lei", _lei_cases())
def test_lei_generated_with_stdnum_validates_and_a_swap_is_caught(lei: str) -> None:
    from stdnum import lei as stdnum_lei

    assert stdnum_lei.is_valid(lei)
    assert validate_lei(lei) == lei
    broken = lei[:-1] + str((int(lei[-1]) + 1) % 10)
    assert not stdnum_lei.is_valid(broken)
    assert _reason(validate_lei, broken) == "check_digit"


# --- the fast paths (issue 15 item 2): the same answers as the general code ---------------------------------------

def _normalise_general(value: str) -> str:
    """normalise_identifier without its ASCII shortcut (the code before session 6)."""
    import unicodedata

    from schemas.identifiers import _ASCII_UPPER, _SEPARATORS

    text = unicodedata.normalize("NFKC", value)
    return "".join(c for c in text if not (c.isspace() or c in _SEPARATORS)).translate(_ASCII_UPPER)


def test_the_ascii_shortcut_normalises_like_the_general_code() -> None:
    import random

    rng = random.Random(15)
    alphabet = [chr(c) for c in range(128)] + list("９１ａＢ－．\u00a0\u3000ßıİ\u2010\u2212é٣")
    samples = ["91440300708461136T", "91440300708461136t", "5493001KJTIIGC8Y1R12", "SC592231", "0", ""]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(20_000)]
    for value in samples:
        assert normalise_identifier(value) == _normalise_general(value), repr(value)


def test_the_check_characters_are_the_weighted_sums() -> None:
    import random

    from schemas.identifiers import (
        _ALNUM_VALUE,
        _ORG_CODE_WEIGHTS,
        _USCC_ALPHABET,
        _USCC_VALUE,
        _USCC_WEIGHTS,
        _org_code_check_char,
        _uscc_check_char,
    )

    rng = random.Random(15)
    for _ in range(5_000):
        first17 = "".join(rng.choice(_USCC_ALPHABET) for _ in range(17))
        total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
        assert _uscc_check_char(first17) == _USCC_ALPHABET[-total % 31]
        body8 = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(8))
        check = 11 - sum(_ALNUM_VALUE[c] * w for c, w in zip(body8, _ORG_CODE_WEIGHTS, strict=True)) % 11
        assert _org_code_check_char(body8) == {10: "X", 11: "0"}.get(check, str(check))
    with pytest.raises(ValueError):
        _uscc_check_char("1" * 16)  # as zip(strict=True) refused a wrong length
    with pytest.raises(KeyError):
        _uscc_check_char("I" * 17)  # not in the alphabet


def test_the_usual_uscc_skips_the_unicode_normalisation(monkeypatch) -> None:
    import schemas.identifiers as ids

    class NoNormalisation:
        @staticmethod
        def normalize(form, value):
            raise AssertionError("NFKC of an ASCII letters-and-digits code")

    monkeypatch.setattr(ids, "unicodedata", NoNormalisation)  # this module's reference only
    assert ids.validate_uscc("91440300708461136t") == "91440300708461136T"


def _reference_check_characters(number: str, allowed: frozenset[str], name: str, hint: str = "") -> str | None:
    """The character check as written before issue 15's fast path: the first refused character's message."""
    for position, char in enumerate(number, start=1):
        if char not in allowed:
            shown = char if char.isprintable() else f"U+{ord(char):04X}"
            return f"{name} character {shown!r} at position {position} is not allowed{hint}"
    return None


def _reference_uscc(number: str) -> str:
    """GB 32100 / GB 11714 check characters from the standards' formulas (sum of value × weight), no tables."""
    from schemas.identifiers import _ALNUM_VALUE, _ORG_CODE_WEIGHTS, _USCC_ALPHABET, _USCC_VALUE

    outer = _USCC_ALPHABET[-sum(_USCC_VALUE[c] * 3 ** i % 31 for i, c in enumerate(number[:17])) % 31]
    check = 11 - sum(_ALNUM_VALUE[c] * w for c, w in zip(number[8:16], _ORG_CODE_WEIGHTS, strict=True)) % 11
    return outer + {10: "X", 11: "0"}.get(check, str(check))


def test_table_driven_uscc_checks_equal_the_formulas_on_generated_codes() -> None:
    """Issue 15 item 2: the per-position tables give the formulas' check characters for 20,000 random 17-character
    prefixes and every one-character change of a real code (17 positions × 31 characters); validate_uscc accepts
    exactly the codes whose two check characters are the formulas' and refuses the rest with the same reason."""
    from schemas.identifiers import _USCC_ALPHABET, _org_code_check_char, _uscc_check_char

    rng = random.Random(150)
    base = "91440300708461136T"
    prefixes = ["".join(rng.choice(_USCC_ALPHABET) for _ in range(17)) for _ in range(20_000)]
    prefixes += [base[:i] + c + base[i + 1:17] for i in range(17) for c in _USCC_ALPHABET]
    accepted = 0
    for first17 in prefixes:
        expected = _reference_uscc(first17)
        assert _uscc_check_char(first17) + _org_code_check_char(first17[8:16]) == expected
        for last in (expected[0], rng.choice(_USCC_ALPHABET)):
            code = first17 + last
            try:
                got: str = identifiers.validate_uscc(code)
            except InvalidIdentifierError as exc:
                got = exc.reason
            if first17[0] not in "123456789ANY" or first17[1] not in "123456789" or not first17[2:8].isdigit():
                assert got == "format", code
            elif last != expected[0]:
                assert got == "check_digit", code
            elif first17[16] != expected[1]:
                assert got == "org_code_check", code
            else:
                assert got == code, code
                accepted += 1
    assert accepted > 100


def test_the_character_check_refuses_as_before_and_walks_only_refused_ids(monkeypatch) -> None:
    """The fast path (one frozenset.issuperset) changes no answer: 30,000 generated ids (allowed characters,
    lower case, full-width, controls, Han) give the same first-refused-character message as the loop; and an
    accepted id never reaches the per-character loop (a test that fails if that cost comes back)."""
    import schemas.identifiers as ids

    rng = random.Random(151)
    pool = ids._USCC_ALPHABET + "IOSVZabc-_ \t\x00\u200b９Ａ中"
    for allowed, hint in ((ids._USCC_CHARS, " (hint)"), (ids._ASCII_ALNUM, ""), (ids._DIGITS, "")):
        for _ in range(10_000):
            number = "".join(rng.choice(pool) for _ in range(rng.randint(1, 20)))
            want = _reference_check_characters(number, allowed, "ID", hint)
            try:
                ids._check_characters(number, allowed, "ID", hint)
                got = None
            except InvalidIdentifierError as exc:
                got = str(exc)
                assert exc.reason == "character"
            assert got == (None if want is None else f"character: {want}"), number

    def refused(*args: Any) -> Any:
        raise AssertionError("an accepted id walked its characters")

    monkeypatch.setattr(ids, "enumerate", refused, raising=False)
    assert identifiers.validate_uscc("91440300708461136T") == "91440300708461136T"
