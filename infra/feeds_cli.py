"""``dealreg feeds …``: tender sources by hand (issue 6). Registered by ``infra/cli.py`` (``add_parsers``).

- ``feeds list``: the configured sources with their polling state.
- ``feeds poll SOURCE``: poll one source now, as the schedule does (``services.tenders.poll_due``), with a
  progress bar on stderr; prints what was new, updated and any error.
- ``feeds backfill SOURCE [--since DATE | --pages N | --url URL…]``: load history through the same
  connector, parse and store code (``services.tenders.backfill_source``), following the format's paging.

Sources come from ``DEALREG_TENDER_SOURCES`` as for the functions; ``--sources FILE`` overrides it, and with
``--local`` the demo sources ``make run`` serves (``.dealreg/tender_sources.json``) are used when nothing
else is set.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from infra.progress import Bar

LOCAL_SOURCES = Path(".dealreg") / "tender_sources.json"
CHANGED = ("amended", "cancelled", "linked")


def _setup(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None]) -> None:
    if args.sources:
        os.environ["DEALREG_TENDER_SOURCES"] = str(Path(args.sources).resolve())
    elif getattr(args, "local", False) and not os.environ.get("DEALREG_TENDER_SOURCES") and LOCAL_SOURCES.exists():
        os.environ["DEALREG_TENDER_SOURCES"] = str(LOCAL_SOURCES.resolve())
    if getattr(args, "local", False):
        os.environ.setdefault("DEALREG_TENDER_ALLOW_LOOPBACK", "1")  # the demo feeds are served on loopback
    storage(args)


def _source(name: str) -> Any | None:
    from chalicelib.services.tenders import configured_sources

    found = next((s for s in configured_sources() if s.name == name), None)
    if found is None:
        known = ", ".join(s.name for s in configured_sources()) or "none"
        print(f"no source {name!r} (configured: {known})", file=sys.stderr)
    return found


def progress_bar(label: str) -> Bar:
    """A progress bar on stderr (tqdm; silent off a terminal): ``label 40%|####  | 4/10  new N, updated M``."""
    def changes(stats: dict[str, Any]) -> str:
        return f"new {stats.get('new', 0)}, updated {sum(int(stats.get(k, 0)) for k in CHANGED)}"
    return Bar(label, unit="tender", postfix=changes)


def summary(name: str, stats: dict[str, Any]) -> dict[str, Any]:
    """What an operator wants from a run: counts of new, updated, unchanged, rejected, and the error."""
    return {"source": name, "new": int(stats.get("new", 0)), "updated": sum(int(stats.get(k, 0)) for k in CHANGED),
            "unchanged": int(stats.get("unchanged", 0)), "rejected": int(stats.get("rejected", 0)),
            "not_modified": bool(stats.get("not_modified")), "error": stats.get("error"),
            **({"pages": int(stats["pages"])} if "pages" in stats else {}),
            **({"older_than_since": int(stats["older_than_since"])} if stats.get("older_than_since") else {})}


def cmd_list(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    _setup(args, storage)
    from chalicelib.services.tenders import sources_status

    for row in sources_status():
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_poll(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    _setup(args, storage)
    from chalicelib.services.tenders import poll_due

    if _source(args.source) is None:
        return 2
    with progress_bar(f"poll {args.source}") as bar:
        results = poll_due(now(), only=args.source, force=True, progress=bar)
    out = summary(args.source, results.get(args.source, {}))
    print(json.dumps(out, ensure_ascii=False))
    return 1 if out["error"] else 0


def _since(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC) if len(text) > 10 else \
            datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)


def cmd_backfill(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    _setup(args, storage)
    from chalicelib.services.tenders import backfill_source, http_client

    src = _source(args.source)
    if src is None:
        return 2
    with progress_bar(f"backfill {args.source}") as bar:
        stats = backfill_source(src, now(), http=http_client(), urls=args.url or None, pages=args.pages,
                                since=args.since, alerts=args.alerts, progress=bar)
    out = summary(args.source, stats)
    print(json.dumps(out, ensure_ascii=False))
    return 1 if out["error"] else 0


def add_parsers(sub: Any, storage: Callable[[argparse.Namespace], None], now: Any,
                storage_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``feeds list|poll|backfill`` to the ``dealreg`` parser."""
    feeds = sub.add_parser("feeds", help="tender sources: list, poll one now, backfill history").add_subparsers(
        dest="action", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--sources", help="sources JSON file (default: DEALREG_TENDER_SOURCES, or the bundled file)")
        storage_flags(sp)

    fl = feeds.add_parser("list", help="configured sources and their polling state")
    common(fl)
    fl.set_defaults(func=lambda a: cmd_list(a, storage, now))

    fp = feeds.add_parser("poll", help="poll one source now, as the schedule does; prints new/updated/errors")
    fp.add_argument("source")
    common(fp)
    fp.set_defaults(func=lambda a: cmd_poll(a, storage, now))

    fb = feeds.add_parser("backfill", help="load a source's history, following its paging (OCDS links.next, "
                                           "RSS/Atom rel=next) or the given --url pages")
    fb.add_argument("source")
    limit = fb.add_mutually_exclusive_group()
    limit.add_argument("--since", type=_since, help="stop at notices published before this date (YYYY-MM-DD)")
    limit.add_argument("--pages", type=_positive, help="follow at most N pages")
    fb.add_argument("--url", action="append", help="fetch exactly this page (repeatable) instead of following links")
    fb.add_argument("--alerts", action="store_true", help="alert subscribers on history too (default: store only)")
    common(fb)
    fb.set_defaults(func=lambda a: cmd_backfill(a, storage, now))
