"""Company identifier validation: China USCC, LEI, UK Companies House numbers, Taiwan UBN, DUNS.

Pure functions on strings, standard library only, so importing this module costs nothing at Lambda
cold start. Each ``validate_*`` function normalises its input and returns the canonical form, or raises
:class:`InvalidIdentifierError` whose ``reason`` says what is wrong (length, character, format, check digit).

The rules are taken from the public standards; the code is our own. Sources of the facts:

* USCC: GB 32100-2015 (18 characters, 31-symbol alphabet without I O S V Z, weights 3^(i-1) mod 31,
  the table of registering-authority codes) and GB 11714-1997 (organisation-code check digit), as
  summarised in python-stdnum ``stdnum/cn/uscc.py`` and the test corpus notes.
* LEI: ISO 17442 with the ISO 7064 MOD 97-10 check.
* UK Companies House: no check digit, format only. Prefixes from the Companies House "Uniform Resource
  Identifiers customer guide" list of company number prefixes, plus CE/CS/SG (charitable incorporated
  organisations, Scottish qualifying partnerships), RS (registered societies) and OE (overseas entities).
* Taiwan UBN (統一編號): weights 1,2,1,2,1,2,4,1, sum of the digits of each product; since 2023-04-01 the
  Ministry of Finance only requires the sum to be divisible by 5 instead of 10 (FIA notice, python-stdnum
  commit 5fd7498 "Support post 2023 Taiwan UBN numbers").
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Callable
from typing import Final, Literal

Reason = Literal["empty", "length", "character", "format", "check_digit", "org_code_check"]

__all__ = [
    "InvalidIdentifierError",
    "Reason",
    "normalise_identifier",
    "validate",
    "validate_duns",
    "validate_gb_coh",
    "validate_lei",
    "validate_tw_ubn",
    "validate_uscc",
]


class InvalidIdentifierError(ValueError):
    """An identifier failed validation.

    Attributes:
        reason: One of "empty", "length", "character", "format", "check_digit", "org_code_check".
    """

    def __init__(self, reason: Reason, message: str) -> None:
        # The reason leads the message so that it survives when only str(error) is kept (pydantic).
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason


# Separators people type inside ids: ASCII space/hyphen/dot plus the Unicode dashes that survive NFKC
# (NFKC already folds full-width "－", "．" and the ideographic space to their ASCII forms).
_SEPARATORS: Final = frozenset("-.\u2010\u2012\u2013\u2014\u2212")
# Only ASCII letters are upper-cased: str.upper() would turn e.g. "ß" into "SS" and let a foreign
# character pass as two valid ones.
_ASCII_UPPER: Final = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_ASCII_ALNUM: Final = frozenset(string.digits + string.ascii_uppercase)
_DIGITS: Final = frozenset(string.digits)
# Value of a character in ISO 7064 and GB 11714: digits as themselves, A=10 .. Z=35.
_ALNUM_VALUE: Final = {c: int(c, 36) for c in _ASCII_ALNUM}


def normalise_identifier(value: str) -> str:
    """Fold an identifier to its compact form: NFKC, no spaces/hyphens/dots, ASCII upper case.

    Full-width input (``９１１１…``, ``ＳＣ５９２２３１``) becomes half-width through NFKC.

    Args:
        value: The identifier as typed.

    Returns:
        The compact form; it may still hold characters that no scheme allows.
    """
    if value.isascii() and value.isalnum():
        # The usual input (issue 15 item 2): ASCII is unchanged by NFKC, and letters and digits are neither
        # spaces nor separators, so only the case fold is left; on ASCII letters and digits ``str.upper`` is
        # exactly that fold (a fifth of ``translate``'s instructions, session 9).
        return value.upper()
    text = unicodedata.normalize("NFKC", value)
    return "".join(c for c in text if not (c.isspace() or c in _SEPARATORS)).translate(_ASCII_UPPER)


def _prepare(value: str, name: str, length: int | None = None) -> str:
    number = normalise_identifier(value)
    if not number:
        raise InvalidIdentifierError("empty", f"{name} is empty")
    if length is not None and len(number) != length:
        raise InvalidIdentifierError("length", f"{name} must be {length} characters, got {len(number)}")
    return number


def _check_characters(number: str, allowed: frozenset[str], name: str, hint: str = "") -> None:
    if allowed.issuperset(number):  # the usual case, in C; only a refused id walks its characters (issue 15)
        return
    for position, char in enumerate(number, start=1):
        if char not in allowed:
            # Echo only the one offending character of the normalised id, never the raw input.
            shown = char if char.isprintable() else f"U+{ord(char):04X}"
            raise InvalidIdentifierError(
                "character", f"{name} character {shown!r} at position {position} is not allowed{hint}"
            )


# --- China: Unified Social Credit Code (统一社会信用代码, GB 32100-2015) -----------------------------

_USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_CHARS: Final = frozenset(_USCC_ALPHABET)
_USCC_VALUE: Final = {c: i for i, c in enumerate(_USCC_ALPHABET)}
# GB 32100-2015 weights for positions 1-17: 3^(i-1) mod 31.
_USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Position 1, the registering authority: 1 机构编制 2 外交 3 司法行政 4 文化 5 民政 6 旅游 7 宗教 8 工会
# 9 工商, A 中央军委改革和编制办公室, N 农业, Y 其他. Position 2 (entity type) is always a digit 1-9;
# the per-authority sub-table is not enforced, so a new category does not lock real companies out.
_USCC_AUTHORITIES: Final = frozenset("123456789ANY")
_USCC_CATEGORIES: Final = frozenset("123456789")
# GB 11714-1997 weights for the 8 body characters of the organisation code.
_ORG_CODE_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)


# The check sums table-driven (issue 15 item 2): per position, each character's value times the position's weight
# (mod the modulus, which leaves the sum's remainder unchanged), so a sum is one C-level map over the characters.
_USCC_TERMS: Final = tuple({c: v * w % 31 for c, v in _USCC_VALUE.items()} for w in _USCC_WEIGHTS)
_ORG_CODE_TERMS: Final = tuple({c: v * w % 11 for c, v in _ALNUM_VALUE.items()} for w in _ORG_CODE_WEIGHTS)
# GB 11714's check character for each remainder r of the weighted sum: 11 - r, written 10 → X and 11 → 0.
_ORG_CODE_CHECK: Final = tuple({10: "X", 11: "0"}.get(11 - r, str(11 - r)) for r in range(11))


def _uscc_check_char(first17: str) -> str:
    if len(first17) != 17:
        raise ValueError(f"{len(first17)} characters for 17 weights")
    return _USCC_ALPHABET[-sum(map(dict.__getitem__, _USCC_TERMS, first17)) % 31]


def _org_code_check_char(body8: str) -> str:
    if len(body8) != 8:
        raise ValueError(f"{len(body8)} characters for 8 weights")
    return _ORG_CODE_CHECK[sum(map(dict.__getitem__, _ORG_CODE_TERMS, body8)) % 11]


def validate_uscc(value: str) -> str:
    """Validate a China Unified Social Credit Code (统一社会信用代码).

    Checks length (18), the 31-symbol alphabet, the structure (authority, entity type, six-digit
    region code), the GB 32100 check character and the GB 11714 check digit of the embedded
    organisation code (positions 9-17).

    Args:
        value: The code as typed; spaces, hyphens, lower case and full-width forms are accepted.

    Returns:
        The normalised 18-character code.

    Raises:
        InvalidIdentifierError: With reason empty, length, character, format, check_digit or org_code_check.
    """
    name = "USCC"
    number = _prepare(value, name, 18)
    _check_characters(number, _USCC_CHARS, name, " (I, O, S, V and Z are never used)")
    if number[0] not in _USCC_AUTHORITIES:
        raise InvalidIdentifierError("format", f"{name} position 1 is not a registering-authority code")
    if number[1] not in _USCC_CATEGORIES:
        raise InvalidIdentifierError("format", f"{name} position 2 (entity type) must be a digit 1-9")
    if not number[2:8].isdigit():  # the characters are the alphabet's (ASCII): isdigit is 0-9 here
        raise InvalidIdentifierError("format", f"{name} positions 3-8 (region code) must be digits")
    # The outer check covers all 17 characters, so test it first: a typo anywhere is a check_digit
    # failure; org_code_check is left for codes whose outer check passes but whose embedded
    # organisation code is not a valid GB 11714 code.
    if number[17] != _uscc_check_char(number[:17]):
        raise InvalidIdentifierError("check_digit", f"{name} check character (position 18) does not match")
    if number[16] != _org_code_check_char(number[8:16]):
        raise InvalidIdentifierError(
            "org_code_check", f"{name} organisation code (positions 9-17) fails its GB 11714 check digit"
        )
    return number


# --- LEI (ISO 17442, ISO 7064 MOD 97-10) ---------------------------------------------------------


def validate_lei(value: str) -> str:
    """Validate a Legal Entity Identifier (ISO 17442).

    Args:
        value: The LEI as typed.

    Returns:
        The normalised 20-character LEI.

    Raises:
        InvalidIdentifierError: With reason empty, length, character, format or check_digit.
    """
    name = "LEI"
    number = _prepare(value, name, 20)
    _check_characters(number, _ASCII_ALNUM, name)
    if not set(number[18:]) <= _DIGITS:
        raise InvalidIdentifierError("format", f"{name} positions 19-20 (check digits) must be digits")
    # MOD 97-10: letters become two-digit numbers, and the whole string read as an integer is 1 mod 97.
    if int("".join(str(_ALNUM_VALUE[c]) for c in number)) % 97 != 1:
        raise InvalidIdentifierError("check_digit", f"{name} check digits (positions 19-20) do not match")
    return number


# --- UK Companies House company numbers ----------------------------------------------------------

# No check digit exists, so the prefix list is the only real validation. See the module docstring.
_COH_PREFIXES: Final = frozenset(
    {
        # England & Wales
        "AC", "ZC", "FC", "GE", "LP", "OC", "SE", "IP", "IC", "RC", "RS", "CE",
        # Scotland
        "SA", "SZ", "SF", "GS", "SL", "SO", "SC", "ES", "SP", "SI", "SR", "CS", "SG",
        # Northern Ireland
        "NA", "NZ", "NF", "GN", "NL", "NC", "R0", "NI", "EN", "NP", "NV", "NR", "NO",
        # Register of Overseas Entities (2022)
        "OE",
    }
)  # fmt: skip


def validate_gb_coh(value: str) -> str:
    """Validate a UK Companies House company number.

    Valid forms are 8 digits (shorter all-digit numbers are left-padded with zeros, since leading
    zeros are often lost in spreadsheets), a known 2-letter prefix plus 6 digits, or ``R`` plus 7 digits
    (pre-partition Northern Ireland numbers, officially ``R0`` + 6 digits).

    Args:
        value: The company number as typed.

    Returns:
        The normalised 8-character number.

    Raises:
        InvalidIdentifierError: With reason empty, length, character or format (unknown prefix).
    """
    name = "Companies House number"
    number = _prepare(value, name)
    _check_characters(number, _ASCII_ALNUM, name)
    if set(number) <= _DIGITS and len(number) <= 8:
        return number.zfill(8)
    if len(number) != 8:
        raise InvalidIdentifierError("length", f"{name} must be 8 characters, got {len(number)}")
    digits = set(number[2:]) <= _DIGITS
    if (number[:2] in _COH_PREFIXES and digits) or (number[0] == "R" and set(number[1:]) <= _DIGITS):
        return number
    raise InvalidIdentifierError("format", f"{name} must be 8 digits or a known 2-letter prefix and 6 digits")


# --- Taiwan: Unified Business Number (統一編號) ----------------------------------------------------

_UBN_WEIGHTS: Final = (1, 2, 1, 2, 1, 2, 4, 1)


def validate_tw_ubn(value: str) -> str:
    """Validate a Taiwan Unified Business Number (統一編號).

    Multiply the 8 digits by 1,2,1,2,1,2,4,1 and add up the digits of each product. The number is
    valid when the sum is divisible by 5 (the rule since 2023-04-01; before it was 10, and every
    number valid then is still valid). When the 7th digit is 7 its product 28 gives "10", which may be
    read as 1 or 0, so a sum one short of a multiple of 5 is valid too.

    Args:
        value: The UBN as typed.

    Returns:
        The normalised 8-digit UBN.

    Raises:
        InvalidIdentifierError: With reason empty, length, character or check_digit.
    """
    name = "UBN"
    number = _prepare(value, name, 8)
    _check_characters(number, _DIGITS, name)
    total = sum(sum(divmod(int(d) * w, 10)) for d, w in zip(number, _UBN_WEIGHTS, strict=True))
    if total % 5 != 0 and not (number[6] == "7" and (total + 1) % 5 == 0):
        raise InvalidIdentifierError("check_digit", f"{name} check digit does not match")
    return number


# --- D-U-N-S -------------------------------------------------------------------------------------


def validate_duns(value: str) -> str:
    """Validate a D-U-N-S number: 9 digits (no public check digit).

    Args:
        value: The number as typed, e.g. ``15-048-3782``.

    Returns:
        The 9 digits.

    Raises:
        InvalidIdentifierError: With reason empty, length or character.
    """
    name = "DUNS number"
    number = _prepare(value, name, 9)
    _check_characters(number, _DIGITS, name)
    return number


def _validate_other(value: str) -> str:
    # Unknown schemes have unknown formats: removing hyphens or dots could change the id, so only trim.
    number = value.strip()
    if not number:
        raise InvalidIdentifierError("empty", "identifier is empty")
    return number


_VALIDATORS: Final[dict[str, Callable[[str], str]]] = {
    "uscc": validate_uscc,
    "lei": validate_lei,
    "gb-coh": validate_gb_coh,
    "tw-ubn": validate_tw_ubn,
    "duns": validate_duns,
    "other": _validate_other,
}


def validate(scheme: str, value: str) -> str:
    """Validate ``value`` under ``scheme`` and return its normalised form.

    Args:
        scheme: "uscc", "lei", "gb-coh", "tw-ubn", "duns" or "other" (a ``RegistryScheme`` works too).
        value: The identifier as typed.

    Returns:
        The normalised identifier; for "other" only surrounding whitespace is removed.

    Raises:
        InvalidIdentifierError: The value is not a valid identifier of that scheme.
        ValueError: The scheme is unknown.
    """
    validator = _VALIDATORS.get(scheme)
    if validator is None:
        raise ValueError(f"unknown identifier scheme {scheme!r}")
    return validator(value)
