"""What ``make package`` compiles once for every cold start: regular expressions and generated source
(chalicelib.precompiled, issue 15)."""
from __future__ import annotations

import _sre
import builtins
import json
import marshal
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import precompiled
from infra import package as pkg

FUNCTIONS = Path(pkg.FUNCTIONS_DIR)


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> Path:
    """The record the packager makes, collected over the source tree (the zip's collector, this Python)."""
    path = tmp_path_factory.mktemp("precompiled") / "record.marshal"
    path.write_bytes(pkg.collect_precompiled(FUNCTIONS, pkg.botocore_services(), isolated=False))
    return path


def test_every_recorded_pattern_is_the_one_re_compiles(record):
    data = marshal.loads(record.read_bytes())
    assert data["engine"] == precompiled.engine()
    patterns = data["patterns"]
    # the libraries' module bodies (urllib3's URL grammar, botocore, email, html.parser) and ours
    assert len(patterns) >= 100
    texts = {args[0] for _, args in patterns}
    assert r"^(?:[a-zA-Z][a-zA-Z0-9+-]*:|/)" in texts  # urllib3.util.url's scheme pattern
    for flags, args in patterns:
        seeded, compiled = _sre.compile(*args), re._compiler.compile(args[0], flags)
        # a Pattern compares its flags, its text and its whole compiled program
        assert seeded == compiled, args[0]
        assert seeded.groupindex == compiled.groupindex and seeded.groups == compiled.groups


def test_every_recorded_code_object_is_the_one_compile_makes_of_its_text(record):
    sources = marshal.loads(record.read_bytes())["sources"]
    # typing's ForwardRefs (pydantic-core's TypedDicts, our schemas), dataclasses' methods, namedtuples' __new__
    assert len(sources["typing"]) >= 300 and len(sources["dataclasses"]) >= 100 and len(sources["collections"]) >= 20
    assert "str | None" in sources["typing"]
    for module, _builtin, mode in precompiled.GENERATORS:
        for text, blob in sources[module].items():
            # each marshalled on its own; a code object compares its bytecode, constants, names, line table, flags
            assert type(blob) is bytes, (module, text)
            assert marshal.loads(blob) == builtins.compile(text, "<string>", mode, dont_inherit=True), (module, text)


_SPY = """
import builtins, json, sys
from re import _compiler
compiled = []
real = _compiler.compile
def spy(p, flags=0):
    compiled.append(p if isinstance(p, str) else repr(p))
    return real(p, flags)
_compiler.compile = spy
from chalicelib import precompiled
seeded = precompiled.seed(sys.argv[1])
import collections, dataclasses, typing
generated = {m: getattr(sys.modules[m], b, None) for m, b, _ in precompiled.GENERATORS}
import app
@dataclasses.dataclass
class Probe:
    a: int
    b: "str | None" = None
print(json.dumps({"seeded": seeded, "compiled": compiled, "shadowed": sorted(m for m, g in generated.items() if g),
                  "probe": repr(Probe(1)), "annotations": repr(Probe.__init__.__annotations__),
                  "hints": repr(typing.get_type_hints(Probe.__init__))}))
"""


def _import_app(record_path: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _SPY, record_path], cwd=FUNCTIONS, capture_output=True, text=True,
                          env={"PATH": "", "AWS_DEFAULT_REGION": "us-east-1", "DEALREG_PREFIX": "dealreg-test"},
                          check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def test_with_the_record_importing_the_app_compiles_no_regular_expression(record):
    # app.py seeds first thing: with the record, its imports find every pattern in re's cache
    with_record = _import_app(str(record))
    assert with_record["seeded"]["patterns"] >= 100 and with_record["seeded"]["sources"] >= 400
    assert with_record["compiled"] == []
    assert with_record["shadowed"] == ["collections", "dataclasses", "typing"]
    assert with_record["probe"] == "Probe(a=1, b=None)"  # a class the record never saw is still made
    # ... exactly as without the record: its generated __init__ is annotated with the types, not with text (the
    # review of session 8: the stand-ins' own future import leaked into what they compiled)
    assert with_record["annotations"] == "{'a': <class 'int'>, 'b': 'str | None', 'return': None}"
    assert with_record["hints"] == "{'a': <class 'int'>, 'b': str | None, 'return': <class 'NoneType'>}"
    # without it (tests, make run) everything compiles as always
    without = _import_app(str(record) + ".missing")
    assert without["seeded"] == {"patterns": 0, "sources": 0} and len(without["compiled"]) >= 10
    assert without["shadowed"] == []
    assert (without["annotations"], without["hints"]) == (with_record["annotations"], with_record["hints"])


