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


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The data files `make package` writes into the zip (built once for this module)."""
    from infra import package as pkg

    tmp = tmp_path_factory.mktemp("zip")
    zpath = tmp / "deployment.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("app.py", "")
    sizes = pkg.add_generated_data(zpath)
    with zipfile.ZipFile(zpath) as zf:
        written = sorted(n for n in zf.namelist() if n.startswith("chalicelib/domain/data/"))
        # readable by the Lambda runtime's user, which does not own the files
        assert all((zf.getinfo(n).external_attr >> 16) & 0o444 == 0o444 for n in written)
        zf.extractall(tmp / "zip")
    assert written == sorted(f"chalicelib/domain/data/{n}" for n in (
        dedup_keys.PINYIN_TABLE, dedup_keys.PINYIN_REGIONS, names.TABLES_FILE))
    assert all(sizes.values())
    return tmp / "zip" / "chalicelib" / "domain" / "data"


@pytest.fixture
def packaged_data(generated, tmp_path, monkeypatch):
    """Those files read back the way a cold function reads them (the modules pointed at a copy)."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(generated, data)
    monkeypatch.setattr(dedup_keys, "__file__", str(tmp_path / "dedup_keys.py"))
    monkeypatch.setattr(names, "__file__", str(tmp_path / "names.py"))
    _clear()
    yield data
    _clear()


def _clear() -> None:
    for cached in (dedup_keys._pinyin_table, dedup_keys.han_syllables, dedup_keys._pinyin_regions, names._tables,
                   names._normalise_cached):
        cached.cache_clear()


@pytest.fixture
def packaged_table(packaged_data):
    return (packaged_data / dedup_keys.PINYIN_TABLE).read_text(encoding="utf-8")


def test_packaged_table_romanises_every_name_as_pypinyin_does(packaged_table):
    assert "\n重庆\tchong qing\n" in packaged_table
    # the table came from the file, not from pypinyin
    assert dedup_keys._pinyin_table()._data == packaged_table.encode()
    sample = _chinese_names()
    assert len(sample) > 500
    for name in sample:
        for limit in (1, 5, len(name)):
            assert dedup_keys.han_syllables(name, limit) == _reference(name, limit), name


def test_a_cold_romanisation_parses_only_the_characters_it_looks_up(packaged_table):
    # issue 15: the ~89,000 lines are not split (25 ms CPU); the first name parses the sections of its characters
    assert dedup_keys.han_syllables("重庆啤酒") == ("chong", "qing", "pi", "jiu")
    sections = dedup_keys._pinyin_table()._sections
    assert set(sections) <= set("重庆啤酒") and "重" in sections
    assert sections["重"]["重庆"] == "chong qing"
    assert all(k.startswith("重") for k in sections["重"])  # only that character's own lines


def test_every_line_of_the_table_is_found_by_its_text(packaged_table):
    lines = packaged_table.rstrip("\n").split("\n")
    table = dedup_keys._RomanisationTable(packaged_table.encode())
    for line in lines:
        text, _, syllables = line.partition("\t")
        assert table.get(text) == syllables, line
    # a text between two lines, or past either end, is not found
    assert table.get("\u4e00\u4e00\u4e00\u4e00\u4e00") is None
    assert table.get("\x00") is None and table.get("\U0010ffff") is None


def test_lookup_by_bisection_finds_characters_and_phrases_only():
    lines = sorted(["华\thua", "华为\thua wei", "为\twei", "〇\tling", "龥\tyu", "中国\tzhong guo"])
    table = dedup_keys._RomanisationTable(("\n".join(lines) + "\n").encode())
    assert table.get("华") == "hua"
    assert table.get("华为") == "hua wei"
    assert table.get("华为技") is None
    assert table.get("技") is None
    assert table.get("") is None
    assert (table.get("〇"), table.get("龥")) == ("ling", "yu")  # the first and the last line
    assert (table.get("中"), table.get("中国")) == (None, "zhong guo")  # a character that only starts a phrase
    # the source tree's table (no file): the same lines from pypinyin, read the same way
    assert dedup_keys._RomanisationTable(("\n".join(dedup_keys.pinyin_table_lines()) + "\n").encode()).get(
        "重庆") == "chong qing"


def test_packaged_region_spellings_are_the_derived_ones(packaged_data):
    derived = dedup_keys.pinyin_regions()
    assert {"hangzhou", "shenzhen", "beijing", "xizang"} <= derived
    assert dedup_keys._pinyin_regions() == derived
    # read from the file (a cold Latin name romanises ~3,000 places otherwise)
    (packaged_data / dedup_keys.PINYIN_REGIONS).write_text("hangzhou\n", encoding="utf-8")
    dedup_keys._pinyin_regions.cache_clear()
    assert dedup_keys._pinyin_regions() == {"hangzhou"}


def test_packaged_name_tables_are_the_built_ones(packaged_data):
    assert names._packaged_tables() == names._build_tables()
    assert names._tables() is not None and names._tables() == names._build_tables()
    # a file written by another Python (another marshal) is ignored and the tables are built
    path = packaged_data / names.TABLES_FILE
    path.write_bytes(b"dealreg name tables cpython-99 marshal 9\n" + path.read_bytes().split(b"\n", 1)[1])
    assert names._packaged_tables() is None
    names._tables.cache_clear()
    assert names._tables() == names._build_tables()


def test_the_source_tree_has_no_generated_data():
    # third-party derived data is written into the zip only, never into git (BRIEF: no third-party data committed)
    data = Path(dedup_keys.__file__).with_name("data")
    assert not {dedup_keys.PINYIN_TABLE, dedup_keys.PINYIN_REGIONS, names.TABLES_FILE} & {p.name for p in data.iterdir()}
