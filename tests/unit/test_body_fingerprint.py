"""The idempotency fingerprint of an already parsed body is the one the raw body gave (issue 15 item 2: the intake
parses the JSON once, then fingerprints what it parsed; claims stored before must still match a redelivery)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.http import parse_json
from chalicelib.store.registrations import body_fingerprint, json_fingerprint

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "opportunity.json").read_bytes()

BODIES = [
    EXAMPLE,
    json.dumps(json.loads(EXAMPLE), ensure_ascii=True, indent=3).encode(),  # escaped CJK, other whitespace
    b'{"b": 1, "a": [1.10, 1e5, -0.0, 2E-3, 3.141592653589793, 12345678901234567890, true, null, "x\\u00e9\\n"]}',
    '{"名称":"深圳市腾讯计算机系统有限公司","amount":3800000.00,"nested":{"z":{},"y":[]}}'.encode(),
    b'[1, 2.5, "\\ud83d\\ude00"]',
    b'"just a string"',
]


@pytest.mark.parametrize("raw", BODIES)
def test_the_parsed_body_gives_the_raw_body_fingerprint(raw):
    assert json_fingerprint(parse_json(raw)) == body_fingerprint(raw)


def test_whitespace_and_key_order_do_not_matter_and_values_do():
    assert body_fingerprint(b'{"a": 1, "b": 2}') == json_fingerprint(parse_json(b'{"b":2,"a":1}'))
    assert json_fingerprint(parse_json(b'{"a": 1.5}')) != json_fingerprint(parse_json(b'{"a": 1.50001}'))


def test_a_body_that_is_not_json_is_fingerprinted_by_its_bytes():
    import hashlib

    assert body_fingerprint(b"not json") == hashlib.sha256(b"not json").hexdigest()
