"""Backfill of the shard attributes (issue 15): ``dealreg status-shards backfill``.

Stamps ``status_shard`` on every registration and ``load_shard`` on every holder counter that lacks the right
one (written before this release, or under another ``status_shards``), page by page with a checkpoint in
the holders table (``job#status-shards-<n>``), so an interrupted run resumes where it stopped and a finished
one is not repeated unless asked (``again``). Safe to rerun at any time: items already right are not written.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from chalicelib.store import holders, status_index

TABLES = ("registrations", "holders")


def backfill(*, now: datetime, again: bool = False, page_size: int = 200,
             progress: Callable[[dict], None] | None = None, max_pages: int | None = None) -> dict:
    """Run (or resume) the backfill; the checkpoint state. ``max_pages`` stops early (tests, short windows)."""
    name = f"status-shards-{status_index.shard_count()}"
    state = None if again else holders.checkpoint(name)
    if state is None:
        state = {"table": TABLES[0], "start": None, "read": 0, "stamped": 0, "raced": 0, "done": False}
    pages = 0
    while not state["done"]:
        if max_pages is not None and pages == max_pages:
            break
        counts, start = status_index.backfill_page(state["table"], state["start"], page_size)
        pages += 1
        for k, v in counts.items():
            state[k] += v
        state["start"] = start
        if start is None:
            following = TABLES.index(state["table"]) + 1
            if following == len(TABLES):
                state["done"] = True
            else:
                state["table"] = TABLES[following]
        holders.save_checkpoint(name, state, now=now)
        if progress:
            progress(state)
    return state
