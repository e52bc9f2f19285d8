"""Benchmark (issue 15 item 5): DynamoDB write units per new customer the dedup index costs.

Loads ``--preload`` synthetic names (``bench.dedup_engine.synthetic``: half Chinese, half English) into the
blocking index with ``store.dedup.load_empty_index``, then indexes the next ``--customers`` names one at a time
through ``store.dedup.index_customer`` (what the dedup consumer does), each with its exact keys, and counts the
write units of every write request it makes (botocore hooks, from the requests themselves, not timing):
a put costs one unit per KB of its item (BatchWriteItem: per item), an update or delete one, each item of a
``TransactWriteItems`` two (DynamoDB's transactional price). Failed conditional writes are counted (DynamoDB
charges them). Also: items the indexing reads (Query items scanned, BatchGetItem/GetItem items returned),
requests by operation, transaction cancellations, and a redelivery of each customer (must write nothing).

Run: ``.venv/bin/python -m bench.dedup_writes --preload 2000 --customers 200`` (``--judging-heads``: the heads read
as ``services.dedup.judge`` reads them, once with the candidates', ``store.dedup.judging_heads``). It imports ``store.dedup`` from
the tree it lives in, so the same file copied into an older checkout measures that checkout's code.

``--model`` (no AWS stand-in, any size): the units both layouts spend on the same names, from the key
counts alone — the old transaction (2 units for each of: the marker, a counter per key, a posting per key
under the cap) and the new writes (a head per new key, a posting per known key that is not full, a mark per
change, the marker; ``tests/functional/test_dedup_store.py`` checks this sum against the counted requests).
moto loads a large index too slowly for the measured run on a shared machine, so large indexes use this.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "functions"), str(Path(__file__).resolve().parents[1])]


def item_size(attrs: dict) -> int:
    """An item's DynamoDB size in bytes from its wire form: attribute names plus values (a number counted as
    its digits, an upper bound)."""
    total = 0
    for name, value in attrs.items():
        ((kind, v),) = value.items()
        total += len(name.encode()) + (len(str(v).encode()) if kind in ("S", "N") else 1)
    return total


def _units(attrs: dict) -> int:
    return -(-item_size(attrs) // 1024)


class WriteCounter:
    """Write units and operations of the DynamoDB write requests made on one client."""

    def __init__(self) -> None:
        self.units = 0
        self.operations: Counter[str] = Counter()
        self.cancelled = 0
        self.conditional_failures = 0
        self.items_read = 0

    def before(self, params, model, **_) -> None:
        name = model.name
        if name == "PutItem":
            self.units += _units(params["Item"])
        elif name in ("UpdateItem", "DeleteItem"):
            self.units += 1
        elif name == "BatchWriteItem":
            self.units += sum(_units(r["PutRequest"]["Item"]) if "PutRequest" in r else 1
                              for requests in params["RequestItems"].values() for r in requests)
        elif name == "TransactWriteItems":
            self.units += 2 * len(params["TransactItems"])
        else:
            return
        self.operations[name] += 1

    def after(self, parsed, model, **_) -> None:
        if model.name == "Query":
            self.items_read += parsed.get("ScannedCount", 0)
        elif model.name == "BatchGetItem":
            self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif model.name == "GetItem":
            self.items_read += 1 if parsed.get("Item") else 0
        code = parsed.get("Error", {}).get("Code", "")
        if code == "TransactionCanceledException":
            self.cancelled += 1
        elif code == "ConditionalCheckFailedException":
            self.conditional_failures += 1

    def register(self, client) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self.before)
        client.meta.events.register("after-call.dynamodb", self.after)


def _figures(values: list[int]) -> dict:
    ordered = sorted(values)
    return {"p50": statistics.median(ordered), "p90": ordered[int(0.9 * (len(ordered) - 1))],
            "p95": ordered[int(0.95 * (len(ordered) - 1))], "max": ordered[-1],
            "mean": round(statistics.mean(ordered), 1), "share_le_25": round(sum(v <= 25 for v in ordered) / len(ordered), 3)}


def model(preload: int, customers: int) -> dict:
    """Write units per new customer of the old and the new layout, from key counts (see the module doc)."""
    from bench.dedup_engine import synthetic
    from chalicelib.domain.dedup_keys import exact_keys, name_forms
    from chalicelib.domain.dedup_match import FULL, MAX_POSTINGS, count_mark, stored_keys

    counts: dict[str, int] = {}
    old: dict[str, list[int]] = {"all": [], "chinese": [], "latin": []}
    new: dict[str, list[int]] = {"all": [], "chinese": [], "latin": []}
    kinds: dict[str, dict[str, int]] = {"chinese": {}, "latin": {}}
    for i, name in enumerate(synthetic(preload + customers)):
        forms = name_forms(name)
        keys = stored_keys(forms, exact_keys(name))
        before = [counts.get(k, 0) for k in keys]
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
        if i < preload:
            continue
        script = "chinese" if forms.script == "cjk" else "latin"
        units_old = 2 * (1 + len(keys) + sum(c < MAX_POSTINGS for c in before))
        per_key = [1 if c == 0 else (1 + (count_mark(c + 1) != count_mark(c))) if count_mark(c) < FULL else 0
                   for c in before]
        units_new = 1 + sum(per_key)
        for bucket in ("all", script):
            old[bucket].append(units_old)
            new[bucket].append(units_new)
        for key, units in zip(keys, per_key, strict=True):
            kinds[script][key[:2]] = kinds[script].get(key[:2], 0) + units
        kinds[script]["marker"] = kinds[script].get("marker", 0) + 1
    # where the units go: mean units per new customer by key kind (x: exact keys, g: CJK bigrams, …)
    by_kind = {script: {k: round(v / max(1, len(new[script])), 2) for k, v in sorted(per.items())}
               for script, per in kinds.items()}
    return {"preload": preload, "customers": customers,
            **{f"old_{k}": _figures(v) for k, v in old.items()}, **{f"new_{k}": _figures(v) for k, v in new.items()},
            "new_units_by_key_kind": by_kind}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preload", type=int, default=2_000, help="names already in the index")
    parser.add_argument("--customers", type=int, default=200, help="new names indexed one at a time")
    parser.add_argument("--model", action="store_true", help="count from the key counts, without AWS")
    parser.add_argument("--judging-heads", action="store_true",
                        help="index as a judgement does: the heads read first with the candidates' "
                             "(store.dedup.judging_heads; its reads count, its single BatchGetItem too)")
    args = parser.parse_args(argv)
    if args.model:
        for key, value in model(args.preload, args.customers).items():
            print(key, value)
        return 0

    from bench.dedup_reads import _moto_reads_one_partition
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
        from bench.dedup_engine import synthetic
        from chalicelib import clock
        from chalicelib.domain.dedup_keys import exact_keys, name_forms
        from chalicelib.store import dedup as store, models

        names = synthetic(args.preload + args.customers)
        now = clock.now()
        entries = [(f"name:{name_forms(n).compact}", n, name_forms(n), exact_keys(n)) for n in names]
        store.load_empty_index(entries[:args.preload], now=now)
        counter = WriteCounter()
        counter.register(models.DedupIndexItem._get_connection().connection.client)
        units: dict[str, list[int]] = {"all": [], "chinese": [], "latin": []}
        reads: list[int] = []
        redelivered = 0
        for key, name, forms, exact in entries[args.preload:]:
            before, read_before = counter.units, counter.items_read
            heads = store.judging_heads(key, forms, exact) if args.judging_heads else None
            store.index_customer(key, name, forms, exact, now=now, heads=heads)
            spent = counter.units - before
            reads.append(counter.items_read - read_before)
            units["all"].append(spent)
            units["chinese" if forms.script == "cjk" else "latin"].append(spent)
            before = counter.units
            store.index_customer(key, name, forms, exact, now=now)  # an SQS redelivery
            redelivered += counter.units - before
        print({"preload": args.preload, "customers": args.customers, "judging_heads": args.judging_heads,
               **{f"write_units_{k}": _figures(v) for k, v in units.items() if v},
               "items_read_while_indexing": _figures(reads), "redelivery_write_units_total": redelivered, "requests": dict(counter.operations),
               "transactions_cancelled": counter.cancelled, "conditional_failures": counter.conditional_failures},
              flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
