"""Benchmark (issue 3 item 10a): DynamoDB items read per duplicate check, through the real code path.

Starts the same in-process moto stand-in the tests use (over HTTP), loads N synthetic customers into the
blocking index with ``store.dedup.load_empty_index`` (BatchWriteItem of the items the dedup handler's
``index_customer`` writes), then runs the pre-check's read path
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
        elif model.name == "BatchGetItem" and parsed.get("UnprocessedKeys"):
            # retried keys are requested (and counted) again by the retry
            self.requested -= sum(len(t["Keys"]) for t in parsed["UnprocessedKeys"].values())

    def reset(self) -> None:
        self.items = self.requested = 0
        self.calls = {}


def _moto_reads_one_partition() -> None:
    """Make the local stand-in answer a base-table Query from the queried partition.

    moto 5.2 answers every Query by sorting *all* items of the table and filtering them by partition key
    (``Table.all_items``), so each posting-list read costs seconds on a 10k-customer index and the run
    times out. This wrapper hands moto's own ``query`` only the items of the queried partition — the very
    items its filter would keep — so results are unchanged; only the stand-in's speed is. Our code, the
    HTTP traffic and the counted items are untouched. Bench only: tests use moto as is.
    """
    from moto.dynamodb.models.table import Table

    original = Table.query
    if getattr(original, "_one_partition", False):
        return

    def query(self, hash_key, *args, **kwargs):
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        if index_name or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items[hash_key].values()) if hash_key in self.items else []
        self.all_items = lambda: sorted(partition, key=lambda item: item.range_key)
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    query._one_partition = True
    Table.query = query


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
    _moto_reads_one_partition()
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
        from chalicelib.store import dedup as store, models

        names_ = synthetic(args.customers)
        # The index is loaded with store.dedup.load_empty_index: BatchWriteItem of exactly the items
        # index_customer writes one customer at a time (tests/functional/test_dedup_store.py checks they are
        # the same). moto deep-copies the table for every item of a transaction, so 10k transactional writes
        # would take hours locally; the read path measured below is the production one.
        start = time.perf_counter()
        now = clock.now()
        written = store.load_empty_index(
            ((f"name:{name_forms(n).compact}", n, name_forms(n), exact_keys(n)) for n in names_), now=now)
        print(f"loaded {args.customers} customers ({written} items) in {time.perf_counter() - start:.0f}s",
              flush=True)
        counter = ReadCounter()
        client = models.DedupIndexItem._get_connection().connection.client
        client.meta.events.register("before-parameter-build.dynamodb", counter.before)
        client.meta.events.register("after-call.dynamodb", counter.after)
        rules = default_rules()
        figures = {}
        for path in ("with_exact_keys", "fuzzy_only"):
            rng = random.Random(3)
            items, calls, found = [], [], 0
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
                calls.append(sum(counter.calls.values()))
                if os.environ.get("DEDUP_BENCH_VERBOSE"):
                    print(query, counter.calls, counter.items, counter.requested, flush=True)
                found += any(c.name == names_[ref] for c in cands)
            ordered = sorted(items)
            figures[path] = {"index_items_read_p50": statistics.median(items),
                             "index_items_read_p95": ordered[int(0.95 * (len(ordered) - 1))],
                             "index_items_read_max": max(items), "requests_p50": statistics.median(calls),
                             "candidate_recall": round(found / args.queries, 4)}
        print({"customers": args.customers, "queries": args.queries, "scans": 0, **figures}, flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
