"""Small value types used across the public payloads."""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError, PydanticKnownError

from schemas import identifiers

# --- the input policy for text (issue 13 item 21) ----------------------------------------------------------------
# Refused (422, type ``control_character`` / ``bidi_control``): C0/C1 controls (a long text keeps tab, CR, LF),
# lone surrogates, and the bidirectional overrides/isolates/marks that make a name display as something else.
# Stripped: invisible characters people paste along (zero-width space, word joiner, BOM, soft hyphen), and a
# zero-width (non-)joiner except between two letters of a script that spells with it (Arabic, Indic, emoji).
# Everything else is kept verbatim: CJK, combining marks, full-width punctuation.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad\u180e]")
_JOINERS = frozenset("\u200c\u200d")


def _joiner_kept(text: str, i: int) -> bool:
    def spelled_with_joiners(ch: str) -> bool:
        cp = ord(ch)
        return cp >= 0x0600 and not (0x2E80 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFFEF or 0x20000 <= cp <= 0x3FFFF)

    return 0 < i < len(text) - 1 and spelled_with_joiners(text[i - 1]) and spelled_with_joiners(text[i + 1])


def clean_text(value: object, *, multiline: bool = False) -> object:
    """Apply the text policy to one submitted string (other types pass to the type's own validation)."""
    if not isinstance(value, str):
        return value
    if value.isprintable():
        # C speed for the usual text (issue 15 item 2): printable means no control (Cc), surrogate (Cs) or
        # format character (Cf: every bidi control, invisible character and joiner above) and no whitespace
        # but " ", so nothing below could refuse, strip or drop a character.
        return value
    for ch in value:
        if ch in _BIDI_CONTROLS:
            raise PydanticCustomError("bidi_control", "text contains a bidirectional control character")
        if (unicodedata.category(ch) in ("Cc", "Cs")) and not (multiline and ch in "\t\n\r"):
            raise PydanticCustomError("control_character", "text contains a control character")
    value = _INVISIBLE.sub("", value)
    if _JOINERS.intersection(value):
        value = "".join(ch for i, ch in enumerate(value) if ch not in _JOINERS or _joiner_kept(value, i))
    return value


def _clean_line(value: object) -> object:
    return clean_text(value)


def _clean_lines(value: object) -> object:
    return clean_text(value, multiline=True)


