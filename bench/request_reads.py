"""DynamoDB calls per partner webhook, by operation and table (issue 15 item 6: the partner cache).

In one process: the AWS stand-in (moto server on 127.0.0.1), the app, one partner; N signed webhooks (new
customers) with the partner cache off (``DEALREG_PARTNER_CACHE_SECONDS=0``: what main did) and on (the default,
60 s), counted on the one DynamoDB client every model shares. Calls, not capacity: moto's consumed capacity is
not DynamoDB's.

    .venv/bin/python -m bench.request_reads --webhooks 15
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=15)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from infra.local import stack_session

    suite = stack_session.start(prefix="dealreg-reads")
    from chalice.test import Client

    from chalicelib import settings
    from chalicelib.clock import now
    from chalicelib.store import directory, models
    from connectors.standard_webhooks import sign

    calls: collections.Counter[tuple[str, str]] = collections.Counter()

    def record(model, params, **_):
        calls[(model.name, (params.get("TableName") or "-").removeprefix(f"{suite.prefix}-"))] += 1

    models.connection().client.meta.events.register("before-parameter-build.dynamodb", record)
    body = json.loads((ROOT / "examples" / "opportunity.json").read_text())
    body["data"]["customer"].pop("registry_ids")
    body["timestamp"] = now().strftime("%Y-%m-%dT%H:%M:%SZ")  # the file's is refused once more than a year old
    results = {}
    n = 0
    with Client(suite.app) as client:
        for label, seconds in (("cache off (main)", "0"), ("cache on (60 s)", "60")):
            os.environ["DEALREG_PARTNER_CACHE_SECONDS"] = seconds
            settings.reset()
            directory.forget_partners()
            partner = f"reads{seconds}"  # one partner per run: the pending cap (20) counts per submitter
            secret, _ = directory.create_partner(partner, "Reads partner", now=now())
            calls.clear()
            for _ in range(args.webhooks):
                n += 1
                body["data"]["customer"]["name"] = f"读取测试{n}号科技有限公司"
                body["data"]["external_ref"] = f"READS-{n}"
                raw = json.dumps(body, ensure_ascii=False).encode()
                msg_id, ts = f"msg_reads_{n}", int(time.time())
                r = client.http.post(f"/v1/partners/{partner}/opportunities", body=raw, headers={
                    "content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts),
                    "webhook-signature": sign(secret, msg_id, ts, raw)})
                assert r.status_code == 202, r.body
            results[label] = dict(calls)
    suite.moto.stop()
    keys = sorted({k for per in results.values() for k in per})
    print(f"DynamoDB calls per webhook, {args.webhooks} webhooks each (the API function, warm)")
    print("| operation | table | " + " | ".join(results) + " |")
    print("|---|---|" + "---|" * len(results))
    for op, table in keys:
        print(f"| {op} | {table} | " + " | ".join(f"{per.get((op, table), 0) / args.webhooks:.2f}"
                                                 for per in results.values()) + " |")
    print("| **all** | | " + " | ".join(f"{sum(per.values()) / args.webhooks:.2f}" for per in results.values()) + " |")


if __name__ == "__main__":
    main()
