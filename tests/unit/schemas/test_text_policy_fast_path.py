"""``clean_text`` returns printable text at C speed (issue 15 item 2): every character the text policy refuses,
strips or drops is not printable, so the shortcut can never let one through."""
from __future__ import annotations

import sys
import unicodedata

import pytest

from schemas import common
from schemas.common import _BIDI_CONTROLS, _JOINERS, clean_text

INVISIBLE = "\u200b\u2060\ufeff\u00ad\u180e"


def test_every_character_the_policy_acts_on_is_not_printable():
    acted_on = set(_BIDI_CONTROLS) | set(_JOINERS) | set(INVISIBLE)
    assert all(common._INVISIBLE.fullmatch(ch) for ch in INVISIBLE)
    acted_on |= {chr(cp) for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) in ("Cc", "Cs")}
    assert [hex(ord(ch)) for ch in acted_on if ch.isprintable()] == []


@pytest.mark.parametrize("text", ["深圳市腾讯计算机系统有限公司", "Nestlé S.A.", "IT 总监", "+86 755 8601 3388", "a  b"])
def test_printable_text_is_returned_without_a_per_character_walk(text, monkeypatch):
    calls = []
    monkeypatch.setattr(common.unicodedata, "category", lambda ch: calls.append(ch) or "Lo")
    assert clean_text(text) == text and clean_text(text, multiline=True) == text
    assert calls == []


@pytest.mark.parametrize(("text", "kept"), [("a\u200bb", "ab"), ("a\tb", None), ("x\u202ey", None)])
def test_text_that_is_not_printable_still_takes_the_policy(text, kept):
    from pydantic_core import PydanticCustomError

    if kept is None:
        with pytest.raises(PydanticCustomError):
            clean_text(text)
    else:
        assert clean_text(text) == kept
