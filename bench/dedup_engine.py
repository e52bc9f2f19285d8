"""Benchmark (issue 3 item 10b): the in-process dedup engine on synthetic Chinese and English names.

Builds ``dedup_match.BlockingIndex`` (production normalisation, keys, caps and plan) over N synthetic
company names, then for perturbed copies of randomly chosen names measures per query: latency of
normalise + candidate selection + rapidfuzz scoring (p50/p95, wall clock and this thread's CPU time),
the index items the plan reads, and candidate recall (is the source name among the candidates?). Brute
force (rapidfuzz WRatio of the normalised query against every normalised name, ``process.extractOne``) is
timed on a few queries beside it.

Run: ``.venv/bin/python -m bench.dedup_engine --sizes 10000 100000 1000000 --queries 500``

With ``--pairs FILE`` (a labelled pairs CSV, as ``dealreg dedup eval`` reads) it measures what the pairwise
eval cannot: whether a pair is *reached* through the index at all. The first names of all pairs are indexed
among ``--filler`` synthetic names; each pair's second name is then checked as production checks a name
(exact keys, blocking keys, ranking, scoring, rules): was its partner a candidate, and was it judged the
same (block or flag)? Figures per ``kind`` column, with the per-query time.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "functions"), str(Path(__file__).resolve().parents[1])]

from chalicelib.domain import names  # noqa: E402
from chalicelib.domain.dedup_keys import name_forms  # noqa: E402
from chalicelib.domain.dedup_match import BlockingIndex  # noqa: E402
from chalicelib.domain.dedup_rules import default_rules  # noqa: E402

# Brand characters: a few hundred common Han characters used in Chinese company names (our choice).
_HAN = ("华中国东方天海山金安泰丰恒信达通明新兴盛宏源鑫昌利嘉德瑞祥和康福润宇博远航智科联创星辰云峰"
        "龙凤江河湖泉林森宁永长隆茂鸿运发展鼎盛汇聚辉煌光耀晨曦蓝天绿洲银河磐石腾飞凯旋锦绣"
        "美佳优品精诚卓越领先合众同心协力建设实业投资控股集团股份贸易商务物流电子信息网络软件"
        "医药生物环保能源电力化工机械制造汽车材料食品服装家居教育文化传媒广告咨询管理服务工程")
_SYLLABLES = ("ka", "lo", "ri", "ta", "ven", "mor", "sel", "dix", "tro", "an", "be", "cor", "dal", "fen",
              "gra", "hol", "ix", "jun", "kel", "lum", "nor", "pra", "qua", "ros", "sun", "tek", "ul", "vis",
              "wen", "xa", "yor", "zen")
_EN_WORDS = ("Systems", "Technologies", "Logistics", "Foods", "Energy", "Capital", "Software", "Motors",
             "Pharma", "Networks", "Materials", "Consulting", "Media", "Robotics", "Devices", "Partners")
_EN_FORMS = ("Inc.", "Ltd", "LLC", "Corporation", "GmbH", "plc", "Co., Ltd.", "S.A.", "AG", "")
_CN_FORMS = ("有限公司", "股份有限公司", "有限责任公司", "集团有限公司")


def _tables():
    # companynameparser's trade and place lists, read from the installed package as the normaliser does.
    trades = [w for w in names._read_lines(names._CNP_TRADE) if 2 <= len(w) <= 4]
    places = [p for p in names._read_lines(names._CNP_PLACE) if p.endswith("市") and len(p) <= 4]
    return trades, places


def synthetic(n: int, seed: int = 7) -> list[str]:
    """N distinct synthetic names, half Chinese (place + 2-3 brand characters + trade + form), half English."""
    rng = random.Random(seed)
    trades, places = _tables()
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        if len(out) % 2 == 0:
            brand = "".join(rng.choice(_HAN) for _ in range(rng.choice((2, 2, 3))))
            name = f"{rng.choice(places) if rng.random() < 0.6 else ''}{brand}{rng.choice(trades)}{rng.choice(_CN_FORMS)}"
        else:
            brand = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
            words = [brand] + ([rng.choice(_SYLLABLES).capitalize() + "a"] if rng.random() < 0.3 else [])
            name = " ".join([*words, rng.choice(_EN_WORDS), rng.choice(_EN_FORMS)]).strip()
        key = name_forms(name).compact
        if key and key not in seen:
            seen.add(key)
            out.append(name)
    return out


def perturb(name: str, rng: random.Random) -> str:
    """A plausible re-typing: legal form dropped or changed, region dropped, branch added, a Latin typo,
    case and spacing changes."""
    cjk = any(names.is_cjk(c) for c in name)
    if cjk:
        choice = rng.randrange(4)
        if choice == 0:
            for form in sorted(_CN_FORMS, key=len, reverse=True):
                if name.endswith(form):
                    return name[: -len(form)]
        if choice == 1:
            return name + "上海分公司"
        if choice == 2:
            return name.replace("有限公司", "有限责任公司", 1) if "有限公司" in name else "北京市" + name
        return "（中国）".join([name[:-4], name[-4:]]) if len(name) > 6 else name
    words = name.split(" ")
    choice = rng.randrange(4)
    if choice == 0:  # a typo in the brand: one letter swapped with its neighbour
        w = words[0]
        i = rng.randrange(1, max(2, len(w) - 1))
        words[0] = w[: i - 1] + w[i] + w[i - 1] + w[i + 1:] if len(w) > 3 else w + "s"
        return " ".join(words)
    if choice == 1:
        return " ".join(words[:-1]) if len(words) > 2 else name.upper()
    if choice == 2:
        return name.upper().replace(" ", "  ")
    return " ".join(words[:-1] + ["Limited"])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(size: int, queries: int, brute: int, seed: int = 11) -> dict:
    names_ = synthetic(size)
    t0 = time.perf_counter()
    index = BlockingIndex()
    for name in names_:
        index.add(name)
    build = time.perf_counter() - t0
    rules = default_rules()
    rng = random.Random(seed)
    picks = [rng.randrange(size) for _ in range(queries)]
    latencies, cpu, reads, hits, flagged = [], [], [], 0, 0
    # One untimed query first: it imports rapidfuzz's process helpers (a warm Lambda has them loaded).
    warm = name_forms(perturb(names_[0], random.Random(0)))
    [index.score_pair(r, warm) for r in index.candidates(warm)[0]]
    for ref in picks:
        query = perturb(names_[ref], rng)
        start, start_cpu = time.perf_counter(), time.thread_time()
        forms = name_forms(query)
        refs, read = index.candidates(forms)
        matches = [(r, index.score_pair(r, forms)) for r in refs]
        cpu.append((time.thread_time() - start_cpu) * 1000)
        latencies.append((time.perf_counter() - start) * 1000)
        reads.append(read)
        hits += ref in refs
        flagged += any(r == ref and s >= rules.fuzzy_floor for r, s in matches)
    out = {"size": size, "build_s": round(build, 1), "queries": queries,
           "p50_ms": round(statistics.median(latencies), 3), "p95_ms": round(_pct(latencies, 0.95), 3),
           # CPU time of this thread: what the query costs, without waiting for a core on a shared machine
           "cpu_p50_ms": round(statistics.median(cpu), 3), "cpu_p95_ms": round(_pct(cpu, 0.95), 3),
           "reads_p50": statistics.median(reads), "reads_max": max(reads),
           "candidate_recall": round(hits / queries, 4), "source_scored_above_floor": round(flagged / queries, 4)}
    if brute:
        from rapidfuzz import fuzz, process

        cores = [f.core for f in index.forms]
        times, found = [], 0
        for ref in picks[:brute]:
            query = name_forms(perturb(names_[ref], random.Random(ref))).core
            start = time.perf_counter()
            best = process.extractOne(query, cores, scorer=fuzz.WRatio)
            times.append(time.perf_counter() - start)
            found += best is not None and best[2] == ref
        out["brute_wratio_s_per_query"] = round(statistics.median(times), 3)
        out["brute_top1_recall"] = round(found / len(times), 3)
    return out


def corpus_reach(path: str, filler: int, seed: int = 7) -> list[dict]:
    """Candidate recall and end-to-end verdicts of the labelled pairs in ``path`` through the index.

    Positive and negative pairs go to two indexes (each: the pairs' first names among the same filler), so
    that a short name that is the first name of a negative pair cannot answer, by its exact key, for the
    same short name checked in a positive pair.
    """
    from chalicelib.domain.dedup_keys import exact_keys
    from chalicelib.domain.dedup_rules import is_duplicate_action
    from infra.dedup_eval import read_labelled

    pairs = read_labelled(path)
    fill = synthetic(filler, seed)
    rules = default_rules()
    rows: dict[tuple[str, int], dict] = {}
    for label in (1, 0):
        index = BlockingIndex()
        refs: dict[str, int] = {}
        for a, _, pair_label, _ in pairs:
            if pair_label == label and a not in refs:
                refs[a] = index.add(a, exact_keys(a))
        for name in fill:
            index.add(name, exact_keys(name))
        for a, b, pair_label, kind in pairs:
            if pair_label != label:
                continue
            start = time.thread_time()
            matches = index.search(b, rules, exact_keys(b))
            elapsed = (time.thread_time() - start) * 1000
            found, _ = index.candidates(name_forms(b), exact_keys(b))
            row = rows.setdefault((kind, label), {"kind": kind, "label": label, "pairs": 0, "candidate": 0,
                                                  "judged_same": 0, "cpu_ms": []})
            row["pairs"] += 1
            row["candidate"] += refs[a] in found
            row["judged_same"] += any(m.ref == str(refs[a]) and m.hit and is_duplicate_action(m.hit.action)
                                      for m in matches)
            row["cpu_ms"].append(elapsed)
    out = []
    for row in rows.values():
        times = row.pop("cpu_ms")
        row["cpu_p50_ms"] = round(statistics.median(times), 3)
        row["cpu_p95_ms"] = round(_pct(times, 0.95), 3)
        out.append(row)
    return sorted(out, key=lambda r: (r["kind"], -r["label"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--brute", type=int, default=5, help="queries timed by brute force (0: skip)")
    parser.add_argument("--pairs", help="labelled pairs CSV: candidate recall through the index instead")
    parser.add_argument("--filler", type=int, default=100_000, help="synthetic names indexed with --pairs")
    args = parser.parse_args(argv)
    if args.pairs:
        for row in corpus_reach(args.pairs, args.filler):
            print(row, flush=True)
        return 0
    for size in args.sizes:
        print(run(size, args.queries, args.brute), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
