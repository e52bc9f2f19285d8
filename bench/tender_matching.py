"""Benchmark: tenders matched per second against 10k and 100k subscriptions, index vs the naive loop.

    .venv/bin/python -m bench.tender_matching [--sizes 10000,100000] [--repeat 3]

Tenders are the real tender notices the connectors read from the shared third-party corpus
(``$DEALREG_CORPORA``, default ``../shared/corpora``: OCDS releases, TED and eForms notices; feedparser's test feeds are left out,
they are not tenders). Subscriptions are generated with a fixed seed from that corpus's own
vocabulary (title words and phrases, Chinese 2-4 character substrings, CPV/UNSPSC/CPC prefixes, buyer
names, regions, value ranges), so that a realistic share of them match. Single process, one core.
The two methods' results are compared on every tender; the run fails if they differ.

Rates are medians over ``--repeat`` runs, twice: wall clock (``time.perf_counter``) and CPU time of this
process (``time.process_time``), the per-core figure that a shared, busy machine disturbs least. Both
exclude ``prepare`` (folding the tender's text once, needed by either method), which is reported apart.
The index remembers its buyer look-ups (``BuyerBlocker.near``); it forgets them before each timed pass, so
every pass pays each buyer's first look-up.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DEALREG_CORPORA") or ROOT.parent / "shared" / "corpora").resolve()


def corpus_tenders() -> list[Any]:
    """Every tender the connectors read from the corpus (deterministic order)."""
    from connectors.base import Fetched, split_parsed
    from connectors.errors import ConnectorError
    from connectors.tender_feeds import TenderOcdsConnector, TenderTedConnector

    out = []
    for path in sorted(CORPUS.rglob("*")):
        rel = path.relative_to(CORPUS).as_posix()
        if not path.is_file() or path.suffix not in (".xml", ".json", ".rdf"):
            continue
        if rel.startswith("ocds/"):
            cls = TenderOcdsConnector
        elif rel.startswith("tenders/") and path.suffix == ".xml":
            cls = TenderTedConnector
        else:
            continue
        connector = cls({"source": "bench", "feed_url": "https://bench.example/f"}, object())  # type: ignore[arg-type]
        try:
            tenders, _ = split_parsed(connector.parse(Fetched(body=path.read_bytes())))
        except ConnectorError:
            continue
        out += tenders
    return out


def make_subscriptions(n: int, tenders: list[Any], seed: int = 6, hit_share: float = 0.03) -> list[Any]:
    """``n`` subscriptions; each term comes from the corpus with probability ``hit_share``, else it is a
    term absent from the corpus (other sectors, buyers, regions), as most of a real subscription base
    has no interest in any one day's tenders."""
    from chalicelib.domain.tender_matching import _WORD, _is_cjk, fold
    from schemas.tender import Subscription

    rng = random.Random(seed)
    words: list[str] = []
    phrases: list[str] = []
    cjk: list[str] = []
    codes: list[str] = []
    buyers: list[str] = []
    regions: list[str] = []
    for t in tenders:
        ws = [w for w in _WORD.findall(fold(t.title)) if len(w) > 3 and not any(_is_cjk(c) for c in w)]
        words += ws
        phrases += [" ".join(ws[i:i + 2]) for i in range(len(ws) - 1)]
        han = "".join(c for c in t.title if _is_cjk(c))
        cjk += [han[i:i + k] for k in (2, 3, 4) for i in range(0, max(0, len(han) - k), 3)]
        codes += t.categories
        if t.buyer:
            buyers.append(t.buyer.name)
        regions += [r for r in (t.country, t.region) if r]
    # Reps subscribe to specific terms: keep corpus words that occur in at most 3 titles, and add a
    # long tail of terms that never occur here (other sectors, other countries), as in real life.
    from collections import Counter

    freq = Counter(words)
    words = sorted(w for w, k in freq.items() if k <= 3)
    cjk = sorted(set(c for c in cjk if len(c) >= 3))
    def synthetic_cjk() -> str:
        return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 4)))

    def synthetic_buyer() -> str:
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(rng.randint(1, 4))]
        return " ".join(words) + rng.choice([" Council", " Authority", " Ltd", "", "市人民医院", "大学"])

    def pick(pool: list[Any], fake: Any) -> Any:
        return rng.choice(pool) if pool and rng.random() < hit_share else fake()

    words = [w for w in words if not w.startswith("zz")]
    subs = []
    for i in range(n):
        kind = rng.random()
        data: dict[str, Any] = {"id": f"sub_{i}", "rep_id": f"rep_{i % 5000}", "created_at": "2024-01-01T00:00:00Z"}
        if kind < 0.7:
            r = rng.random()
            if r < 0.3:
                terms = [pick(cjk, synthetic_cjk) for _ in range(rng.randint(1, 3))]
            elif r < 0.55:
                terms = [pick(phrases, lambda: f"zz{rng.randrange(10**7)} yy{rng.randrange(10**3)}")
                         for _ in range(rng.randint(1, 3))]
            else:
                terms = [pick(words, lambda: f"zz{rng.randrange(10**7)}") for _ in range(rng.randint(1, 3))]
            data["keywords"] = {"include": terms}
            if rng.random() < 0.2:
                data["keywords"]["exclude"] = [rng.choice(words)]
        elif kind < 0.85 and codes:
            code = pick(codes, lambda: f"cpv:{rng.randrange(10**7, 10**8)}")
            cut = rng.randint(min(5, len(code.split(":", 1)[-1])), len(code.split(":", 1)[-1]))
            bare = code.split(":", 1)[-1][:cut]
            data["categories"] = [f"{code.split(':')[0]}:{bare}" if rng.random() < 0.5 else bare]
        elif kind < 0.95 and buyers:
            data["buyers"] = [pick(buyers, synthetic_buyer)]
        else:
            # Region-only subscriptions name a region, not a whole country.
            data["regions"] = [pick([r for r in regions if len(r) > 2], lambda: f"ZZ{rng.randrange(10**4)}")]
        if "regions" not in data and rng.random() < 0.3:
            data["regions"] = [rng.choice(regions)]  # a filter on top of the anchor: narrows, never widens
        if rng.random() < 0.15:
            data["currency"] = rng.choice(["GBP", "EUR", "TWD"])
            data["value_min"] = Decimal(rng.choice([0, 10_000, 100_000]))
            data["value_max"] = Decimal(rng.choice([1_000_000, 10_000_000, 10**9]))
        data["delivery"] = rng.choice(["immediate", "daily_digest"])
        subs.append(Subscription.model_validate(data))
    return subs


