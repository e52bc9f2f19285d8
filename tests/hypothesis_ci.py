"""Reproducible hypothesis generation under CI (``.ci/run`` sets ``CI``; tests/conftest.py calls this).

The "ci" profile (derandomised, no database) is not enough on its own: hypothesis (since 6.131) also draws ~5 % of
its values from the constants of every *local* module loaded so far (``providers._get_local_constants``). Under
pytest-xdist the modules a worker has loaded depend on which tests it ran before — the dynamic scheduling — so the
same derandomised test drew other examples from run to run (the negative contract fuzz answered other statuses
when the positive one had run first in its process). Under CI hypothesis draws without those constants. Local runs
keep them (a bug-finding heuristic). There is no public switch: this replaces the private helper, and fails loudly
(AttributeError) if a hypothesis upgrade moves it.
"""
from __future__ import annotations

import os


def draw_without_local_constants_under_ci() -> bool:
    """Under ``CI``: local-module constants are no longer drawn from; returns whether it applied."""
    if not os.environ.get("CI"):
        return False
    from hypothesis.internal.conjecture import providers

    assert callable(providers._get_local_constants)
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    return True
