"""A model of how long `make test`'s second xdist worker idles at the end, for a collection order.

pytest-xdist 3.8's ``--dist loadgroup`` (LoadScopeScheduling): the browser group goes out first as one unit (the
largest scope), then one test at a time in collection order; a worker is given one more unit whenever it holds two
or fewer unfinished tests (two units each at the start) and runs what it holds in the order received. Durations
come from junit XML of real runs (``pytest --junitxml=…``: setup + call + teardown per test); a test without one
counts 0 s. Prints, for collection order and for ``tests/conftest.py``'s longest-first order, when each worker
ends. A model: no fixture or start-up cost, no contention between the workers.

    (cd /tmp/s9_before && .venv/bin/python -m pytest --collect-only -q) > /tmp/collected.txt  # a tree before
    .venv/bin/python -m bench.xdist_order /tmp/collected.txt run1.xml [run2.xml ...]       # LONGEST_FIRST

(collected in a tree with ``LONGEST_FIRST``, "collection order" is already longest first).
"""
from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET


def durations(paths: list[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            module = case.get("classname", "").replace(".", "/")
            found[f"{module}.py::{case.get('name')}"] = float(case.get("time") or 0)
    return found


def worker_ends(order: list[str], took: dict[str, float], workers: int = 2) -> list[float]:
    units = [[took.get(i, 0.0) for i in order if i.startswith("tests/browser/")]]
    units += [[took.get(i, 0.0)] for i in order if not i.startswith("tests/browser/")]
    held: list[list[float]] = [[] for _ in range(workers)]
    clock = [0.0] * workers
    for w in range(workers):
        held[w].extend(units.pop(0) if units else [])
    for w in range(workers):
        if units and len(held[w]) <= 2:
            held[w].extend(units.pop(0))
    while any(held):
        w = min((w for w in range(workers) if held[w]), key=lambda w: clock[w] + held[w][0])
        clock[w] += held[w].pop(0)
        if units and len(held[w]) <= 2:
            held[w].extend(units.pop(0))
    return sorted(clock)


def main(argv: list[str] | None = None) -> None:
    from tests.conftest import LONGEST_FIRST

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collected", help="output of `pytest --collect-only -q` in a tree without LONGEST_FIRST")
    parser.add_argument("junit", nargs="+")
    args = parser.parse_args(argv)
    took = durations(args.junit)
    with open(args.collected, encoding="utf-8") as f:
        ids = [line.strip() for line in f if "::" in line]
    print(f"{len(ids)} tests, {sum(i in took for i in ids)} with a duration, {sum(took.get(i, 0) for i in ids):.0f} s in all")
    for label, order in (("collection order", ids),
                         ("longest first", sorted(ids, key=lambda i: not i.startswith(LONGEST_FIRST)))):
        ends = worker_ends(order, took)
        print(f"{label}: workers end at {', '.join(f'{e:.0f}' for e in ends)} s; idle at the end {ends[-1] - ends[0]:.0f} s")


if __name__ == "__main__":
    main()
