"""The regular expressions ``make package`` compiles for a cold start (chalicelib.precompiled_regex, issue 15)."""
from __future__ import annotations

import _sre
import json
import marshal
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import precompiled_regex
from infra import package as pkg

FUNCTIONS = Path(pkg.FUNCTIONS_DIR)


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> Path:
    """The record the packager makes, collected over the source tree (the zip's collector, this Python)."""
    path = tmp_path_factory.mktemp("regex") / "record.marshal"
    path.write_bytes(pkg.collect_regexes(FUNCTIONS, pkg.botocore_services(), isolated=False))
    return path


def test_every_recorded_pattern_is_the_one_re_compiles(record):
    data = marshal.loads(record.read_bytes())
    assert data["engine"] == precompiled_regex.engine()
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


_SPY = """
import json, sys
from re import _compiler
compiled = []
real = _compiler.compile
def spy(p, flags=0):
    compiled.append(p if isinstance(p, str) else repr(p))
    return real(p, flags)
_compiler.compile = spy
from chalicelib import precompiled_regex
seeded = precompiled_regex.seed(sys.argv[1])
import app
print(json.dumps({"seeded": seeded, "compiled": compiled}))
"""


def _import_app(record_path: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _SPY, record_path], cwd=FUNCTIONS, capture_output=True, text=True,
                          env={"PATH": "", "AWS_DEFAULT_REGION": "us-east-1", "DEALREG_PREFIX": "dealreg-test"},
                          check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def test_with_the_record_importing_the_app_compiles_no_regular_expression(record):
    # app.py seeds first thing: with the record, its imports find every pattern in re's cache
    with_record = _import_app(str(record))
    assert with_record["seeded"] >= 100
    assert with_record["compiled"] == []
    # without it (tests, make run) re compiles as always
    without = _import_app(str(record) + ".missing")
    assert without["seeded"] == 0 and len(without["compiled"]) >= 10


def test_a_record_made_for_another_python_or_engine_seeds_nothing(record, tmp_path):
    data = marshal.loads(record.read_bytes())
    for engine in ([1, [3, 12], _sre.MAGIC, _sre.CODESIZE], [1, list(sys.version_info[:2]), _sre.MAGIC + 1, 4],
                   [0, list(sys.version_info[:2]), _sre.MAGIC, _sre.CODESIZE]):
        other = tmp_path / "other.marshal"
        other.write_bytes(marshal.dumps({**data, "engine": engine}))
        before = dict(re._cache)
        assert precompiled_regex.seed(str(other)) == 0
        assert re._cache == before
