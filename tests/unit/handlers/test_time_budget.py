"""The scheduled jobs' shared time budget (``handlers._batch.time_left``)."""
from __future__ import annotations

from types import SimpleNamespace

from chalicelib.handlers._batch import SAFETY_MILLIS, time_left


class _Context:
    def __init__(self, remaining: int) -> None:
        self.remaining = remaining

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining


def test_a_job_keeps_going_until_the_safety_margin_is_reached():
    context = _Context(SAFETY_MILLIS + 1)
    check = time_left(SimpleNamespace(context=context))
    assert check is not None and check() is True
    context.remaining = SAFETY_MILLIS  # the check reads the clock each time it is asked
    assert check() is False


def test_outside_lambda_there_is_no_budget():
    assert time_left(SimpleNamespace(context=None)) is None
    assert time_left(object()) is None
