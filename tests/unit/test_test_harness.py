"""The test harness itself under pytest-xdist (`make test` runs `-n auto`): the session-end IAM check.

Each xdist worker is a process with its own IAM recorder; a worker's exit status is not the run's, so a
denied call found at a worker's session end must reach the controller and fail the run there.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests import conftest


class _Checker:
    def __init__(self, denied: list) -> None:
        self._denied = denied

    def denied(self, _requests) -> list:
        return self._denied


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str, **_kw) -> None:
        self.lines.append(text)


def _session(writer: _Writer, workeroutput: dict | None = None) -> SimpleNamespace:
    config = SimpleNamespace(get_terminal_writer=lambda: writer)
    if workeroutput is not None:
        config.workeroutput = workeroutput
    return SimpleNamespace(config=config, exitstatus=0)


@pytest.fixture
def denied_call(monkeypatch):
    from infra import iam_check

    req = iam_check.Request("api_handler", "dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/t-directory",
                            "PutItem", "t")
    monkeypatch.setitem(conftest._IAM, "checker", _Checker([req]))
    monkeypatch.setitem(conftest._IAM, "checked", iam_check.RECORDER.mark())
    return req


def test_a_worker_hands_its_denied_calls_to_the_controller_which_fails_the_run(monkeypatch, denied_call):
    # GIVEN a worker whose recorder saw a denied call outside any `suite` test
    out: dict = {}
    worker = _session(_Writer(), workeroutput=out)
    conftest.pytest_sessionfinish(worker, 0)
    assert "api_handler: dynamodb:PutItem on" in out["dealreg_iam_denied"]
    # WHEN the controller (no denied call of its own) hears the worker go down
    monkeypatch.delitem(conftest._IAM, "checker")
    node = SimpleNamespace(workeroutput=out, gateway=SimpleNamespace(id="gw1"))
    conftest.pytest_testnodedown(node, None)
    writer = _Writer()
    controller = _session(writer)
    conftest.pytest_sessionfinish(controller, 0)
    # THEN the run fails, naming the worker and the call
    assert controller.exitstatus == 1
    assert any("[gw1]" in line and "dynamodb:PutItem" in line for line in writer.lines)


def test_no_denied_call_leaves_the_run_alone(monkeypatch):
    monkeypatch.setitem(conftest._IAM, "checker", _Checker([]))
    out: dict = {}
    worker = _session(_Writer(), workeroutput=out)
    conftest.pytest_sessionfinish(worker, 0)
    assert out == {} and worker.exitstatus == 0
    controller = _session(_Writer())
    conftest.pytest_sessionfinish(controller, 0)
    assert controller.exitstatus == 0



def test_the_slow_marker_lands_on_the_slow_directories_only():
    from types import SimpleNamespace

    marks: dict[str, list] = {}

    def item(nodeid: str) -> SimpleNamespace:
        marks[nodeid] = []
        return SimpleNamespace(nodeid=nodeid, add_marker=marks[nodeid].append)

    items = [item("tests/browser/test_console_browser.py::test_x"), item("tests/fuzz/test_contract_fuzz.py::t"),
             item("tests/functional/test_local_persistence.py::t"), item("tests/functional/test_intake.py::t"),
             item("tests/unit/test_progress.py::t")]
    conftest.pytest_collection_modifyitems(None, items)
    slow = {nodeid for nodeid, added in marks.items() if any(m.name == "slow" for m in added)}
    assert slow == {"tests/browser/test_console_browser.py::test_x", "tests/fuzz/test_contract_fuzz.py::t",
                    "tests/functional/test_local_persistence.py::t"}


def test_the_longest_tests_are_collected_first_and_the_rest_keep_their_order():
    first = [f"{conftest.LONGEST_FIRST[1]}::test_a", f"{conftest.LONGEST_FIRST[0]}::test_b"]
    rest = ["tests/browser/test_console_browser.py::test_x", "tests/functional/test_intake.py::t",
            "tests/unit/test_progress.py::t", "tests/unit/test_progress.py::u"]
    order = [rest[0], first[0], rest[1], rest[2], first[1], rest[3]]
    items = [SimpleNamespace(nodeid=nodeid, add_marker=lambda _mark: None) for nodeid in order]
    conftest.pytest_collection_modifyitems(None, items)
    assert [i.nodeid for i in items] == [first[0], first[1], *rest]


def test_every_longest_first_entry_names_a_test_that_exists():
    """A renamed or moved test would silently fall back to collection order."""
    root = conftest.Path(conftest.__file__).parent.parent
    for entry in conftest.LONGEST_FIRST:
        path, _, name = entry.partition("::")
        source = (root / path).read_text(encoding="utf-8")
        assert not name or f"def {name}" in source, entry
