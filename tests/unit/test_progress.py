"""infra/progress.py: the CLI's progress bars (tqdm) stay off non-terminals and redraw at a bounded rate."""
from __future__ import annotations

import io

from infra.progress import Bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_written_when_stderr_is_not_a_terminal():
    out = io.StringIO()  # a pipe or a log file
    with Bar("import", unit="row", file=out, postfix=lambda errors: f"{errors} errors") as bar:
        for done in range(1, 101):
            bar(done, 100, 0)
    assert out.getvalue() == ""


def test_quiet_writes_nothing_even_on_a_terminal():
    out = _Terminal()
    with Bar("import", file=out, quiet=True) as bar:
        bar(1, 1, 0)
    assert out.getvalue() == ""


def test_a_terminal_gets_label_count_and_postfix_and_far_fewer_redraws_than_items():
    out = _Terminal()
    with Bar("backfill src", unit="tender", file=out, postfix=lambda stats: f"new {stats['new']}") as bar:
        for done in range(1, 5001):
            bar(done, done + 10, {"new": done})  # the total grows as tenders are parsed
    text = out.getvalue()
    last = text.rstrip("\n").split("\r")[-1]
    assert "backfill src" in last and "5000/5010" in last and "new 5000" in last
    # the hand-written printers redrew on every item: 5000 redraws
    assert text.count("\r") < 500
