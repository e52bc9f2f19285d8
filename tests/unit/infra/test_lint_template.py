"""``infra.lint_template`` (`make lint-template`): the linters run side by side, and each one's output and verdict
are printed whole, in order; any failing linter fails the run. The linters here are stand-in scripts beside a
stand-in interpreter (the module finds its tools next to ``sys.executable``); the SAM transform is not run."""
from __future__ import annotations

import json
import stat
import sys

import pytest

from infra import lint_template

# Each stand-in marks its start, then waits (at most 60 s) until all the linters of the run have started, then prints
# what it linted: run one after another, the first would wait in vain and fail ("ran alone").
STAND_IN = """#!{python}
import os, pathlib, sys, time
here = pathlib.Path(sys.argv[0]).parent
name = pathlib.Path(sys.argv[0]).name
(here / f"started.{{os.getpid()}}").touch()
deadline = time.monotonic() + 60
while len(list(here.glob("started.*"))) < {expected}:
    if time.monotonic() > deadline:
        print(name, "ran alone")
        sys.exit(3)
    time.sleep(0.01)
print(name, "linted", sys.argv[-1] if name != "checkov" else "")
sys.exit({code})
"""


@pytest.fixture
def tools(tmp_path, monkeypatch):
    def make(codes: dict[str, int]) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for name, code in codes.items():
            script = bin_dir / name
            script.write_text(STAND_IN.format(python=sys.executable, expected=1 + len(codes), code=code))
            script.chmod(script.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))

    (tmp_path / "sam.json").write_text(json.dumps({"Resources": {"F": {"Type": "X"}}}))
    (tmp_path / "skips.json").write_text(json.dumps({"CKV_AWS_1": "accepted"}))
    monkeypatch.setattr(lint_template, "transform", lambda sam: sam)
    return make


def _run(tmp_path, *extra: str) -> int:
    return lint_template.main([str(tmp_path / "sam.json"), "--checkov-skips", str(tmp_path / "skips.json"), *extra])


def test_both_templates_are_linted_side_by_side_and_reported_in_order(tmp_path, tools, capsys):
    tools({"cfn-lint": 0})  # one script, two processes (the template and what the transform made of it)
    assert _run(tmp_path, "--no-checkov") == 0
    lines = capsys.readouterr().out.splitlines()
    sam, template = tmp_path / "sam.json", tmp_path / "template.json"
    assert lines == ["SAM transform: 1 resources -> " + str(template),
                     f"cfn-lint linted {sam}", f"cfn-lint {sam}: ok",
                     f"cfn-lint linted {template}", f"cfn-lint {template}: ok"]


def test_checkov_runs_beside_the_linters_and_a_failing_one_fails_the_run(tmp_path, tools, capsys):
    tools({"cfn-lint": 0, "checkov": 1})
    assert _run(tmp_path) == 1
    out = capsys.readouterr().out
    template = tmp_path / "template.json"
    assert out.endswith(f"checkov linted \ncheckov {template} (1 accepted findings): FAILED\n")
    assert "ran alone" not in out and out.count(": ok") == 2
