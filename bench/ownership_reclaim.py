"""Benchmark (issue 4 item 6): DynamoDB items read per scheduled reclaim run, as the table grows.

For each size N, loads N approved, owned registrations into the in-process moto stand-in the tests use
(1 % of them past their due time, the rest due within the next 60 days), then runs the real reclaim
(``store.ownership_ops.reclaim_run``, what the 15-minute schedule calls) as a dry run (same reads, no
writes) and, up to ``--write-max``, for real followed by a second run.
botocore event hooks on the clients PynamoDB uses count every item returned by Query/GetItem and every
call by operation, and refuse any Scan. Latency through moto is not reported: moto evaluates a GSI query
by walking the whole table, so its timings say nothing about DynamoDB. The pure domain decision
(``domain.ownership.reclaim``) is timed in process instead.

Run: ``.venv/bin/python -m bench.ownership_reclaim --sizes 1000 10000 50000`` (1 % due), and with
``--due 10`` (the same 10 due items whatever the size: reads must stay flat).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.config import Config

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "functions"), str(Path(__file__).resolve().parents[1])]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class ReadCounter:
    """botocore hooks: items returned per operation (registrations vs other tables); refuses Scan.

    The run is single-threaded, so the table named before a call is the one the next answer is from.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.registration_items = 0
        self.other_items = 0
        self.calls: dict[str, int] = {}
        self._table = ""

    def before(self, params, model, **_):
        # before-parameter-build: ``params`` are the API parameters (TableName, IndexName, ...)
        if model.name == "Scan":
            raise AssertionError("the reclaim run must never Scan")
        self.calls[model.name] = self.calls.get(model.name, 0) + 1
        self._table = params.get("TableName", "")

    def after(self, http_response, parsed, model, **_):
        if model.name == "Query":
            n = len(parsed.get("Items", []))
        elif model.name == "GetItem":
            n = 1 if parsed.get("Item") else 0
        else:
            return
        if self._table.endswith("-registrations"):
            self.registration_items += n
        else:
            self.other_items += n


def _hook(counter: ReadCounter) -> None:
    """Attach the counter to every botocore client PynamoDB uses (models and the transaction connection)."""
    from chalicelib.store import models

    clients = {id(models.connection().client): models.connection().client}
    for model in models.every_model():
        c = model._get_connection().connection.client
        clients[id(c)] = c
    for c in clients.values():
        c.meta.events.register("before-parameter-build.dynamodb", counter.before)
        c.meta.events.register("after-call.dynamodb", counter.after)


