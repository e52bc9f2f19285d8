"""Demo tender sources for ``make run`` (issue 6): the feed files of ``examples/tenders/`` served on
127.0.0.1, configured as the poller's sources, and a demo rep whose subscription fires on them.

A hook, separate from the rest of the local stand-in: ``dealreg local`` calls :func:`start` once the
suite runs. Nothing here ships in a Lambda bundle; the product code it drives (the schedule, the
subscriptions store) is the same as in a deployment.
"""
from __future__ import annotations

import functools
import json
import os
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tenders"
DEMO_REP = "demo-rep"
DEMO_REP_TEAM = "channel"  # the demo channel team: its manager (demo-manager) reviews what the demo rep registers
# What the demo rep subscribes to: matches the Chinese RSS (云平台) and the OCDS cycle-lane process.
DEMO_SUBSCRIPTION = {"name": "demo: 云平台 or cycle lanes", "keywords": {"include": ["云平台", "cycle lane"]},
                     "delivery": "immediate"}


def sources_json(base_url: str, directory: Path = EXAMPLES) -> str:
    """The demo sources document with ``{base}`` replaced by the URL the feed files are served from."""
    return (directory / "sources.json").read_text(encoding="utf-8").replace("{base}", base_url.rstrip("/"))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def serve(directory: Path = EXAMPLES, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``directory`` read-only on 127.0.0.1 (a free port by default); returns (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, name="demo-feeds", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@dataclass
class DemoTenders:
    server: ThreadingHTTPServer
    base_url: str
    sources_file: Path
    rep_id: str
    api_key: str | None  # only known when the rep was created by this run (shown once, like every key)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def configure(base_url: str, state_dir: Path) -> Path:
    """Write the resolved sources to ``state_dir/tender_sources.json`` and point the settings at it.

    ``dealreg feeds … --local`` reads the same file, so commands in another terminal poll the same sources.
    """
    from chalicelib import settings

    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "tender_sources.json"
    path.write_text(sources_json(base_url), encoding="utf-8")
    os.environ["DEALREG_TENDER_SOURCES"] = str(path.resolve())
    os.environ["DEALREG_TENDER_ALLOW_LOOPBACK"] = "1"
    settings.reset()
    return path


def ensure_subscriber(now: Any) -> str | None:
    """The demo rep and its subscription, created once (kept in the snapshot). Returns a new API key or None."""
    from chalicelib.domain.access import Role
    from chalicelib.store import directory, tenders as store
    from schemas.tender import Subscription

    key = None
    if directory.get_team(DEMO_REP_TEAM) is None:
        directory.create_team(DEMO_REP_TEAM, "Channel sales (demo)", now=now)
    rep = directory.get_user(DEMO_REP)
    if rep is None:
        # in the demo manager's team, so what the demo rep registers has a reviewer
        key = directory.create_user(DEMO_REP, "Demo Rep", Role.REP, now=now, team_id=DEMO_REP_TEAM)
    elif rep.team_id is None:  # a snapshot from before the rep had a team
        rep.update(actions=[type(rep).team_id.set(DEMO_REP_TEAM)])
    if not store.subscriptions_of(DEMO_REP):
        store.create_subscription(Subscription(id=store.new_subscription_id(), rep_id=DEMO_REP, created_at=now,
                                               **DEMO_SUBSCRIPTION))
    return key


def start(suite: Any, state_dir: Path, *, poll_now: bool = True) -> DemoTenders:
    """Serve the demo feeds, configure them as the sources, ensure the demo rep, and poll once now.

    Args:
        suite: the running ``LocalSuite`` (its runner fires the poll schedule).
        state_dir: ``.dealreg``; the demo rep's key is saved there (0600) the first time.
        poll_now: fire ``poll_tender_feeds`` at once rather than at its first 5-minute tick.
    """
    from chalicelib import clock

    server, base = serve(port=int(os.environ.get("DEALREG_DEMO_TENDERS_PORT") or 0))
    sources = configure(base, state_dir)
    key = ensure_subscriber(clock.now())
    key_file = state_dir / "demo_rep.json"
    if key is not None:
        key_file.write_text(json.dumps({"user_id": DEMO_REP, "api_key": key}))
        key_file.chmod(0o600)
    elif key_file.exists():
        key = json.loads(key_file.read_text()).get("api_key")
    if poll_now:
        suite.runner.run_schedule("poll_tender_feeds")
    return DemoTenders(server=server, base_url=base, sources_file=sources, rep_id=DEMO_REP, api_key=key)
