"""Progress bars for the operator CLI: tqdm on stderr, redrawn at most ~10 times a second, and silent when
stderr is not a terminal (a pipe, a log file, CI), so logs get the final JSON summary and nothing else.

The long-running commands report progress through a callback ``progress(done, total, extra)``; a
:class:`Bar` is such a callback. ``total`` may grow while the command runs (a feed's tenders are counted
as they are parsed).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO


class Bar:
    """``with Bar("import", unit="row", postfix=lambda errors: f"{errors} errors") as bar: run(progress=bar)``."""

    def __init__(self, label: str, *, unit: str = "it", postfix: Callable[..., str] | None = None,
                 file: TextIO | None = None, quiet: bool = False) -> None:
        from tqdm import tqdm

        self._postfix = postfix
        # disable=None: tqdm turns itself off when the stream is not a terminal
        self._bar = tqdm(desc=label, unit=unit, file=file or sys.stderr, disable=True if quiet else None,
                         dynamic_ncols=True)

    def __call__(self, done: int, total: int, *extra: Any) -> None:
        bar = self._bar
        if bar.disable:
            return
        if total != bar.total:
            bar.total = total
        if self._postfix is not None:
            bar.set_postfix_str(self._postfix(*extra), refresh=False)
        bar.update(done - bar.n)  # redraws only when tqdm's interval has passed

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
