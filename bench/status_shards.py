"""Benchmark (issue 15 item 6): hot partitions and scans, before and after, in the same run.

For each size N, loads N approved registrations (50 reps, 1 % past due) and N/4 holder counters (10 of them
above a lowered limit) into the moto stand-in the tests use, then reads the same things both ways:

- before: the single-key ``ByStatusIndex`` / ``ByStatusDueIndex`` (still in the table, as deployed stacks keep
  them until a later release) and the holders ``Scan`` the over-limit job made;
- after: the sharded ``ByStatusShardIndex`` / ``ByStatusShardDueIndex`` through ``store.status_index`` and the
  holders' ``ByActiveIndex`` through ``store.holders.above``.

Counted on the shared DynamoDB client (botocore events): calls, items returned, items scanned (a Scan reads
every item whatever its filter), and per index partition key the number of items under it (the hot partition).
Latency through moto says nothing about DynamoDB and is not reported.

Run: ``.venv/bin/python -m bench.status_shards --sizes 1000 20000``
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.config import Config

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "functions"), str(Path(__file__).resolve().parents[1])]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAGE = 50


class Counter:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.returned = 0
        self.scanned = 0

    def before(self, params, model, **_):
        self.calls[f"{model.name} {params.get('IndexName') or params.get('TableName', '').split('-')[-1]}"] += 1

    def after(self, http_response, parsed, model, **_):
        if model.name in ("Query", "Scan"):
            self.returned += len(parsed.get("Items", []))
            self.scanned += int(parsed.get("ScannedCount", 0))

    def snapshot(self) -> dict:
        return {"calls": dict(sorted(self.calls.items())), "items_returned": self.returned,
                "items_scanned": self.scanned}


def load(n: int) -> int:
    from chalicelib.domain import ownership as dom
    from chalicelib.domain.registration import new_registration
    from chalicelib.store.models import HolderItem, RegistrationItem
    from chalicelib.store.registrations import to_item
    from chalicelib.store.status_index import shard_of
    from schemas.common import Actor, PrincipalKind
    from schemas.registration import RegistrationCreate, RegistrationStatus, Source

    rules = dom.OwnershipRules()
    payload = RegistrationCreate.model_validate({
        "customer": {"name": "基准客户有限公司", "country": "CN"},
        "contacts": [{"name": "王磊", "role": "decision_maker"}],
        "project": {"title": "基准项目", "expected_amount": {"amount": "100000.00", "currency": "CNY"},
                    "expected_close_date": "2026-12-31"},
    })
    due = 0
    with RegistrationItem.batch_write() as batch:
        for i in range(n):
            owner = f"rep{i % 50}"
            reg = new_registration(payload, reg_id=f"reg_bench{i:08d}", source=Source.REP,
                                   submitter=Actor(kind=PrincipalKind.USER, id=owner), team_id="south",
                                   now=NOW - timedelta(minutes=i))
            reg = reg.model_copy(update={"status": RegistrationStatus.APPROVED})
            item = to_item(reg)
            item.owner_id, item.owner_kind = owner, "user"
            granted = NOW - timedelta(days=40 if i % 100 == 0 else i % 29)
            due += i % 100 == 0
            timers = dom.stamp_timers(rules, dom.Timers(granted_at=granted, last_activity_at=granted))
            item.granted_at, item.last_activity_at, item.extension_days = granted, granted, 0
            item.due_at, item.due_reason, item.rules_stamp = timers.due_at, timers.due_reason, timers.rules_stamp
            item.version = 2
            batch.save(item)
    with HolderItem.batch_write() as batch:
        for h in range(n // 4):
            pk = f"holder#user:u{h:06d}"
            active = 25 if h < 10 else h % 20  # 10 holders above a limit of 20, the rest at or below it
            batch.save(HolderItem(pk, active=active, load_shard=f"active#{shard_of(pk)}", updated_at=NOW))
    return due


def partitions(counter_attr: str) -> tuple[int, int]:
    """(distinct partition keys of approved items, items under the largest) for ``status`` / ``status_shard``."""
    from chalicelib.store.models import RegistrationItem

    keys = collections.Counter(getattr(i, counter_attr) for i in RegistrationItem.scan(
        attributes_to_get=["id", "status", "status_shard"], page_size=1000))
    return len(keys), max(keys.values())


def measure(counter: Counter, fn) -> dict:
    counter.reset()
    out = fn()
    return {**counter.snapshot(), "answer": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20_000])
    args = parser.parse_args(argv)

    from infra.local.stack import MotoServer, local_environment, provision
    from infra.local.stack_session import configure_process

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        os.environ[k] = v
    os.environ["DEALREG_OWNERSHIP_RULES"] = json.dumps({"reclaim_batch": 100_000})
    from chalicelib.store.models import RegistrationItem

    until = RegistrationItem.due_at <= NOW
    server = MotoServer(port=0).start()
    try:
        for n in args.sizes:
            server.reset()
            env = local_environment(server.url, "dealreg-bench", "us-east-1",
                                    provision(server.url, "dealreg-bench", "us-east-1"))
            configure_process(env)
            from chalicelib.store import holders, models, status_index
            from chalicelib.store.models import HolderItem

            # the config the shared DynamoDB client is made from (``_Meta`` is read once, at import)
            models._CLIENT_CONFIG = models._CLIENT_CONFIG.merge(Config(read_timeout=600))
            models.bind()
            due = load(n)
            counter = Counter()
            client = models.connection().client
            client.meta.events.register("before-parameter-build.dynamodb", counter.before)
            client.meta.events.register("after-call.dynamodb", counter.after)
            row: dict = {"registrations": n, "holders": n // 4, "shards": status_index.shard_count(), "due": due}
            row["partition_keys_before"], row["largest_partition_before"] = partitions("status")
            row["partition_keys_after"], row["largest_partition_after"] = partitions("status_shard")

            def old_page():
                return len(list(RegistrationItem.by_status.query("approved", scan_index_forward=False, limit=PAGE)))

            def new_page():
                return len(status_index.page("created", "approved", forward=False, limit=PAGE)[0])

            def old_due(until=until):
                return len(list(RegistrationItem.by_status_due.query("approved", until, page_size=100)))

            def new_due(until=until):
                found, cursor, total = [], None, 0
                while True:
                    found, cursor = status_index.page("due", "approved", until, forward=True, limit=100,
                                                      cursor=cursor)
                    total += len(found)
                    if cursor is None:
                        return total

            def old_holders():
                # pages of 500: one moto call over thousands of items outlasts the client's 5 s read timeout
                return sum(1 for i in HolderItem.scan(HolderItem.pk.startswith("holder#") & HolderItem.active.exists(),
                                                      page_size=500) if int(i.active) > 20)

            def new_holders():
                return len(holders.above(20))

            def new_holders_default_rules():  # the floor under the shipped rules: admin's limit 0
                from chalicelib.domain import ownership as dom

                return len(holders.above(dom.smallest_limit(dom.OwnershipRules())))

            row["list_page_50"] = {"before": measure(counter, old_page), "after": measure(counter, new_page)}
            row["reclaim_due"] = {"before": measure(counter, old_due), "after": measure(counter, new_due)}
            row["over_limit_holders"] = {"before": measure(counter, old_holders),
                                         "after": measure(counter, new_holders),
                                         "after_default_rules_floor_0": measure(counter, new_holders_default_rules)}
            print(json.dumps(row, ensure_ascii=False), flush=True)
    finally:
        server.stop()
    print(json.dumps({"python": platform.python_version(), "cpus": os.cpu_count(),
                      "load": os.getloadavg()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
