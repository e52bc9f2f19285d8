"""``dealreg feeds poll|backfill|list`` through the CLI entry (``infra.cli.main``) against 127.0.0.1 feeds.

Paged OCDS: three release packages wrapped around real (bare) Moldovan releases from the corpus, newest first, linked
by ``links.next`` (relative and absolute); the releases come from the shared corpus (skipped without it). Paged RSS: two small feeds written here, linked by RFC 5005
``atom:link rel="next"``. The demo RSS of ``examples/tenders/`` is polled by hand, twice (ETag honoured).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.contract.harness import LocalServer, Reply
from tests.corpora import corpora_root
from tests.functional.helpers import make_user

ROOT = Path(__file__).resolve().parents[2]
# Real Moldovan releases from the shared third-party corpus (tests/corpora.py); skipped without it.
MOLDOVA_PARTS = ("ocds", "real-examples", "moldova", "sample", "releases")
MOLDOVA = corpora_root().joinpath(*MOLDOVA_PARTS)
pytestmark = pytest.mark.corpus(*MOLDOVA_PARTS)
PAGES = [  # newest first, two releases a page
    ("ocds-ngfbwp-19733168-19733168.json", "ocds-ngfbwp-19709108-19709108.json"),  # 2017-06-16, 06-02
    ("ocds-ngfbwp-19661788-19661788.json", "ocds-ngfbwp-19648332-19648332.json"),  # 2017-05-30, 05-26
    ("ocds-ngfbwp-18289610-18289610.json", "ocds-ngfbwp-16949496-16949496.json"),  # 2017-03-17, 01-03
]
RSS_PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Archive {n}</title>
<link>https://archive.example.org/</link>{next}
<item><title>Archived notice {n}a: network switches</title><guid>arch-{n}a</guid>
<pubDate>Mon, 0{n} Jun 2025 09:00:00 GMT</pubDate></item>
<item><title>Archived notice {n}b: cloud hosting</title><guid>arch-{n}b</guid>
<pubDate>Mon, 0{n} Jun 2025 08:00:00 GMT</pubDate></item>
</channel></rss>"""


def _ocds_page(files: tuple[str, ...], next_url: str | None) -> bytes:
    releases = []
    for name in files:
        releases.append(json.loads((MOLDOVA / name).read_text(encoding="utf-8")))  # bare releases upstream
    package: dict[str, Any] = {"uri": "https://feeds.example/moldova", "version": "1.1", "releases": releases}
    if next_url:
        package["links"] = {"next": next_url}
    return json.dumps(package).encode()


class Feeds:
    def __init__(self) -> None:
        examples = ROOT / "examples" / "tenders"
        self.bodies = {
            "/ocds/page1.json": _ocds_page(PAGES[0], "page2.json"),  # relative
            "/ocds/page2.json": _ocds_page(PAGES[1], "/ocds/page3.json"),  # absolute path
            "/ocds/page3.json": _ocds_page(PAGES[2], None),
            "/rss/1.xml": RSS_PAGE.format(n=2, next='<atom:link rel="next" href="2.xml"/>').encode(),
            "/rss/2.xml": RSS_PAGE.format(n=1, next="").encode(),
            "/demo/cn.rss": (examples / "cn_procurement.rss").read_bytes(),
        }
        self.server = LocalServer(self.respond)

    def respond(self, seen: Any) -> Reply:
        body = self.bodies.get(seen.path)
        if body is None:
            return Reply(404, b"")
        etag = f'"{len(body)}"'
        if seen.headers.get("if-none-match") == etag:
            return Reply(304, b"")
        return Reply(200, body, {"ETag": etag, "Content-Type": "application/xml" if "rss" in seen.path
                                 else "application/json"})

    def sources(self) -> list[dict[str, Any]]:
        def src(name: str, connector: str, path: str, **config: Any) -> dict[str, Any]:
            return {"name": name, "connector": connector, "config": {"source": name, "feed_url": self.server.url(path),
                                                                      **config}}
        return [src("moldova", "tender_ocds", "/ocds/page1.json", country="MD"),
                src("archive", "tender_rss", "/rss/1.xml"),
                src("demo_cn_rss", "tender_rss", "/demo/cn.rss", country="CN"),
                src("gone", "tender_rss", "/nothing.xml")]


