"""CPU of a tender's ``prepare`` and of its two shared text steps (issue 15 items 2 and 4).

    .venv/bin/python -m bench.text_prepare [--repeat 5]

Over the real corpus tenders (``bench.tender_matching.corpus_tenders``): ``prepare`` per tender,
``html_to_text`` of the bodies, ``normalise`` of buyer names and titles; ``names`` results cached (the
tenders repeat, as a feed's buyers do) and with the cache cleared before every call (each name new).
Runs from any checkout (a checkout without a cache reports the same figure twice). Median of ``--repeat``;
"every cache cleared" also empties ``prepare``'s category and place caches (a tender whose buyer, codes and
region were never seen), and the cost of clearing is shown on its own line (it is included in the row above).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path.cwd()


def main() -> int:
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from bench.tender_matching import corpus_tenders
    from chalicelib.domain import names, tender_matching
    from chalicelib.domain.tender_matching import prepare
    from connectors.formats.sanitize import html_to_text

    clear = getattr(getattr(names, "_normalise_cached", None), "cache_clear", lambda: None)
    # Every per-value cache ``prepare`` may use (names, categories, places; absent on older checkouts).
    caches = [getattr(getattr(module, attr, None), "cache_clear", None) for module, attr in (
        (names, "_normalise_cached"), (tender_matching, "_code_prefixes"), (tender_matching, "_places"))]

    def clear_all() -> None:
        for cache_clear in caches:
            if cache_clear is not None:
                cache_clear()
    tenders = corpus_tenders()
    bodies = [t.text for t in tenders if t.text]
    name_list = [t.buyer.name for t in tenders if t.buyer is not None] + [t.title for t in tenders]

    def per_call(items: list, fn, cold=None) -> float:  # type: ignore[type-arg,no-untyped-def]
        runs = []
        for _ in range(args.repeat):
            start = time.process_time()
            for item in items:
                if cold is not None:
                    cold()
                fn(item)
            runs.append((time.process_time() - start) / len(items) * 1e6)
        return statistics.median(runs)

    for t in tenders:
        prepare(t)
    rows = [
        ("prepare per tender, names cached", per_call(tenders, prepare)),
        ("prepare per tender, names cache cleared per tender", per_call(tenders, prepare, cold=clear)),
        ("prepare per tender, every cache cleared per tender", per_call(tenders, prepare, cold=clear_all)),
        ("  (clearing the caches alone)", per_call(tenders, lambda _t: None, cold=clear_all)),
        ("html_to_text per body", per_call(bodies, html_to_text)),
        ("normalise per name, cached", per_call(name_list, names.normalise)),
        ("normalise per name, cache cleared per call", per_call(name_list, names.normalise, cold=clear)),
        # the intake's customer in examples/opportunity.json (its name-key step), never cached
        ("normalise 深圳市腾讯计算机系统有限公司, uncached",
         per_call(["深圳市腾讯计算机系统有限公司"] * 2000, getattr(names, "_normalise", names.normalise))),
    ]
    print(f"{ROOT}: {len(tenders)} tenders, {len(bodies)} bodies, {len(name_list)} names; median of {args.repeat}")
    for label, micros in rows:
        print(f"  {label}: {micros:,.1f} µs ({1e6 / micros:,.0f}/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
