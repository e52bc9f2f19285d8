"""Cost of one 99-item TransactWriteItems in the local stand-in, by table size, with and without the patch.

moto 5.2.5 deep-copies the whole table once per operation of a transaction before running it
(``infra.local.stack._snapshot_only_touched_items`` replaces that with a copy of each touched item). Each
configuration runs in a fresh interpreter against moto's in-process backend (no HTTP, no lock), so the
figures are the backend's own work: a table of S items (like dedup postings), then R transactions of 99
puts that succeed and R that are cancelled by a failed condition on their last item.

    .venv/bin/python -m bench.moto_transactions [--sizes 1000 5000 20000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = r"""
import json, sys, time, os
for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ[k] = "testing"
size, rounds, patched = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
import resource
from moto import mock_aws
import boto3
if patched:
    from infra.local.stack import _fix_cancelled_transaction_streams, _snapshot_only_touched_items
    assert _snapshot_only_touched_items()
    _fix_cancelled_transaction_streams()
with mock_aws():
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    for start in range(0, size, 25):
        ddb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {
            "pk": {"S": f"k{i % 997}"}, "sk": {"S": f"name:{i}"}, "name": {"S": "深圳市腾讯计算机系统有限公司" + str(i)},
            "n": {"N": "1"}}}} for i in range(start, min(size, start + 25))]})
    def tx(r, cancel):
        items = [{"Put": {"TableName": "t", "Item": {"pk": {"S": f"new{r}"}, "sk": {"S": f"{cancel}:{j}"}}}}
                 for j in range(98)]
        items.append({"Put": {"TableName": "t", "Item": {"pk": {"S": "k1"}, "sk": {"S": "name:1"}},
                              **({"ConditionExpression": "attribute_not_exists(pk)"} if cancel else {})}})
        t0 = time.perf_counter()
        try:
            ddb.transact_write_items(TransactItems=items)
        except ddb.exceptions.TransactionCanceledException:
            pass
        return (time.perf_counter() - t0) * 1000
    ok = [tx(r, False) for r in range(rounds)]
    cancelled = [tx(r + rounds, True) for r in range(rounds)]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ok_ms": ok, "cancelled_ms": cancelled, "max_rss_mb": peak}))
"""


def run(size: int, rounds: int, patched: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(size), str(rounds), "1" if patched else "0"],
                         cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"# 99-item TransactWriteItems, moto in-process; {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| table items | moto 5.2.5 ok / cancelled (median ms) | patched ok / cancelled (median ms) | "
          "max RSS MiB moto / patched |")
    print("|---|---|---|---|")
    for size in args.sizes:
        plain, fixed = run(size, args.rounds, False), run(size, args.rounds, True)
        med = statistics.median
        print(f"| {size:,} | {med(plain['ok_ms']):.0f} / {med(plain['cancelled_ms']):.0f} | "
              f"{med(fixed['ok_ms']):.0f} / {med(fixed['cancelled_ms']):.0f} | "
              f"{plain['max_rss_mb']:.0f} / {fixed['max_rss_mb']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
