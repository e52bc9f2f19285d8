"""``dealreg pipeline recount``: rebuild the pipeline board's aggregates from the registrations table."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_parsers(sub: Any, storage: Callable[[argparse.Namespace], None], now: Any,
                storage_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    pipeline = sub.add_parser("pipeline", help="pipeline board and cockpit aggregates").add_subparsers(dest="action",
                                                                                             required=True)
    rc = pipeline.add_parser("recount", help="rebuild the board and cockpit aggregates from the registrations table")
    storage_flags(rc)

    def run(args: argparse.Namespace) -> int:
        storage(args)
        from chalicelib.services.pipeline import recount

        print(f"recounted the board and cockpit from {recount(now=now())} registrations")
        return 0

    rc.set_defaults(func=run)
