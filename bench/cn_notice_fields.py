"""Per-field accuracy of the Chinese labelled-field extraction over our own golden notices.

    .venv/bin/python -m bench.cn_notice_fields [--show-errors]

The notices (``tests/fixtures/cn_notices/golden.json``) were written for dealreg in the styles of several
portal types (ccgp numbered sections, label/value tables, RSS one-liners, 公共资源交易 construction tenders,
【】 aggregators, award, correction, termination and intention notices); each has the fields a reader
finds in it. A field is counted for a notice when the golden states it *or* the extractor returned one
(a value invented where the notice has none is an error too). Each notice goes through the RSS
connector's parse, as an RSS item of a Chinese source, so what is measured is what a poll stores.
"""
from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "cn_notices" / "golden.json"
FIELDS = ("buyer", "agent", "project_code", "value", "deadline", "deadline_kind", "status")


def notices() -> list[dict[str, Any]]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))["notices"]


def rss_of(items: list[dict[str, Any]]) -> bytes:
    """An RSS 2.0 feed with one item per notice (description = the notice HTML)."""
    from xml.sax.saxutils import escape

    parts = ['<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>示例</title>'
             "<link>https://ccgp.example.cn/</link><description>d</description>"]
    for n in items:
        parts.append(f"<item><title>{escape(n['title'])}</title><guid isPermaLink=\"false\">{escape(n['id'])}</guid>"
                     f"<link>https://ccgp.example.cn/{escape(n['id'])}.htm</link>"
                     f"<description>{escape(n['html'])}</description></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def parsed() -> dict[str, Any]:
    """source_id -> Tender, through the RSS connector configured as a Chinese source."""
    from connectors.base import Fetched, split_parsed
    from connectors.tender_feeds import TenderRssConnector

    class _NoHttp:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"parse used http.{name}")

    conn = TenderRssConnector({"source": "cn_golden", "feed_url": "https://ccgp.example.cn/rss",
                               "country": "CN", "language": "zh", "timezone": "Asia/Shanghai"}, _NoHttp())
    tenders, rejected = split_parsed(conn.parse(Fetched(body=rss_of(notices()), url="https://ccgp.example.cn/rss",
                                                        content_type="application/rss+xml; charset=utf-8")))
    assert not rejected, rejected
    return {t.source_id: t for t in tenders}


def actual(tender: Any) -> dict[str, Any]:
    deadline = tender.deadline.strftime("%Y-%m-%dT%H:%M:%SZ") if tender.deadline else None
    status = str(tender.status)
    return {
        "buyer": tender.buyer.name if tender.buyer else None,
        "agent": tender.agent,
        "project_code": tender.project_code,
        "value": tender.value,
        "deadline": deadline,
        "deadline_kind": str(tender.deadline_kind) if tender.deadline_kind else None,
        # A notice with no status word is an open tender; the golden says so only where the notice does.
        "status": status,
    }


def same(field: str, want: Any, got: Any) -> bool:
    if field == "value":
        return want is not None and got is not None and Decimal(str(want)) == Decimal(str(got))
    return want == got


def score(subset: str | None = None) -> tuple[dict[str, list[int]], list[str]]:
    """{field: [right, counted]} and the list of errors (``id field: want != got``); ``subset`` = "dev" or
    "holdout" scores only those notices."""
    by_id = parsed()
    table = {f: [0, 0] for f in FIELDS}
    errors = []
    for n in notices():
        if subset is not None and n.get("set") != subset:
            continue
        got = actual(by_id[n["id"]])
        want = dict(n["expected"])
        want.setdefault("status", "tender")  # no status word: an open notice
        for f in FIELDS:
            w, g = want.get(f), got.get(f)
            if w is None and g is None:
                continue
            table[f][1] += 1
            if same(f, w, g):
                table[f][0] += 1
            else:
                errors.append(f"{n['id']} {f}: want {w!r} got {g!r}")
    return table, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    all_notices = notices()
    tables = {name: score(name) for name in (None, "dev", "holdout")}
    print(f"{len(all_notices)} notices ({sum(n.get('set') == 'holdout' for n in all_notices)} holdout)")
    print("| field | all: right / counted | accuracy | holdout only |")
    print("|---|---|---|---|")
    for f in FIELDS:
        right, counted = tables[None][0][f]
        h_right, h_counted = tables["holdout"][0][f]
        acc = f"{100 * right / counted:.1f} %" if counted else "-"
        print(f"| {f} | {right} / {counted} | {acc} | {h_right} / {h_counted} |")
    right = sum(r for r, _ in tables[None][0].values())
    counted = sum(c for _, c in tables[None][0].values())
    print(f"| all fields | {right} / {counted} | {100 * right / counted:.1f} % | |")
    if args.show_errors:
        print("\n".join(tables[None][1]))


if __name__ == "__main__":
    main()