@pytest.fixture
def cli(suite, monkeypatch, tmp_path, capsys):
    from chalicelib import clock, settings
    from infra.cli import main

    monkeypatch.setenv("DEALREG_TENDER_SOURCES", "")  # restored after the test; --sources overwrites it
    monkeypatch.setenv("DEALREG_TENDER_ALLOW_LOOPBACK", "1")
    feeds = Feeds()
    sources = tmp_path / "sources.json"
    with feeds.server:
        sources.write_text(json.dumps(feeds.sources()))

        def run(*argv: str, terminal: bool = True) -> tuple[int, dict[str, Any] | None, str]:
            capsys.readouterr()
            # the progress bar draws on a terminal only (tqdm); capsys's stderr stands in for one
            monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal, raising=False)
            code = main([*argv, "--sources", str(sources)])
            out, err = capsys.readouterr()
            lines = [line for line in out.splitlines() if line.strip()]
            return code, json.loads(lines[-1]) if lines else None, err

        run.feeds = feeds  # type: ignore[attr-defined]
        clock.set_clock(clock.SystemClock())
        yield run
    settings.reset()


def _titles() -> list[str]:
    from chalicelib.store.models import TenderItem

    return sorted(t.title for t in TenderItem.scan())


def test_backfill_follows_ocds_links_next_and_stops_at_since(cli):
    # WHEN backfilling back to May 2017
    code, out, err = cli("feeds", "backfill", "moldova", "--since", "2017-05-01")
    # THEN pages are followed until one is older than the date; older notices are not stored
    assert code == 0 and out is not None
    assert (out["pages"], out["new"], out["older_than_since"], out["error"]) == (3, 4, 2, None)
    assert len(_titles()) == 4 and "Tender Ref 16/03822 Bulletin 1" not in _titles()
    assert "backfill moldova: 100%" in err and "4/4" in err  # the progress bar on stderr
    # WHEN limited to one page THEN it is read again and nothing is duplicated
    code, out, _ = cli("feeds", "backfill", "moldova", "--pages", "1")
    assert (out["pages"], out["new"], out["unchanged"]) == (1, 0, 2)
    # WHEN backfilling everything THEN the oldest page is loaded too
    code, out, _ = cli("feeds", "backfill", "moldova")
    assert (out["pages"], out["new"], out["unchanged"]) == (3, 2, 4)
    assert len(_titles()) == 6 and "Tender Ref 16/03822 Bulletin 1" in _titles()


def test_backfill_given_urls_and_rss_rel_next(cli):
    url = cli.feeds.server.url("/ocds/page3.json")
    code, out, _ = cli("feeds", "backfill", "moldova", "--url", url)
    assert code == 0 and (out["pages"], out["new"]) == (1, 2)  # exactly that page, links not followed
    code, out, _ = cli("feeds", "backfill", "archive")
    assert code == 0 and (out["pages"], out["new"]) == (2, 4)
    assert "Archived notice 1b: cloud hosting" in _titles()


def test_backfill_stores_history_without_alerts_unless_asked(cli, suite):
    from chalicelib.store import tenders as store

    key = make_user("wang", "rep")
    assert suite.api.post("/v1/subscriptions", {"keywords": {"include": ["cloud hosting"]}}, key).status == 201
    cli("feeds", "backfill", "archive", "--pages", "1")
    assert store.alerts_for("wang") == []
    code, out, _ = cli("feeds", "backfill", "archive", "--alerts")
    assert out["new"] == 2 and [a.tender_id for a in store.alerts_for("wang")] != []
    assert len(store.alerts_for("wang")) == 1  # only the page that was new now: notice 1b


def test_poll_one_source_by_hand(cli):
    from chalicelib.store import tenders as store

    code, out, err = cli("feeds", "poll", "demo_cn_rss")
    assert code == 0 and (out["new"], out["updated"], out["error"]) == (5, 0, None)
    assert "poll demo_cn_rss: 100%" in err and "5/5" in err and "new 5, updated 0" in err
    # in a pipe or a log: the summary only, no bar
    code, out, err = cli("feeds", "poll", "demo_cn_rss", terminal=False)
    assert code == 0 and out["error"] is None and "poll demo_cn_rss" not in err
    assert store.feed_state("demo_cn_rss").etag is not None  # the same state the schedule keeps
    # WHEN polled again THEN the conditional GET answers 304 and nothing is stored twice
    code, out, _ = cli("feeds", "poll", "demo_cn_rss")
    assert code == 0 and out["not_modified"] is True and out["new"] == 0
    assert len(_titles()) == 5
    # errors: a source that answers 404 exits 1 with the reason; an unknown name exits 2
    code, out, _ = cli("feeds", "poll", "gone")
    assert code == 1 and out["error"] == "not_found"
    code, out, err = cli("feeds", "poll", "nope")
    assert code == 2 and out is None and "no source 'nope'" in err
    code, out, _ = cli("feeds", "list")
    assert out is not None and out["name"] == "gone" and out["last_error"] == "not_found"