def load(n: int, *, due_fraction: float = 0.01, due_count: int | None = None) -> int:
    """Write ``n`` approved registrations held by 50 reps; every 1/due_fraction-th is past due, or, with
    ``due_count``, exactly that many spread over the table (to show reads stay flat as the table grows)."""
    from chalicelib.domain import ownership as dom
    from chalicelib.domain.registration import new_registration
    from chalicelib.store.models import RegistrationItem
    from chalicelib.store.registrations import to_item
    from chalicelib.store.status_index import shard_key
    from schemas.common import Actor, PrincipalKind
    from schemas.registration import RegistrationCreate, RegistrationStatus, Source

    rules = dom.OwnershipRules()
    payload = RegistrationCreate.model_validate({
        "customer": {"name": "基准客户有限公司", "country": "CN"},
        "contacts": [{"name": "王磊", "role": "decision_maker"}],
        "project": {"title": "基准项目", "expected_amount": {"amount": "100000.00", "currency": "CNY"},
                    "expected_close_date": "2026-12-31"},
    })
    every = max(1, n // due_count) if due_count else round(1 / due_fraction)
    due = 0
    with RegistrationItem.batch_write() as batch:
        for i in range(n):
            owner = f"rep{i % 50}"
            reg = new_registration(payload, reg_id=f"reg_bench{i:08d}", source=Source.REP,
                                   submitter=Actor(kind=PrincipalKind.USER, id=owner), team_id="south", now=NOW)
            item = to_item(reg)
            item.status = RegistrationStatus.APPROVED.value
            item.status_shard = shard_key(item.status, item.id)  # issue 15: the sharded status indexes
            item.owner_id, item.owner_kind = owner, "user"
            if i % every == 0 and (due_count is None or due < due_count):
                granted = NOW - timedelta(days=40)  # inactive for 40 days: due 10 days ago
                due += 1
            else:
                granted = NOW - timedelta(days=(i % 29))  # due between tomorrow and 30 days out
            timers = dom.stamp_timers(rules, dom.Timers(granted_at=granted, last_activity_at=granted))
            item.granted_at, item.last_activity_at, item.extension_days = granted, granted, 0
            item.due_at, item.due_reason, item.rules_stamp = timers.due_at, timers.due_reason, timers.rules_stamp
            item.version = 2
            batch.save(item)
    return due


def time_domain(samples: int = 50_000) -> dict:
    """Median cost of the pure reclaim decision and the due-time computation, in process."""
    from chalicelib.domain import ownership as dom
    from schemas.common import Actor, PrincipalKind
    from schemas.registration import RegistrationStatus

    rules = dom.OwnershipRules()
    system = Actor(kind=PrincipalKind.SYSTEM, id="reclaim")
    t = dom.stamp_timers(rules, dom.Timers(granted_at=NOW - timedelta(days=40), last_activity_at=NOW - timedelta(days=40)))
    h = dom.Holding("reg_x", RegistrationStatus.APPROVED, 2, 2, "south", dom.HolderRef("user", "rep1"), t)
    out = {}
    for label, fn in (("reclaim_decision_us", lambda: dom.reclaim(h, now=NOW, rules=rules, system=system)),
                      ("compute_due_us", lambda: dom.compute_due(rules, t.granted_at, 0, t.last_activity_at))):
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(samples // 5):
                fn()
            runs.append((time.perf_counter() - start) / (samples // 5) * 1e6)
        out[label] = round(statistics.median(runs), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--write-max", type=int, default=10_000,
                        help="also run the real (writing) reclaim up to this size; moto's transactions copy "
                             "the whole table, so larger sizes are counted with the dry run only")
    parser.add_argument("--due", type=int, default=None,
                        help="a fixed number of due registrations per size instead of 1 %% of the table")
    args = parser.parse_args(argv)

    from infra.local.stack import MotoServer, local_environment, provision
    from infra.local.stack_session import configure_process

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        os.environ[k] = v
    os.environ["DEALREG_OWNERSHIP_RULES"] = json.dumps({"reclaim_batch": 100_000})
    server = MotoServer(port=0).start()
    rows = []
    try:
        for n in args.sizes:
            server.reset()
            env = local_environment(server.url, "dealreg-bench", "us-east-1",
                                    provision(server.url, "dealreg-bench", "us-east-1"))
            configure_process(env)
            from chalicelib.services import ownership as ownership_ops

            # moto copies every table for each TransactWriteItems (its rollback), so a write takes seconds
            # on a big table; give the client room instead of timing out and retrying.
            from chalicelib.store import models

            # the config the shared DynamoDB client is made from (``_Meta`` is read once, at import)
            models._CLIENT_CONFIG = models._CLIENT_CONFIG.merge(Config(read_timeout=600))
            models.bind()
            started = time.perf_counter()
            due = load(n, due_count=args.due)
            load_s = time.perf_counter() - started
            counter = ReadCounter()
            _hook(counter)
            # The dry run reads exactly what a real run reads (the due page(s) of ByStatusShardDueIndex); a real
            # run adds only the writes. Both are counted where moto's transaction cost allows the writes.
            dry = ownership_ops.reclaim_run(now=NOW, dry_run=True)
            row = {"registrations": n, "due": due, "listed_by_dry_run": len(dry.reclaimed),
                   "dry_run_registration_items_read": counter.registration_items,
                   "dry_run_calls": dict(sorted(counter.calls.items())), "load_seconds": round(load_s, 1)}
            # Sharded (issue 15): a page merges the shards, so a page boundary may re-read a few items per shard.
            assert row["listed_by_dry_run"] == due and row["dry_run_registration_items_read"] >= due, row
            if n <= args.write_max:
                counter.reset()
                first = ownership_ops.reclaim_run(now=NOW)
                row["run"] = {"reclaimed": len(first.reclaimed), "registration_items_read": counter.registration_items,
                              "other_items_read": counter.other_items, "calls": dict(sorted(counter.calls.items()))}
                counter.reset()
                second = ownership_ops.reclaim_run(now=NOW)
                row["second_run"] = {"reclaimed": len(second.reclaimed),
                                     "registration_items_read": counter.registration_items,
                                     "calls": dict(sorted(counter.calls.items()))}
                assert row["run"]["reclaimed"] == due and row["run"]["registration_items_read"] >= due, row
                assert row["second_run"]["reclaimed"] == 0, row
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    finally:
        server.stop()
    print(json.dumps({"domain": time_domain(), "python": platform.python_version(), "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
