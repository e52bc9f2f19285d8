"""Instructions per tender of prepare and match at N subscriptions, counted by valgrind (issue 15 item 4).

    .venv/bin/python -m bench.match_instructions [--size 100000] [--passes 2] [--root DIR ...]

CPU-time rates move ±20 % on the shared 2-core machine; instruction counts do not depend on the load. The
subscriptions are ``bench.tender_matching``'s (seeded, 3 % of terms hitting), indexed and written as one
snapshot by the code of this checkout (outside the count), and the tenders are the corpus tenders, pickled
once: every ``--root`` (this checkout by default; add a ``git archive`` of the code before) decodes the same
snapshot and prepares the same tenders. Under callgrind, each part runs inside its own rarely-used C builtin,
and only the instructions inside those are counted (``--toggle-collect``), divided by passes x tenders:

- match, every buyer look-up paid (``index.forget()`` before each pass, as in ``bench.subscription_index``);
- match with the buyer answers kept (a warm poller whose feeds repeat buyers);
- the buyer blocker's look-ups alone (answers dropped), and the keyword automata alone (``keyword_hits``);
- prepare (names, categories and places cached, as in the passes of ``bench.subscription_index``).
"""
from __future__ import annotations

import argparse
import marshal
import os
import pickle
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import collections, functools, gc, itertools, marshal, pickle, sys
root, data, passes = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path[:0] = [root, root + "/functions"]
from chalicelib.domain.tender_matching import decode_snapshot, prepare
tenders = pickle.load(open(data + "/tenders.pickle", "rb"))
index = decode_snapshot(marshal.load(open(data + "/snapshot.marshal", "rb")))
gc.collect()
gc.freeze()
prepared = [prepare(t) for t in tenders]
for p in prepared:
    index.match(p)
drain = collections.deque(maxlen=0).extend
for _ in range(passes):
    index.forget()
    functools.reduce(lambda a, p: index.match(p), prepared, None)
    drain(itertools.filterfalse(lambda p: index.match(p) is None, prepared))
    drain(itertools.starmap(index.keyword_hits, ((p,) for p in prepared)))
    index.forget()
    near = index._buyer_block.near
    drain(itertools.accumulate(prepared, lambda a, p: near(p.buyer_core) if p.buyer_core else None, initial=None))
    drain(itertools.takewhile(lambda t: prepare(t) is not None, tenders))
"""

PARTS = {
    "functools_reduce": "match, every buyer look-up paid",
    "filterfalse_next": "match, buyer answers kept",
    "accumulate_next": "buyer look-ups alone (answers dropped)",
    "starmap_next": "keyword automata + one-word dict (keyword_hits)",
    "takewhile_next": "prepare",
}


def count(root: Path, data: str, passes: int, tenders: int) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        script = os.path.join(tmp, "child.py")
        Path(script).write_text(CHILD)
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--callgrind-out-file={out}"]
        cmd += [f"--toggle-collect={name}" for name in PARTS]
        subprocess.run([*cmd, sys.executable, script, str(root), data, str(passes)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        report = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], check=True, capture_output=True,
                                text=True).stdout
    found: dict[str, int] = {}
    for line in report.splitlines():
        m = re.match(r"\s*([\d,]+) \(.*?:(\w+) \[", line)
        if m and m.group(2) in PARTS and m.group(2) not in found:
            found[m.group(2)] = int(m.group(1).replace(",", "")) // (passes * tenders)
    return found


def main() -> int:
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--root", action="append", default=[],
                        help="a checkout to count (repeatable; default: this one), e.g. `git archive 62e6451`")
    args = parser.parse_args()

    from bench.tender_matching import corpus_tenders, make_subscriptions
    from chalicelib.domain.tender_matching import Criteria, SubscriptionIndex, encode_snapshot

    tenders = corpus_tenders()
    roots = [Path(r).resolve() for r in args.root] or [ROOT]
    with tempfile.TemporaryDirectory() as data:
        with open(os.path.join(data, "tenders.pickle"), "wb") as f:
            pickle.dump(tenders, f)
        chunks = encode_snapshot(SubscriptionIndex(Criteria.from_subscription(s)
                                                   for s in make_subscriptions(args.size, tenders)))
        with open(os.path.join(data, "snapshot.marshal"), "wb") as f:
            marshal.dump(chunks, f)
        print(f"{args.size:,} subscriptions, {len(tenders)} corpus tenders x {args.passes} passes; "
              "instructions per tender (callgrind)")
        results = {root: count(root, data, args.passes, len(tenders)) for root in roots}
    for name, label in PARTS.items():
        print(f"  {label:50s} " + "  ".join(f"{results[root].get(name, 0):>9,}" for root in roots))
    for root in roots:
        r = results[root]
        print(f"  prepare + match (every look-up paid), {root}: {r['takewhile_next'] + r['functools_reduce']:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