def run(sizes: list[int], repeat: int, hit_share: float = 0.03) -> int:
    from chalicelib.domain.tender_matching import Criteria, SubscriptionIndex, naive_match, prepare

    tenders = corpus_tenders()
    prepared = [prepare(t) for t in tenders]
    print(f"python {sys.version.split()[0]}, {len(tenders)} corpus tenders, repeat={repeat} (median), "
          f"hit share {hit_share}")
    t0, c0 = time.perf_counter(), time.process_time()
    for t in tenders:
        prepare(t)
    print(f"prepare (fold + sanitised text, once per tender, either method): "
          f"{len(tenders) / (time.perf_counter() - t0):,.0f} tenders/s wall, "
          f"{len(tenders) / (time.process_time() - c0):,.0f} tenders/s CPU")
    for n in sizes:
        subs = [Criteria.from_subscription(s) for s in make_subscriptions(n, tenders, hit_share=hit_share)]
        t0 = time.perf_counter()
        index = SubscriptionIndex(subs)
        build = time.perf_counter() - t0
        # The long-lived index leaves the GC's generations, so that a full collection during the timed
        # loop does not walk its objects (in the poller it ages into the oldest generation, rarely walked).
        gc.collect()
        gc.freeze()
        index_wall, index_cpu, naive_wall, naive_cpu = [], [], [], []
        for _ in range(repeat):
            index.forget()  # every pass pays each buyer look-up once (the index remembers them between tenders)
            t0, c0 = time.perf_counter(), time.process_time()
            got = [index.match(p) for p in prepared]
            index_wall.append(time.perf_counter() - t0)
            index_cpu.append(time.process_time() - c0)
        naive_tenders = prepared if n <= 10_000 else prepared[:40]
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            ref = [naive_match(subs, p) for p in naive_tenders]
            naive_wall.append(time.perf_counter() - t0)
            naive_cpu.append(time.process_time() - c0)
        if got[: len(ref)] != ref:
            print("MISMATCH between index and naive loop", file=sys.stderr)
            return 1
        gc.unfreeze()
        hits = sum(len(g) for g in got)

        def rate(count: int, times: list[float]) -> str:
            return f"{count / statistics.median(times):,.0f}"

        print(f"{n:>7} subscriptions: index build {build:.2f}s; "
              f"index {rate(len(prepared), index_wall)} tenders/s wall, {rate(len(prepared), index_cpu)} CPU; "
              f"naive loop {rate(len(naive_tenders), naive_wall)} wall, {rate(len(naive_tenders), naive_cpu)} CPU "
              f"(on {len(naive_tenders)} tenders); {hits / len(prepared):.1f} matches/tender; identical: yes")
    return 0


def main() -> int:
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hit-share", type=float, default=0.03,
                        help="share of subscription terms taken from the corpus (the rest never occur)")
    args = parser.parse_args()
    return run([int(s) for s in args.sizes.split(",")], args.repeat, args.hit_share)


if __name__ == "__main__":
    raise SystemExit(main())
