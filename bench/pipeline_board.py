"""Benchmark (issue 18): DynamoDB items read per pipeline-board read, at growing numbers of registrations.

Starts the in-process moto stand-in the tests use (over HTTP), writes N approved registrations straight
into the registrations table (BatchWriteItem of ``store.registrations.to_item``; 3 teams, 5 stages,
2 currencies), rebuilds the board with the recount (``handlers.pipeline.recount``, what
``dealreg pipeline recount`` runs), then answers ``GET /v1/pipeline/board`` through the API route itself
(in-process, a manager's bearer key) and counts, with botocore hooks, every item the read returned: the
key/user/team look-ups of the authentication and the aggregate cells. For contrast it counts what
reading the team's registrations through ``ByTeamIndex`` (a board without aggregates) returns.
moto latencies grow with table size and are not the service's; the item counts are the figure.

Run: ``.venv/bin/python -m bench.pipeline_board --sizes 1000 50000``
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

TEAMS = ("north", "south", "east")
STAGES = ("lead", "qualification", "needs_analysis", "proposal", "negotiation")
CURRENCIES = ("CNY", "USD")


def _registrations(n: int, now):
    from chalicelib.domain.registration import new_registration
    from schemas.common import Actor, PrincipalKind
    from schemas.registration import RegistrationCreate, RegistrationStatus, Source

    rng = random.Random(18)
    for i in range(n):
        payload = RegistrationCreate.model_validate({
            "customer": {"name": f"Bench Customer {i:06d} Ltd"},
            "contacts": [{"name": "Contact", "role": "decision_maker"}],
            "project": {"title": f"Project {i}", "expected_close_date": "2027-06-30",
                        "expected_amount": {"amount": f"{rng.randrange(1_000, 5_000_000)}.00",
                                            "currency": CURRENCIES[i % 2]}},
            "sales_stage": STAGES[i % len(STAGES)]})
        reg = new_registration(payload, reg_id=f"reg_bench{i:08d}", source=Source.REP,
                               submitter=Actor(kind=PrincipalKind.USER, id="rep"), team_id=TEAMS[i % 3], now=now)
        yield reg.model_copy(update={"status": RegistrationStatus.APPROVED,
                                     "owner": Actor(kind=PrincipalKind.USER, id="rep")})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--recount-max", type=int, default=10_000,
                        help="above this size, write the recount's figures directly and skip GSI reads (moto is slow)")
    args = parser.parse_args(argv)

    from bench.dedup_reads import ReadCounter, _moto_reads_one_partition
    from infra.local.stack import MotoServer, local_environment, provision
    from infra.local.stack_session import configure_process, import_app

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        os.environ[k] = v
    _moto_reads_one_partition()
    from chalicelib.store import models as _models

    # moto answers a GSI query by sorting the whole table: at 50k one page takes longer than the service's
    # 5 s read timeout (only the stand-in is slow; the counted items are unaffected). Bench only.
    _models._Meta.read_timeout_seconds = 600
    rows = []
    server = MotoServer(port=0).start()
    for size in args.sizes:
        server.reset()
        if True:  # one stand-in, emptied before each size
            env = local_environment(server.url, "dealreg-bench", "us-east-1",
                                    provision(server.url, "dealreg-bench", "us-east-1"))
            configure_process(env)
            app = import_app()
            from chalicelib import clock
            from chalicelib.console.apicall import call
            from chalicelib.domain.access import Role
            from chalicelib.handlers.pipeline import recount
            from chalicelib.store import directory, models
            from chalicelib.store.models import RegistrationItem
            from chalicelib.store.registrations import to_item

            now = clock.now()
            directory.create_team("north", "North", now=now)
            key = directory.create_user("boss", "Boss", Role.MANAGER, now=now, team_id="north")
            start = time.perf_counter()
            with RegistrationItem.batch_write() as batch:
                for reg in _registrations(size, now):
                    batch.save(to_item(reg))
            load_s = time.perf_counter() - start
            start = time.perf_counter()
            if size <= args.recount_max:
                counted = recount(now=clock.now(), page_size=2000)
                assert counted == size, (counted, size)
            else:
                # The recount's write half on the registrations just loaded: moto answers each GSI page by
                # sorting the whole table (~25 s a page at 10k), so the recount's read is not run here.
                from chalicelib.domain.board import sums
                from chalicelib.store import aggregates

                aggregates.overwrite(sums(_registrations(size, now)), now=clock.now())
            recount_s = time.perf_counter() - start

            counter = ReadCounter()
            clients = {id(m._get_connection().connection.client): m._get_connection().connection.client
                       for m in (models.AggregateItem, models.ApiKeyItem, models.UserItem, models.TeamItem,
                                 models.RegistrationItem)}
            for client in clients.values():
                client.meta.events.register("before-parameter-build.dynamodb", counter.before)
                client.meta.events.register("after-call.dynamodb", counter.after)
            items, calls, ms = [], [], []
            for _ in range(args.reads):
                counter.reset()
                t0 = time.perf_counter()
                answer = call(app, "GET", "/v1/pipeline/board", key=key)
                ms.append((time.perf_counter() - t0) * 1000)
                assert answer.status == 200, answer.body
                items.append(counter.items + counter.requested)
                calls.append(sum(counter.calls.values()))
            total = sum(c["count"] for c in answer.body["columns"])
            expected = sum(1 for i in range(size) if TEAMS[i % 3] == "north")
            assert total == expected, (total, expected)
            counter.reset()
            naive = sum(1 for _ in RegistrationItem.by_team.query("north")) if size <= args.recount_max else None
            naive_items = counter.items if naive is not None else None
            for client in clients.values():
                client.meta.events.unregister("before-parameter-build.dynamodb", counter.before)
                client.meta.events.unregister("after-call.dynamodb", counter.after)
            rows.append((size, statistics.median(items), max(items), statistics.median(calls),
                         answer.body["cells_read"], naive_items, statistics.median(ms), load_s, recount_s))
            naive_text = (f"without aggregates (ByTeamIndex) {naive_items} items for {naive} registrations"
                          if naive is not None else "ByTeamIndex read not run (moto too slow at this size)")
            print(f"N={size}: board read items median {statistics.median(items)} (max {max(items)}), "
                  f"calls {statistics.median(calls)}, aggregate cells {answer.body['cells_read']}; {naive_text}; "
                  f"read median {statistics.median(ms):.1f} ms via moto; load {load_s:.0f}s, recount {recount_s:.0f}s",
                  flush=True)
    server.stop()
    print("\n| registrations | items read per board read (median / max) | calls | aggregate cells | "
          "items a ByTeamIndex read would return | read median (moto) | recount |")
    print("|---|---|---|---|---|---|---|")
    for size, med, mx, calls, cells, naive, ms, _, rc in rows:
        naive_cell = f"{naive:,}" if naive is not None else "not run"
        print(f"| {size:,} | {med:g} / {mx} | {calls:g} | {cells} | {naive_cell} | {ms:.1f} ms | {rc:.0f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
