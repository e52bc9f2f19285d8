"""The intake's parse with sorted keys and its fingerprint fast path (issue 15 item 2, session 8), against the old
path on generated inputs: ``http.parse_json_sorted`` accepts and refuses exactly what ``http.parse_json`` does (same
status, code and errors), gives an equal value whose every object has its keys in sorted order, and says "no float"
exactly when the old value holds no ``JsonNumber``; ``json_fingerprint(value, keys_sorted=True)`` is the digest the
sorting encoder gives (so claims stored before still match a redelivery); ``validate(..., source=raw)`` answers
what ``validate`` of the old value answers — the same model or the same error list, in the same order."""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib import http
from chalicelib.http import HttpError, JsonNumber, parse_json, parse_json_sorted, validate
from chalicelib.store import registrations
from chalicelib.store.registrations import body_fingerprint, json_fingerprint
from schemas.registration import RegistrationCreate
from schemas.webhook import OpportunityRegistered

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "opportunity.json").read_bytes()

# --- generated JSON texts: objects written as pairs (so a key may come twice), numbers as written ---------------------

_KEYS = st.one_of(st.sampled_from(["a", "b", "A", "é", "名称", "amount", "type", "", "a\u0000", "\ud800", "z"]),
                  st.text(max_size=4))
_NUMBER_TEXTS = st.one_of(
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30).map(str),
    st.sampled_from(["0", "-0", "1.10", "1e5", "-0.0", "2E-3", "1e-400", "1e400", "3.141592653589793", "3800000.00",
                     "12345678901234567890", "0.1", "1E+2"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
_STRINGS = st.one_of(st.text(max_size=6), st.sampled_from(["\ud83d\ude00", "\ud800", "\u2028", "x\"\\\n", "深圳"]))


def _scalar_text(draw_value, ensure_ascii: bool) -> str:
    kind, value = draw_value
    if kind == "number":
        return value
    if kind == "string":
        return json.dumps(value, ensure_ascii=ensure_ascii)
    return value  # literal


_SCALARS = st.one_of(
    st.tuples(st.just("number"), _NUMBER_TEXTS),
    st.tuples(st.just("string"), _STRINGS),
    st.tuples(st.just("literal"), st.sampled_from(["true", "false", "null"])),
)

_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.tuples(st.just("array"), st.lists(inner, max_size=4)),
        st.tuples(st.just("object"), st.lists(st.tuples(_KEYS, inner), max_size=5)),
    ),
    max_leaves=25,
)


def _write(tree, ensure_ascii: bool, space: str) -> str:
    kind, value = tree
    if kind == "array":
        return "[" + ("," + space).join(_write(v, ensure_ascii, space) for v in value) + "]"
    if kind == "object":
        return "{" + ("," + space).join(json.dumps(k, ensure_ascii=ensure_ascii) + space + ":" + space
                                        + _write(v, ensure_ascii, space) for k, v in value) + "}"
    return _scalar_text(tree, ensure_ascii)


@st.composite
def json_texts(draw) -> bytes | str:
    text = _write(draw(_TREES), draw(st.booleans()), draw(st.sampled_from(["", " ", "\n  "])))
    mangle = draw(st.sampled_from(["none", "none", "none", "truncate", "nan", "deep"]))
    if mangle == "truncate" and text:
        text = text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]
    elif mangle == "nan":
        text = "[" + text + ", NaN]"
    elif mangle == "deep":
        text = "[" * 33 + text + "]" * 33
    as_bytes = draw(st.booleans())
    return text.encode("utf-8", "surrogatepass") if as_bytes else text


def _outcome(parse, raw):
    try:
        return "ok", parse(raw)
    except HttpError as err:
        return "refused", (err.status, err.code, err.errors)


def _objects(value):
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _objects(child)
    elif isinstance(value, list):
        for child in value:
            yield from _objects(child)


def _has_float(value) -> bool:
    if isinstance(value, JsonNumber):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def _old_fingerprint(value):
    try:
        return "ok", json_fingerprint(value)
    except UnicodeEncodeError:  # a lone surrogate: the canonical text has no UTF-8 (old and new alike)
        return "raises", None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_texts())
def test_the_sorted_parse_answers_what_parse_json_answers_and_the_fingerprint_is_the_same(raw):
    old, new = _outcome(parse_json, raw), _outcome(parse_json_sorted, raw)
    assert old[0] == new[0], (raw, old, new)
    if old[0] == "refused":
        assert old[1] == new[1]
        return
    value, no_float = new[1]
    assert value == old[1]
    assert all(list(obj) == sorted(obj) for obj in _objects(value))
    assert no_float is not _has_float(old[1])
    try:
        fast = "ok", json_fingerprint(value, keys_sorted=no_float)
    except UnicodeEncodeError:
        fast = "raises", None
    assert fast == _old_fingerprint(old[1])


def test_duplicate_keys_are_refused_at_any_depth_whatever_the_values():
    for raw in ('{"a": 1, "a": 1}', '{"a": {}, "a": 1}', '{"x": [{"b": [1], "a": 2, "b": {"c": null}}]}',
                '{"b": 1, "a": 2, "b": 3}'):
        with pytest.raises(HttpError) as err:
            parse_json_sorted(raw)
        assert (err.value.status, err.value.code, err.value.errors) == (
            400, "json_duplicate_key", [{"loc": "body", "type": "json_duplicate_key"}])