class _Text:
    """A text field's validation with one call into Python per value instead of five (issue 15 item 2): what
    ``Annotated[str, BeforeValidator(clean), StringConstraints(strip_whitespace=True, min_length=.., max_length=..)]``
    did, step for step. The text policy (``clean_text``), the str type (stripped first where the model's config
    says so, as ``Strict`` does), the length bounds with pydantic's own errors (``too_short`` / ``too_long``, the
    Python checks pydantic fell back to behind a before-validator), then the strip; the same JSON Schema."""

    def __init__(self, *, min_length: int | None, max_length: int, multiline: bool = False) -> None:
        self.min_length, self.max_length, self.multiline = min_length, max_length, multiline
        self._least = min_length or 0  # the lower bound as a number (none: 0)

    def _clean(self, value: object) -> object:
        if type(value) is str and value.isprintable():
            return value  # clean_text's own first answer, without the call
        return clean_text(value, multiline=self.multiline)

    def _bounds(self, value: str) -> str:
        size = len(value)
        if self.min_length is not None and size < self.min_length:
            raise PydanticKnownError("too_short", {"field_type": "Value", "min_length": self.min_length,
                                                   "actual_length": size})
        if size > self.max_length:
            raise PydanticKnownError("too_long", {"field_type": "Value", "max_length": self.max_length,
                                                  "actual_length": size})
        return value

    def _printable(self, value: object, steps: Any) -> object:
        """The steps below in one Python call for the usual value, a printable ``str`` that neither starts nor ends
        with " " (issue 15 item 2, session 7): the policy keeps it as it is, and the only whitespace a printable
        text can hold is " ", so no strip changes it (whether the model's config strips before the bounds or not);
        what is left is the bounds. Anything else takes the steps themselves (``steps``), with their errors."""
        if type(value) is str and value.isprintable():
            size = len(value)
            # " " is the only character of a printable text that ``strip`` takes off: the same length, so no " "
            # at either end (one C call instead of two slices and a tuple, session 9)
            if size == len(value.strip()):
                if self._least <= size <= self.max_length:
                    return value
                return self._bounds(value)  # raises pydantic's error
        return steps(value)

    def _steps(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        bounds = {"minLength": self.min_length} if self.min_length is not None else {}
        checked = core_schema.no_info_after_validator_function(
            self._bounds, core_schema.no_info_before_validator_function(self._clean, handler(source)),
            metadata={"pydantic_js_updates": {**bounds, "maxLength": self.max_length}})
        return core_schema.chain_schema([checked, core_schema.str_schema(strip_whitespace=True)])

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_wrap_validator_function(self._printable, self._steps(source, handler))


ShortText = Annotated[str, _Text(min_length=1, max_length=200)]
LongText = Annotated[str, _Text(min_length=None, max_length=4000, multiline=True)]
Ref = Annotated[str, _Text(min_length=1, max_length=128)]

# --- numbers are numbers --------------------------------------------------------------------------------------
# Every decimal in an outward JSON body (amounts, tender values, probabilities) is a JSON number, never a string
# (pydantic writes a Decimal as text by default). Python code keeps the exact Decimal; JSON gets an integer when
# the value is whole, else the shortest float that reads back as the same decimal. Amounts accepted from callers
# have at most 15 significant digits (13 before the point, 2 after), so that conversion is exact for them.


def json_number(value: Decimal) -> int | float:
    """A Decimal as the JSON number it denotes (exact for up to 15 significant digits)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


Number = Annotated[Decimal, PlainSerializer(json_number, return_type=int | float, when_used="json")]
"""A decimal that is written to JSON as a number. Use it (not bare ``Decimal``) in every public model."""

# --- amounts: one plain decimal syntax --------------------------------------------------------------------------
# A JSON number, or a string of ASCII digits with at most two decimals: "1200", "1200.50". Refused: full-width
# or other scripts' digits ("１００", "١٠٠"), "1_000", "1e3", "-0", "+5", " 5", and a JSON number written with an
# exponent or more than two decimals (1e-400 would otherwise read as 0).
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$"
_AMOUNT = re.compile(AMOUNT_PATTERN)


def _plain_amount(value: object) -> object:
    if isinstance(value, bool):
        raise PydanticCustomError("decimal_syntax", "an amount is a plain decimal number")
    text = value if isinstance(value, str) else getattr(value, "text", None)  # JsonNumber keeps what was sent
    if text is not None and not _AMOUNT.fullmatch(text):
        raise PydanticCustomError("decimal_syntax", "an amount is a plain decimal number: digits, optionally "
                                                    "a point and one or two decimals")
    return text if text is not None else value


_CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    # One scale in Python and in texts built from it ("500.00 CNY"), whether it came as 500, "500" or "500.00"
    # (a stored amount reads back from its JSON number without trailing zeros).
    return value.quantize(_CENT)


class _PlainAmountText:
    """The steps of ``Amount`` before it in one Python call for the usual value, text the amount syntax accepts
    (issue 15 item 2, session 7: the steps are seven calls into Python). Such a text is at most 13 digits, a point
    and 2 decimals, not negative: within ``ge``, ``max_digits`` and ``decimal_places`` as it stands; so the value
    is ``_cents`` of its Decimal, what the steps return. Anything else takes the steps, with their errors."""

    @staticmethod
    def _plain(value: object, steps: Any) -> object:
        if type(value) is str and _AMOUNT.fullmatch(value):
            return _cents(Decimal(value))
        return steps(value)

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_wrap_validator_function(self._plain, handler(source))


Amount = Annotated[
    Number, BeforeValidator(_plain_amount), Field(ge=0, max_digits=15, decimal_places=2), AfterValidator(_cents),
    _PlainAmountText(),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0, "maximum": 9999999999999.99},
                              {"type": "string", "pattern": AMOUNT_PATTERN}],
                    "description": "A plain decimal, at most 13 digits before the point and 2 after; "
                                   "answers always write it as a JSON number"}),
]

# --- dates and times: ISO 8601 text only, within a sane range ------------------------------------------------------
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)


def _iso_text(value: object) -> object:
    if isinstance(value, (int, float)):  # pydantic would read 0 as 1970-01-01
        raise PydanticCustomError("iso_format", "a date or time is ISO 8601 text")
    return value


def _date_in_range(value: date) -> date:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise PydanticCustomError("date_range", "a date between 2000-01-01 and 2099-12-31")
    return value


Day = Annotated[date, BeforeValidator(_iso_text), AfterValidator(_date_in_range)]
Timestamp = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_date_in_range)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Strict(BaseModel):
    """Base for public payloads: unknown fields are refused so typos surface as 422, not silent loss.

    ``defer_build``: a model's validator is built when it is first used, not when its module is imported, so a
    cold function builds only the models of the request it answers (issue 15)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Money(Strict):
    """An amount in an ISO 4217 currency. Decimal, never float, so amounts survive storage exactly."""

    amount: Amount
    currency: CurrencyCode


class RegistryScheme(StrEnum):
    """Identifier schemes for companies (org-id.guide style codes)."""

    USCC = "uscc"  # China: 统一社会信用代码 (GB 32100-2015)
    LEI = "lei"  # ISO 17442 Legal Entity Identifier
    GB_COH = "gb-coh"  # UK Companies House number
    TW_UBN = "tw-ubn"  # Taiwan 統一編號
    DUNS = "duns"
    OTHER = "other"


class RegistryId(Strict):
    """A typed company identifier, e.g. ``{"scheme": "uscc", "value": "91350100M000100Y43"}``."""

    scheme: RegistryScheme
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _check_value(self) -> RegistryId:
        # Model-level so a bad id is reported at the item's loc (``...registry_ids.N``) as ``value_error``;
        # InvalidIdentifierError is a ValueError whose message starts with the reason.
        value = identifiers.validate(self.scheme, self.value)
        if value != self.value:  # an id already in its normal form (the usual one) needs no assignment (session 7)
            self.value = value
        return self


class PrincipalKind(StrEnum):
    PARTNER = "partner"
    USER = "user"
    SYSTEM = "system"


class Actor(Strict):
    """Who did something, or holds something: a partner system, a person, or the system itself (a scheduled
    job, a handler). Every party in an answer (owner, previous owner, author, recipient, actor, submitter) has
    this one shape, ``{"kind", "id"}``; the ``"<kind>:<id>"`` keys the store uses never reach a caller."""

    kind: PrincipalKind
    id: str

    @classmethod
    def from_ref(cls, ref: str | None) -> Actor | None:
        """``"user:wang"`` (the store's key) as ``{"kind": "user", "id": "wang"}``; None stays None."""
        if not ref:
            return None
        kind, _, ident = ref.partition(":")
        return cls(kind=PrincipalKind(kind), id=ident)
