"""Cost of one DynamoDB Query in the local stand-in, by table size, with and without ``infra.local.moto_index``.

moto 5.2.5 answers a Query (table or index) by sorting and testing every item of the table; the patch hands it
one partition or one index bucket. Each configuration runs in a fresh interpreter against moto's in-process
backend (no HTTP, no lock): a table of S items spread over S/10 partitions with a GSI whose hash key has S/5
values (like dedup postings and their index), then R queries of each kind.

    .venv/bin/python -m bench.moto_query [--sizes 1000 10000 50000] [--rounds 20]
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
import json, os, sys, time
for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ[k] = "testing"
size, rounds, patched = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
from moto import mock_aws
import boto3
if patched:
    from infra.local import moto_index
    moto_index.install()
with mock_aws():
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g")],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                     GlobalSecondaryIndexes=[{"IndexName": "ByG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                              "Projection": {"ProjectionType": "ALL"}}])
    for start in range(0, size, 25):
        ddb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {
            "pk": {"S": f"p{i % (size // 10)}"}, "sk": {"S": f"s{i}"}, "g": {"S": f"g{i % (size // 5)}"},
            "name": {"S": "深圳市腾讯计算机系统有限公司" + str(i)}}}} for i in range(start, min(size, start + 25))]})
    def timed(**kw):
        t0 = time.perf_counter()
        n = len(ddb.query(TableName="t", **kw)["Items"])
        return (time.perf_counter() - t0) * 1000, n
    index = [timed(IndexName="ByG", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": f"g{r}"}})
             for r in range(rounds)]
    table = [timed(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": f"p{r}"}})
             for r in range(rounds)]
    print(json.dumps({"index_ms": [t for t, _ in index], "table_ms": [t for t, _ in table],
                      "index_items": index[0][1], "table_items": table[0][1]}))
"""


def run(size: int, rounds: int, patched: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(size), str(rounds), "1" if patched else "0"],
                         cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)
    print(f"# one Query, moto in-process; {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| table items | index query: moto 5.2.5 / patched (median ms) | table query: moto 5.2.5 / patched "
          "(median ms) | items answered (index / table) |")
    print("|---|---|---|---|")
    med = statistics.median
    for size in args.sizes:
        plain, fixed = run(size, args.rounds, False), run(size, args.rounds, True)
        assert (plain["index_items"], plain["table_items"]) == (fixed["index_items"], fixed["table_items"])
        print(f"| {size:,} | {med(plain['index_ms']):.1f} / {med(fixed['index_ms']):.1f} | "
              f"{med(plain['table_ms']):.1f} / {med(fixed['table_ms']):.1f} | "
              f"{fixed['index_items']} / {fixed['table_items']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
