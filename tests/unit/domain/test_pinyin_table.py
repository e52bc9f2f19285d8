"""The packaged romanisation table (issue 15): the same syllables as pypinyin's dictionaries, without them."""
from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest

from chalicelib.domain import dedup_keys, names

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "dedup" / "labelled_pairs.csv"


def _reference(text: str, limit: int) -> tuple[str, ...]:
    """Romanisation straight from pypinyin's dictionaries: what han_syllables did before the table."""
    from pypinyin.phrases_dict import phrases_dict
    from pypinyin.pinyin_dict import pinyin_dict

    out: list[str] = []
    i, end = 0, min(len(text), limit)
    while i < end:
        for length in range(min(dedup_keys._PHRASE_MAX, end - i), 1, -1):
            phrase = phrases_dict.get(text[i:i + length])
            if phrase and len(phrase) == length:
                out.extend(dedup_keys._toneless(p[0]) for p in phrase)
                i += length
                break
        else:
            reading = pinyin_dict.get(ord(text[i]))
            if reading is None:
                break
            out.append(dedup_keys._toneless(reading.split(",")[0]))
            i += 1
    return tuple(out)


def _chinese_names() -> list[str]:
    tables = names._tables()
    out = set(tables.places) | set(tables.region_prefixes)
    with FIXTURE.open(encoding="utf-8") as f:
        for row in csv.reader(f):
            out.update(cell for cell in row if cell and names.is_cjk(cell[0]))
    out.update(["重庆银行股份有限公司", "华为技术有限公司", "长沙银行", "厦门航空", "〇一二三"])
    return sorted(out)


@pytest.fixture
def packaged_table(tmp_path, monkeypatch):
    """The table as `make package` writes it into the zip, read back the way a cold function reads it."""
    from infra import package as pkg

    zpath = tmp_path / "deployment.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("app.py", "")
    pkg.add_generated_data(zpath)
    with zipfile.ZipFile(zpath) as zf:
        text = zf.read(f"chalicelib/domain/data/{dedup_keys.PINYIN_TABLE}").decode()
    data = tmp_path / "data"
    data.mkdir()
    (data / dedup_keys.PINYIN_TABLE).write_text(text, encoding="utf-8")
    monkeypatch.setattr(dedup_keys, "__file__", str(tmp_path / "dedup_keys.py"))
    dedup_keys._pinyin_table.cache_clear()
    dedup_keys.han_syllables.cache_clear()
    yield text
    dedup_keys._pinyin_table.cache_clear()
    dedup_keys.han_syllables.cache_clear()


def test_packaged_table_romanises_every_name_as_pypinyin_does(packaged_table):
    assert "\n重庆\tchong qing\n" in packaged_table
    # the table came from the file, not from pypinyin
    assert dedup_keys._pinyin_table()._lines[0] == packaged_table.split("\n", 1)[0]
    sample = _chinese_names()
    assert len(sample) > 500
    for name in sample:
        for limit in (1, 5, len(name)):
            assert dedup_keys.han_syllables(name, limit) == _reference(name, limit), name


def test_lookup_by_bisection_finds_characters_and_phrases_only():
    table = dedup_keys._RomanisationTable(sorted(["华\thua", "华为\thua wei", "为\twei"]))
    assert table.get("华") == "hua"
    assert table.get("华为") == "hua wei"
    assert table.get("华为技") is None
    assert table.get("技") is None
    assert table.get("") is None