def test_a_record_that_cannot_be_read_or_a_switched_off_one_seeds_nothing(record, tmp_path, monkeypatch, capsys):
    """A truncated or corrupt record must not stop a function (``import app`` runs seed first): it starts as
    without one and says so once on stderr; ``DEALREG_PRECOMPILED=off`` turns a good record off."""
    good = record.read_bytes()
    data = marshal.loads(good)
    bad_pattern = {**data, "patterns": [(0, ("x", 0, [1, 2, 3], 0, {}, ()))] + data["patterns"]}
    for name, content in (("truncated", good[: len(good) // 2]), ("garbage", b"not a record"),
                          ("bad pattern", marshal.dumps(bad_pattern))):
        path = tmp_path / name
        path.write_bytes(content)
        before, shadows = dict(re._cache), {m: vars(__import__(m)).get(b) for m, b, _ in precompiled.GENERATORS}
        assert precompiled.seed(str(path)) == {"patterns": 0, "sources": 0}, name
        assert re._cache == before and shadows == {m: vars(__import__(m)).get(b) for m, b, _ in precompiled.GENERATORS}
        assert "precompiled record" in capsys.readouterr().err, name
    monkeypatch.setenv("DEALREG_PRECOMPILED", "off")
    before = dict(re._cache)
    assert precompiled.seed(str(record)) == {"patterns": 0, "sources": 0} and re._cache == before


def test_the_seeded_generators_use_the_recorded_code_and_compile_anything_else(record):
    sources = marshal.loads(record.read_bytes())["sources"]
    text = next(iter(sources["typing"]))
    used: list = []
    real = builtins.compile

    def spy(source, *args, **kwargs):
        used.append(source)
        return real(source, *args, **kwargs)

    recorded = marshal.loads(sources["typing"][text])
    compile_ = precompiled._compile_with(sources["typing"])
    builtins.compile = spy
    try:
        first = compile_(text, "<string>", "eval")  # recorded: unmarshalled at its first use, no compile
        assert first == recorded and type(sources["typing"][text]) is not bytes
        assert compile_(text, "<string>", "eval") is first  # and kept
        assert used == []
        made = compile_("int | bytes", "<string>", "eval")  # not recorded: compiled as always
    finally:
        builtins.compile = real
    assert used == ["int | bytes"] and eval(made) == (int | bytes)
    run = precompiled._run_with({"x = 1": real("y = 2", "<string>", "exec")}, exec)
    namespace: dict = {}
    run("x = 1", namespace)  # the recorded code object is what runs
    run("z = 3", namespace)
    assert namespace.get("y") == 2 and namespace.get("z") == 3 and "x" not in namespace


def test_a_damaged_code_entry_is_compiled_as_without_a_record(capsys):
    """Format 3 unmarshals each code object at its first use, after seed: a damaged entry must not raise out of
    typing or dataclasses (a cold start would fail) — the builtin compiles that text, once said on stderr."""
    compile_ = precompiled._compile_with({"int | str": b"\xff not marshal", "int | None": b""})
    assert eval(compile_("int | str", "<string>", "eval")) == (int | str)
    assert eval(compile_("int | None", "<string>", "eval")) == (int | None)
    assert compile_("int | str", "<string>", "eval") is not None  # asked again: compiled again, no second error
    assert capsys.readouterr().err.count("precompiled entry not used") == 2


def test_a_record_made_for_another_python_or_engine_seeds_nothing(record, tmp_path):
    data = marshal.loads(record.read_bytes())
    current = precompiled.engine()
    for engine in ([current[0], [3, 12], *current[2:]], [*current[:2], b"\x00\x00\r\n", *current[3:]],
                   [*current[:3], _sre.MAGIC + 1, current[4]], [1, *current[1:]]):
        other = tmp_path / "other.marshal"
        other.write_bytes(marshal.dumps({**data, "engine": engine}))
        before = dict(re._cache)
        assert precompiled.seed(str(other)) == {"patterns": 0, "sources": 0}
        assert re._cache == before


def test_a_host_that_cannot_import_lambdas_wheels_packages_without_a_record(tmp_path, monkeypatch, capsys):
    """The collector imports the zip's manylinux x86_64 wheels: on macOS or arm64 the package gets no record (its
    functions compile as without it) and a warning, instead of a failed `make package`."""
    assert pkg.can_collect("Linux", "x86_64") and not pkg.can_collect("Darwin", "x86_64")
    assert not pkg.can_collect("Linux", "aarch64") and not pkg.can_collect("Darwin", "arm64")
    zip_path = tmp_path / "deployment.zip"
    import zipfile
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("app.py", "")
    monkeypatch.setattr(pkg, "can_collect", lambda: False)
    assert pkg.precompiled(zip_path, pkg.botocore_services()) == {"regexes_precompiled": 0, "sources_precompiled": 0}
    assert zipfile.ZipFile(zip_path).namelist() == ["app.py"]
    assert "no precompiled record" in capsys.readouterr().err
