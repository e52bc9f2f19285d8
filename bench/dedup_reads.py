"""Benchmark (issue 3 item 10a): DynamoDB items read per duplicate check, through the real code path.

Starts the same in-process moto stand-in the tests use, indexes N synthetic customers with
``store.dedup.index_customer`` (what the dedup handler does), then runs the pre-check's read path
(``store.dedup.candidates`` + scoring) for perturbed queries. botocore event hooks on the clients PynamoDB
uses count every item returned (GetItem/BatchGetItem/Query) and the keys requested, and fail on any Scan.
Latency through moto is not meaningful (moto slows down with table size) and is not reported.

Run: ``.venv/bin/python -m bench.dedup_reads --customers 10000 --queries 200``
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "functions"), str(Path(__file__).resolve().parents[1])]


class ReadCounter:
    """botocore hooks: items returned by Query/GetItem and keys requested by BatchGetItem; refuses Scan."""

    def __init__(self) -> None:
        self.items = 0
        self.requested = 0
        self.calls: dict[str, int] = {}

    def before(self, params, model, **_):
        if model.name == "Scan":
            raise AssertionError("a duplicate check must never Scan")
        self.calls[model.name] = self.calls.get(model.name, 0) + 1
        if model.name == "BatchGetItem":
            self.requested += sum(len(t["Keys"]) for t in params.get("RequestItems", {}).values())

    def after(self, http_response, parsed, model, **_):
        if model.name == "Query":
            self.items += len(parsed.get("Items", []))
        elif model.name == "GetItem":
            self.items += 1 if parsed.get("Item") else 0

    def reset(self) -> None:
        self.items = self.requested = 0
        self.calls = {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)

    from infra.local.stack import MotoServer, local_environment, provision
    from infra.local.stack_session import configure_process

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        os.environ[k] = v
    server = MotoServer(port=0).start()
    try:
        env = local_environment(server.url, "dealreg-bench", "us-east-1",
                                provision(server.url, "dealreg-bench", "us-east-1"))
        configure_process(env)
        from bench.dedup_engine import perturb, synthetic
        from chalicelib import clock
        from chalicelib.domain.dedup_keys import exact_keys, name_forms
        from chalicelib.domain.dedup_match import score_candidates
        from chalicelib.domain.dedup_rules import default_rules
        from chalicelib.store import dedup as store
        from chalicelib.store import models

        names_ = synthetic(args.customers)
        # The index is loaded with batch writes of exactly the items store.dedup.index_customer writes
        # (postings up to MAX_POSTINGS per key, one counter per key): moto copies the table for each
        # transaction, so 10k transactional writes time out locally. The read path below is the real one.
        from chalicelib.domain.dedup_match import BlockingIndex
        from chalicelib.store.models import DedupIndexItem

        start = time.perf_counter()
        index = BlockingIndex()
        for name in names_:
            index.add(name, exact_keys(name))
        now = clock.now()
        with DedupIndexItem.batch_write() as batch:
            for key, refs in index.postings.items():
                for r in refs:
                    ref = f"name:{index.forms[r].compact}"
                    batch.save(DedupIndexItem(f"{key}|{ref}", bkey=key, ref=ref, name=names_[r],
                                              keys=list(index.exact[r]), created_at=now))
            for key, n in index.counts.items():
                batch.save(DedupIndexItem(f"#n|{key}", n=n))
        print(f"loaded {len(index.postings)} keys in {time.perf_counter() - start:.0f}s", flush=True)
        # moto answers a GSI Query by walking the whole table, so its latency grows with the table; give it
        # time (the figures here are item counts, not latency).
        models.DedupIndexItem.Meta.read_timeout_seconds = 120
        models.DedupIndexItem._connection = None
        counter = ReadCounter()
        client = models.DedupIndexItem._get_connection().connection.client
        client.meta.events.register("before-parameter-build.dynamodb", counter.before)
        client.meta.events.register("after-call.dynamodb", counter.after)
        rules = default_rules()
        rng = random.Random(3)
        figures = {}
        for path in ("with_exact_keys", "fuzzy_only"):
            rng = random.Random(3)
            items, found = [], 0
            for _ in range(args.queries):
                ref = rng.randrange(len(names_))
                query = perturb(names_[ref], rng)
                counter.reset()
                forms = name_forms(query)
                # fuzzy_only: as if the query shared no exact key (name key, registry id, domain) with anyone
                exact = exact_keys(query) if path == "with_exact_keys" else []
                cands = store.candidates(forms, exact)
                score_candidates(forms, exact, ((c.ref, c.name, c.keys, None) for c in cands), rules)
                items.append(counter.items + counter.requested)  # a requested key costs a read, found or not
                if os.environ.get("DEDUP_BENCH_VERBOSE"):
                    print(query, counter.calls, counter.items, counter.requested, flush=True)
                found += any(c.name == names_[ref] for c in cands)
            figures[path] = {"index_items_read_p50": statistics.median(items),
                             "index_items_read_p95": sorted(items)[int(0.95 * (len(items) - 1))],
                             "index_items_read_max": max(items), "candidate_recall": round(found / args.queries, 4)}
        print({"customers": args.customers, "queries": args.queries, "scans": 0, **figures}, flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
