"""ShortText / LongText / Ref validate with two Python calls per value (issue 15 item 2) and answer exactly what the
``BeforeValidator + StringConstraints`` definitions answered: value, error type, context, message and location,
in a ``Strict`` model (config strips first), a plain model and a bare TypeAdapter; and the same JSON Schema."""
from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, BeforeValidator, StringConstraints, TypeAdapter, ValidationError
from pydantic_core import core_schema

from schemas import common
from schemas.common import LongText, Ref, ShortText, Strict, _clean_line, _clean_lines

# The definitions before session 6 (schemas/common.py at ab6f1ed), as the reference.
OLD_SHORT = Annotated[str, BeforeValidator(_clean_line), StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OLD_LONG = Annotated[str, BeforeValidator(_clean_lines), StringConstraints(strip_whitespace=True, max_length=4000)]
OLD_REF = Annotated[str, BeforeValidator(_clean_line), StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
PAIRS = [(ShortText, OLD_SHORT), (LongText, OLD_LONG), (Ref, OLD_REF)]

INPUTS = ["", " ", "   ", "a", " a ", "\t a\n", "x" * 128, "x" * 129, " " + "x" * 128, "x" * 200, "x" * 201,
          " " + "x" * 200 + " ", "x" * 4000, "x" * 4001, " " + "x" * 4000, "深圳市腾讯计算机系统有限公司",
          "a\u200bb", "\u200b", " \u200b ", "a\u200cb", "\u0628\u200c\u0628", "a\u202eb", "a\x00b", "line\nbreak",
          "tab\there", "\u00ad", "  IT 总监  ", "\ud800", 5, 5.5, None, True, b"bytes", ["a"], {"a": 1}]


def _outcome(validate, value):
    try:
        return "ok", validate(value)
    except ValidationError as exc:
        return "error", exc.errors(include_url=False)


def _validators(new, old):
    class NewStrict(Strict):
        v: new

    class OldStrict(Strict):
        v: old

    class NewPlain(BaseModel):
        v: new

    class OldPlain(BaseModel):
        v: old

    yield "Strict model", (lambda x: NewStrict(v=x).v), (lambda x: OldStrict(v=x).v)
    yield "plain model", (lambda x: NewPlain(v=x).v), (lambda x: OldPlain(v=x).v)
    yield "TypeAdapter", TypeAdapter(new).validate_python, TypeAdapter(old).validate_python


@pytest.mark.parametrize(("new", "old"), PAIRS, ids=["ShortText", "LongText", "Ref"])
def test_every_answer_is_the_old_definitions(new, old):
    for where, validate_new, validate_old in _validators(new, old):
        for value in INPUTS:
            assert _outcome(validate_new, value) == _outcome(validate_old, value), (where, value)


@pytest.mark.parametrize(("new", "old"), PAIRS, ids=["ShortText", "LongText", "Ref"])
def test_the_json_schema_is_the_old_definitions(new, old):
    for mode in ("validation", "serialization"):
        assert TypeAdapter(new).json_schema(mode=mode) == TypeAdapter(old).json_schema(mode=mode)

    class New(Strict):
        v: new | None = None

    class Old(Strict):
        v: old | None = None

    assert {**New.model_json_schema(), "title": "M"} == {**Old.model_json_schema(), "title": "M"}


def _python_steps(schema) -> int:
    """The Python functions a value of this schema passes through."""
    count = 1 if schema.get("type", "").startswith("function-") and "function" in schema else 0
    for key in ("schema",):
        if key in schema:
            count += _python_steps(schema[key])
    for step in schema.get("steps", ()):
        count += _python_steps(step)
    return count


@pytest.mark.parametrize(("new", "old"), PAIRS, ids=["ShortText", "LongText", "Ref"])
def test_a_value_passes_one_python_function_or_three_not_four(new, old):
    # before: clean, min (ShortText, Ref), max, the strip's wrapper; session 7: the fast path (one call for a
    # printable unpadded text: tests/unit/schemas/test_validation_fast_paths.py), then clean and bounds for others
    assert _python_steps(TypeAdapter(old).core_schema) == (3 if new is LongText else 4)
    assert _python_steps(TypeAdapter(new).core_schema) == 3
    assert TypeAdapter(new).core_schema["type"] == "function-wrap"
    assert isinstance(common._Text(min_length=1, max_length=2).__get_pydantic_core_schema__(
        str, lambda source: core_schema.str_schema()), dict)
