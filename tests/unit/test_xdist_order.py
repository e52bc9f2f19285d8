"""``bench.xdist_order``: the model of xdist's loadgroup hand-out used for RESULTS' longest-first figure."""
from __future__ import annotations

from bench.xdist_order import worker_ends


def test_a_long_test_collected_last_leaves_the_other_worker_idle_and_first_does_not():
    took = {"tests/unit/a.py::long": 100.0, **{f"tests/unit/b.py::t{i}": 1.0 for i in range(100)}}
    short = [f"tests/unit/b.py::t{i}" for i in range(100)]
    assert worker_ends([*short, "tests/unit/a.py::long"], took) == [50.0, 150.0]  # one worker idle 100 s
    # first: the long test's worker was also handed one short one before it started (it held <= 2 tests)
    assert worker_ends(["tests/unit/a.py::long", *short], took) == [99.0, 101.0]


def test_the_browser_group_goes_out_first_as_one_unit_and_unknown_tests_count_zero():
    took = {"tests/browser/x.py::a": 30.0, "tests/browser/x.py::b": 30.0, "tests/unit/c.py::t": 50.0}
    assert worker_ends(["tests/unit/c.py::t", "tests/browser/x.py::a", "tests/unit/d.py::new",
                        "tests/browser/x.py::b"], took) == [50.0, 60.0]