def test_the_fast_fingerprint_does_not_run_the_sorting_encoder(monkeypatch):
    """The point of the fast path: with ``keys_sorted`` the canonical text comes from pydantic-core."""
    expected = body_fingerprint(EXAMPLE)
    value, no_float = parse_json_sorted(EXAMPLE)
    assert no_float  # the example's amount is text

    class Refusing:
        def encode(self, _value):
            raise AssertionError("the sorting encoder ran")

    monkeypatch.setattr(registrations, "_CANONICAL", Refusing())
    assert json_fingerprint(value, keys_sorted=True) == expected


def test_a_float_or_a_lone_surrogate_takes_the_sorting_encoder():
    value, no_float = parse_json_sorted(b'{"b": 1.50, "a": 2}')
    assert not no_float
    assert json_fingerprint(value, keys_sorted=no_float) == body_fingerprint(b'{"a":2,"b":1.50}')
    value, no_float = parse_json_sorted(b'{"b": "\\ud800", "a": 2}')
    assert no_float
    with pytest.raises(UnicodeEncodeError):  # what the old path raises for it too
        json_fingerprint(value, keys_sorted=True)
    with pytest.raises(UnicodeEncodeError):
        json_fingerprint(parse_json(b'{"b": "\\ud800", "a": 2}'))


# --- validation of a sorted value: the same model, or the same errors in the same order ------------------------------

def _answer(model, raw, sorted_keys: bool):
    try:
        if sorted_keys:
            value, _ = parse_json_sorted(raw)
            result = validate(model, value, source=raw)
        else:
            result = validate(model, parse_json(raw))
    except HttpError as err:
        return "refused", (err.status, err.code, err.message, err.errors)
    return "ok", (type(result), result.model_dump(), result.model_fields_set,
                  result.data.model_fields_set if hasattr(result, "data") else None)


_JUNK = [None, 1, -1, 2.5, "", " ", "x", "  padded  ", "\u200b", "\u202e", "a\u0000", "１００", "1e3", "3800000.005",
         [], {}, [1], {"k": 1}, True, "2026-13-40", "2026-11-27T08:00:00Z", "9144030070846113", "a@b.co", "lead"]


def _mutate(body: dict, rng: random.Random) -> dict:
    """Random edits of the example: unknown keys (several, in any order), removed fields, wrong values, reordered."""
    def objects(value, path=()):
        if isinstance(value, dict):
            yield path, value
            for k, v in value.items():
                yield from objects(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from objects(v, (*path, i))

    def junk():
        return copy.deepcopy(rng.choice(_JUNK))  # never one object twice in a body

    for _ in range(rng.randint(0, 4)):
        found = list(objects(body))
        _, target = rng.choice(found)
        action = rng.choice(["extra", "extra", "remove", "set", "shuffle"])
        if action == "extra":
            target[rng.choice(["zz", "aa", "Mm", "名", "_x", "type2", "b" * rng.randint(1, 3)])] = junk()
        elif action == "remove" and target:
            del target[rng.choice(list(target))]
        elif action == "set" and target:
            target[rng.choice(list(target))] = junk()
        elif action == "shuffle":
            items = list(target.items())
            rng.shuffle(items)
            target.clear()
            target.update(items)
    return body


@pytest.mark.parametrize("seed", range(4))
def test_validating_the_sorted_value_answers_what_the_old_path_answers(seed):
    rng = random.Random(seed)
    base = json.loads(EXAMPLE)
    refused = 0
    for _ in range(400):
        body = _mutate(json.loads(json.dumps(base)), rng)
        for model, value in ((OpportunityRegistered, body), (RegistrationCreate, body.get("data", body))):
            raw = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
            old = _answer(model, raw, sorted_keys=False)
            assert _answer(model, raw, sorted_keys=True) == old, raw
            refused += old[0] == "refused"
    assert refused > 200  # the generator reaches the refusals, not only the example


def test_unknown_keys_are_reported_in_the_order_the_body_wrote_them():
    """Sorted keys would list ``aa`` before ``zz``; the errors keep the body's order (``source`` is read again)."""
    body = json.loads(EXAMPLE)
    body["data"]["zz"] = 1
    body["data"]["aa"] = 2
    raw = json.dumps(body).encode()
    value, _ = parse_json_sorted(raw)
    with pytest.raises(HttpError) as err:
        validate(OpportunityRegistered, value, source=raw)
    assert [e["loc"] for e in err.value.errors] == ["body.data.zz", "body.data.aa"]
    with pytest.raises(HttpError) as old:
        validate(OpportunityRegistered, parse_json(raw))
    assert err.value.errors == old.value.errors


def test_the_sorted_decoder_is_used_only_where_asked():
    assert list(parse_json(b'{"b": 1, "a": 2}')) == ["b", "a"]  # every other route keeps the body's order
    assert list(parse_json_sorted(b'{"b": 1, "a": 2}')[0]) == ["a", "b"]
    assert http._DECODER is not http._SORTED_DECODER
