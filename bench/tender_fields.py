"""Per-field accuracy of the tender connectors over real notices nobody here wrote.

    .venv/bin/python -m bench.tender_fields [--show-errors]

Corpus: ``../shared/corpora/real_tenders/`` (``DEALREG_CORPORA`` moves it; see its SOURCES.md): OCDS
publishers, TED forms (R2.0.9 and the R2.0.8 defence forms), eForms contract and award notices, a page of
Spain's PLACSP Atom + CODICE feed, a saved PLACSP portal list page with one detail page. Goldens:
``tests/fixtures/real_tenders/golden.json``, written by reading the files. Every file goes through its
connector's ``parse`` (no I/O; the HTML detail page is handed in as the page its row links to).

Counted per field only where the golden states it (the field is present in the file): title, buyer,
deadline (UTC, to the second), value + currency (both must match), categories (CPV/UNSPSC set), status.
A file whose parse raises a connector error is a *refusal*; any other exception a *crash*.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real_tenders" / "golden.json"
FIELDS = ("title", "buyer", "deadline", "value", "categories", "status")


def corpus_root() -> Path:
    import os

    configured = os.environ.get("DEALREG_CORPORA")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "corpora"
    return root / "real_tenders"


def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))["files"]


class _NoHttp:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"parse used http.{name}")


def parse_file(root: Path, rel: str, spec: dict[str, Any]) -> list[Any]:
    """The tenders ``parse`` yields for one corpus file (raises what parse raises)."""
    from connectors import REGISTRY
    from connectors.base import Fetched, split_parsed
    from connectors.formats import html as html_format
    from connectors.tender_feeds import HtmlPages

    cls = REGISTRY[spec["connector"]]
    config = spec.get("config") or {"source": "real_corpus", "feed_url": "https://feeds.example.org/feed"}
    connector = cls(config, _NoHttp())
    body = (root / rel).read_bytes()
    url = config["feed_url"]
    if spec["connector"] == "tender_html":
        rows = html_format.parse_list(body, base_url=url, selectors=connector.config.list)
        details = []
        for code, detail_rel in (spec.get("details") or {}).items():
            link = next((r["url"] for r in rows if r.get("project_code") == code), None)
            if link is None:
                continue  # the list does not show this row: its detail page has nothing to join
            details.append(Fetched(body=(root / detail_rel).read_bytes(), url=link, content_type="text/html"))
        raw: Fetched = HtmlPages(body=body, url=url, content_type="text/html", details=tuple(details))
    else:
        raw = Fetched(body=body, url=url, content_type=None)
    tenders, _rejected = split_parsed(connector.parse(raw))
    return tenders


def every_tender(root: Path) -> list[Any]:
    """Every tender ``parse`` yields from the golden files (a file it refuses yields none; ``run`` counts those)."""
    from connectors.errors import ConnectorError

    out: list[Any] = []
    for rel, spec in sorted(golden().items()):
        try:
            out += parse_file(root, rel, spec)
        except ConnectorError:
            continue
    return out


def _norm(text: Any) -> Any:
    return " ".join(str(text).split()) if text is not None else None


def actual(t: Any) -> dict[str, Any]:
    return {
        "title": _norm(t.title),
        "buyer": _norm(t.buyer.name) if t.buyer else None,
        "deadline": t.deadline.strftime("%Y-%m-%dT%H:%M:%SZ") if t.deadline else None,
        "value": [t.value, t.currency] if t.value is not None else None,
        "categories": sorted(set(t.categories)),
        "status": str(t.status),
    }


def same(field: str, want: Any, got: Any) -> bool:
    if got is None:
        return False
    if field == "value":
        return Decimal(str(want[0])) == Decimal(str(got[0])) and want[1] == got[1]
    if field == "categories":
        return sorted(set(want)) == got
    if field in ("title", "buyer"):
        return _norm(want) == got
    return want == got


def run(root: Path | None = None) -> dict[str, Any]:
    """Score every golden file. Returns ``{"table": {field: [right, counted]}, "by_format": ..., "errors",
    "crashes", "refusals", "files", "tenders_parsed"}``."""
    from connectors.errors import ConnectorError

    root = root or corpus_root()
    table = {f: [0, 0] for f in FIELDS}
    by_format: dict[str, dict[str, list[int]]] = defaultdict(lambda: {f: [0, 0] for f in FIELDS})
    errors: list[str] = []
    crashes: list[str] = []
    refusals: list[str] = []
    parsed_total = 0
    files = golden()
    for rel, spec in sorted(files.items()):
        fmt = rel.split("/")[0]
        try:
            tenders = parse_file(root, rel, spec)
        except ConnectorError as exc:
            refusals.append(f"{rel}: {exc.reason}")
            tenders = []
        except Exception as exc:  # noqa: BLE001 - counted as a crash, the bench goes on
            crashes.append(f"{rel}: {type(exc).__name__}: {exc}")
            tenders = []
        parsed_total += len(tenders)
        key = spec.get("key", "source_id")
        by_key = {getattr(t, key): t for t in tenders}
        for tid, want in spec["tenders"].items():
            got = actual(by_key[tid]) if tid in by_key else {}
            for field, value in want.items():
                ok = same(field, value, got.get(field))
                for tab in (table, by_format[fmt]):
                    tab[field][1] += 1
                    tab[field][0] += ok
                if not ok:
                    errors.append(f"{rel} [{tid[-40:]}] {field}: want {value!r} got {got.get(field)!r}")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.suffix != ".md"}
    detail_files = {d for spec in files.values() for d in (spec.get("details") or {}).values()}
    return {"table": table, "by_format": dict(by_format), "errors": errors, "crashes": crashes,
            "refusals": refusals, "files": len(files), "tenders_parsed": parsed_total,
            "unscored_files": sorted(present - set(files) - detail_files)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    result = run()
    table = result["table"]
    print(f"{result['files']} files, {result['tenders_parsed']} tenders parsed, "
          f"{sum(len(s['tenders']) for s in golden().values())} tenders with goldens; "
          f"crashes {len(result['crashes'])}, whole-file refusals {len(result['refusals'])}")
    formats = sorted(result["by_format"])
    print("| field | right / counted | accuracy | " + " | ".join(formats) + " |")
    print("|---|---|---|" + "---|" * len(formats))
    for field in FIELDS:
        right, counted = table[field]
        cells = []
        for fmt in formats:
            r, c = result["by_format"][fmt][field]
            cells.append(f"{r}/{c}" if c else "-")
        print(f"| {field} | {right} / {counted} | {100 * right / counted:.1f} % | " + " | ".join(cells) + " |")
    right = sum(r for r, _ in table.values())
    counted = sum(c for _, c in table.values())
    print(f"| all fields | {right} / {counted} | {100 * right / counted:.1f} % |")
    for line in result["crashes"] + result["refusals"]:
        print("!!", line)
    if result["unscored_files"]:
        print("files without goldens:", ", ".join(result["unscored_files"]))
    if args.show_errors:
        print("\n".join(result["errors"]))


if __name__ == "__main__":
    main()
