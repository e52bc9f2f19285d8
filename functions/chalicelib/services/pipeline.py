"""The pipeline's operator job: ``dealreg pipeline recount`` (infra/pipeline_cli.py) rebuilds the board and the
cockpit aggregates from the registrations table."""
from __future__ import annotations


def recount(*, now, page_size: int = 500) -> int:
    """Rebuild the board and the cockpit from the registrations table (one scan; the board counts the
    approved ones); returns the number of registrations read. Run while nothing writes, or run it twice."""
    from chalicelib.domain import board, cockpit as dom
    from chalicelib.store import aggregates
    from chalicelib.store.models import RegistrationItem
    from chalicelib.store.registrations import from_item

    regs = [from_item(i) for i in RegistrationItem.scan(page_size=page_size)]
    figures = {**sums(regs, board.contribution), **sums(regs, dom.contribution)}
    aggregates.overwrite(figures, now=now, prefixes=("board#", "cockpit#"))
    return len(regs)


def sums(regs, contribution) -> dict[tuple[str, str], list[int]]:
    """Every (partition, cell) figure ``contribution`` gives a set of registrations."""
    total: dict[tuple[str, str], list[int]] = {}
    for reg in regs:
        for part, key, count, cents in contribution(reg):
            cell = total.setdefault((part, key), [0, 0])
            cell[0] += count
            cell[1] += cents
    return total
