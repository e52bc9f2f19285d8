"""The stand-in's moto patches are tied to the moto version they were written against (issue 17 item 11)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import moto
import pytest

from infra.local import stack

ROOT = Path(__file__).resolve().parents[3]


def test_the_patched_moto_is_the_pinned_moto():
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    [pin] = [d for d in dev if d.startswith("moto")]
    assert pin.split("==")[1] == stack._PATCHED_MOTO == moto.__version__


def test_another_moto_makes_the_stream_fix_refuse_loudly(monkeypatch):
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(RuntimeError, match=r"moto 5\.3\.0 is not 5\.2\.5"):
        stack._fix_cancelled_transaction_streams()

