"""Session 7 (issue 15 item 2): the one-call fast paths of ``_Text`` (ShortText, LongText, Ref) and ``Amount`` give
what their steps give, value for value and error for error (type, ctx, loc), and take the fast path for the usual
value. Each is compared with the same annotation without its fast path."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError

from schemas import common
from schemas.common import Amount, LongText, Ref, ShortText, Strict, _cents, _plain_amount, _Text


class _StepsOnly(_Text):
    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return self._steps(source, handler)


class Fast(Strict):
    short: ShortText | None = None
    long: LongText | None = None
    ref: Ref | None = None
    amount: Amount | None = None


class Steps(Strict):
    short: Annotated[str, _StepsOnly(min_length=1, max_length=200)] | None = None
    long: Annotated[str, _StepsOnly(min_length=None, max_length=4000, multiline=True)] | None = None
    ref: Annotated[str, _StepsOnly(min_length=1, max_length=128)] | None = None
    amount: Annotated[common.Number, BeforeValidator(_plain_amount), Field(ge=0, max_digits=15, decimal_places=2),
                      AfterValidator(_cents)] | None = None


class _Str(str):
    pass


TEXTS = ["深圳市腾讯计算机系统有限公司", "  padded  ", " ", "", "a" * 200, " " + "a" * 200 + " ", "a" * 201, "b" * 129,
         "\u3000全角\u3000", "\u00a0nbsp\u00a0", "\ttab\t", "line\nbreak", "two\r\nlines", "zero\u200bwidth",
         "soft\u00adhyphen", "\ufeffbom", "x\u202ey", "\u2066iso\u2069", "nul\x00", "del\x7f", "c1\x85",
         "ar\u0628\u200d\u0628", "emoji\U0001F469\u200d\U0001F4BB", "\ud800", "combining e\u0301", "x" * 4001,
         "  " + "y" * 3999, _Str("sub"), _Str(" sub "), b"bytes", bytearray(b"ba"), 5, 1.5, None, True, ["a"], {"a": 1}]
AMOUNTS = ["3800000.00", "0", "0.5", "00", "01", "1.", ".5", "1.234", "9999999999999.99", "99999999999999",
           "-1", "+1", " 1", "1 ", "1e3", "１００", "١٠٠", "1_000", "", "NaN", "inf", 0, 5, -1, 10**14, 1.5, 1.234,
           True, None, Decimal("1.5"), Decimal("-1"), _Str("12"), "12.30", [1]]


def _outcome(model: type[Strict], field: str, value: object) -> object:
    try:
        got = model.model_validate({field: value})
    except ValidationError as exc:
        return [(e["type"], e["loc"], e.get("ctx"), e["msg"]) for e in exc.errors(include_url=False)]
    out = getattr(got, field)
    return type(out), out, str(out)


@pytest.mark.parametrize("field", ["short", "long", "ref"])
@pytest.mark.parametrize("value", TEXTS, ids=repr)
def test_a_text_is_what_its_steps_give(field, value):
    assert _outcome(Fast, field, value) == _outcome(Steps, field, value)


@pytest.mark.parametrize("value", AMOUNTS, ids=repr)
def test_an_amount_is_what_its_steps_give(value):
    assert _outcome(Fast, "amount", value) == _outcome(Steps, "amount", value)


def test_the_usual_values_take_one_call(monkeypatch):
    """A printable text and an amount's text no longer run the steps' Python functions."""
    called: list[str] = []
    for name in ("clean_text", "_plain_amount", "_cents"):
        original = getattr(common, name)
        monkeypatch.setattr(common, name, lambda *a, _o=original, _n=name, **k: called.append(_n) or _o(*a, **k))

    class Again(Strict):  # built after the patch, so its steps would call the patched functions
        short: Annotated[str, _Text(min_length=1, max_length=200)]
        amount: Annotated[common.Number, BeforeValidator(lambda v: common._plain_amount(v)),
                          Field(ge=0, max_digits=15, decimal_places=2), AfterValidator(lambda v: common._cents(v)),
                          common._PlainAmountText()]

    got = Again.model_validate({"short": "名", "amount": "12.5"})
    assert (got.short, got.amount) == ("名", Decimal("12.50"))
    assert called == ["_cents"]  # the fast path's own quantize; no policy, no amount syntax step
    with pytest.raises(ValidationError):
        Again.model_validate({"short": "tab\there", "amount": "1"})
    assert "clean_text" in called  # a text that is not printable takes the policy's steps


def test_padded_text_takes_the_steps_where_the_config_decides_the_order():
    """In a model whose config does not strip, the bounds see the text before the strip (" " passes min_length 1
    and is answered as ""): a padded text takes the steps, so both orders hold."""
    from pydantic import BaseModel

    class Plain(BaseModel):
        v: ShortText

    assert Plain(v=" ").v == ""
    with pytest.raises(ValidationError):
        Fast(short=" ")


def test_a_registry_id_in_normal_form_is_not_assigned_again(monkeypatch):
    """The normalised id is assigned only when it differs (pydantic's assignment runs in Python); either way the id
    reads back normalised, as set."""
    from schemas.common import RegistryId

    assigned: list[str] = []
    original = Strict.__setattr__
    monkeypatch.setattr(RegistryId, "__setattr__", lambda self, name, value: assigned.append(name) or original(
        self, name, value))
    usual = RegistryId.model_validate({"scheme": "uscc", "value": "91440300708461136T"})
    assert (usual.value, assigned) == ("91440300708461136T", [])
    typed = RegistryId.model_validate({"scheme": "uscc", "value": "9144 0300-7084.6113 6t"})
    assert (typed.value, assigned) == ("91440300708461136T", ["value"])
    assert typed.model_fields_set == usual.model_fields_set == {"scheme", "value"}


def test_generated_texts_are_what_their_steps_give():
    """Session 9 (the fast path's end check is one ``strip``): 3,000 generated texts from characters at the edges of
    the policy — " " and every other kind of white space, controls, format characters, CJK — with lengths around the
    bounds, each as short, long and ref text, give the steps' value or errors."""
    import random

    rng = random.Random(9)
    pool = list("ab中文 ") + ["\u3000", "\u00a0", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029",
                              "\u200b", "\u200d", "\u202e", "\ufeff", "\x00", "\u2000", "\u205f", "\U0001F469"]
    for _ in range(3_000):
        size = rng.choice((0, 1, 2, 3, 127, 128, 129, 199, 200, 201))
        text = "".join(rng.choice(pool) for _ in range(size)) if size < 10 else (
            rng.choice(pool) + "x" * (size - 2) + rng.choice(pool))
        for field in ("short", "long", "ref"):
            assert _outcome(Fast, field, text) == _outcome(Steps, field, text), (field, text)
