"""Benchmark (issue 18): DynamoDB items read per pipeline-board and cockpit read, at growing numbers of registrations.

Starts the in-process moto stand-in the tests use (over HTTP), writes N approved registrations straight
into the registrations table (BatchWriteItem of ``store.registrations.to_item``; 3 teams, 5 stages,
2 currencies, 40 partners, histories spread over 12 weeks: review, approval, stage moves, wins, losses,
reclaims, rejections, conflicts), rebuilds the aggregates with the recount (``services.pipeline.recount``,
what ``dealreg pipeline recount`` runs), then answers ``GET /v1/pipeline/board`` and
``GET /v1/pipeline/cockpit`` (12 weeks, 6 months: what the console's cockpit page reads) through the API
routes themselves (in-process, a manager's bearer key) and counts, with botocore hooks, every item each read
returned: the key/user/team look-ups of the authentication and the aggregate cells. For contrast it counts what
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

from botocore.config import Config

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "functions"), str(Path(__file__).resolve().parents[1])]

TEAMS = ("north", "south", "east")
STAGES = ("lead", "qualification", "needs_analysis", "proposal", "negotiation")
CURRENCIES = ("CNY", "USD")


def _registrations(n: int, now):
    """N registrations with histories that fill every cockpit cell: created over the last 11 weeks, 2 days in
    review, then approved (60%, a third of them moved a stage), won, lost, reclaimed or rejected; one in 13
    found in conflict."""
    from datetime import timedelta

    from chalicelib.domain.cockpit import CONFLICT_MARK
    from chalicelib.domain.registration import new_registration
    from schemas.common import Actor, PrincipalKind
    from schemas.registration import (
        AuditEntry,
        RegistrationCreate,
        RegistrationStatus as S,
        SalesStage,
        Source,
    )

    rng = random.Random(18)
    rep, system = Actor(kind=PrincipalKind.USER, id="rep"), Actor(kind=PrincipalKind.SYSTEM, id="system")
    for i in range(n):
        stage = STAGES[i % len(STAGES)]
        payload = RegistrationCreate.model_validate({
            "customer": {"name": f"Bench Customer {i:06d} Ltd"},
            "contacts": [{"name": "Contact", "role": "decision_maker"}],
            "project": {"title": f"Project {i}", "expected_close_date": f"2027-{1 + i % 6:02d}-28",
                        "expected_amount": {"amount": f"{rng.randrange(1_000, 5_000_000)}.00",
                                            "currency": CURRENCIES[i % 2]}},
            "sales_stage": stage})
        created = now - timedelta(days=i % 77, hours=i % 24)
        reg = new_registration(payload, reg_id=f"reg_bench{i:08d}", source=Source.PARTNER if i % 4 == 0 else Source.REP,
                               submitter=Actor(kind=PrincipalKind.USER, id="rep"), team_id=TEAMS[i % 3], now=created)
        audit = list(reg.audit)

        def line(action, at, frm=None, to=None, reason=None, actor=system, audit=audit):
            audit.append(AuditEntry(seq=len(audit) + 1, at=at, actor=actor, action=action, from_status=frm,
                                    to_status=to, reason=reason))

        line("status_changed", created + timedelta(minutes=1), S.SUBMITTED, S.PENDING_REVIEW,
             "dedup: " + CONFLICT_MARK if i % 13 == 0 else "clear")
        fate = i % 10
        decided = created + timedelta(days=rng.randrange(0, 5), hours=2)
        status, sales = S.APPROVED, SalesStage(stage)
        if fate == 9:
            line("status_changed", decided, S.PENDING_REVIEW, S.REJECTED, "not eligible", rep)
            status = S.REJECTED
        else:
            line("status_changed", decided, S.PENDING_REVIEW, S.APPROVED, None, rep)
            at = decided
            if fate in (0, 3, 6) and stage != "negotiation":
                at = decided + timedelta(days=rng.randrange(1, 30))
                nxt = STAGES[STAGES.index(stage) + 1]
                line("stage_changed", at, reason=f"{stage} -> {nxt}", actor=rep)
                sales = SalesStage(nxt)
            if fate in (6, 7, 8):
                end = at + timedelta(days=rng.randrange(1, 40))
                status = {6: S.WON, 7: S.LOST, 8: S.RECLAIMED}[fate]
                line("reclaimed" if fate == 8 else "status_changed", end, S.APPROVED, status, None, rep)
                if fate in (6, 7):
                    sales = SalesStage.CLOSED_WON if fate == 6 else SalesStage.CLOSED_LOST
        yield reg.model_copy(update={"status": status, "owner": Actor(kind=PrincipalKind.USER, id="rep") if status is S.APPROVED else None,
                                     "partner_id": f"partner{i % 40:02d}" if i % 4 == 0 else None,
                                     "sales_stage": sales, "audit": audit, "version": len(audit)})


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
    # the config the shared DynamoDB client is made from (``_Meta`` is read once, at import)
    _models._CLIENT_CONFIG = _models._CLIENT_CONFIG.merge(Config(read_timeout=600))
    rows, cockpit_rows = [], []
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
            from chalicelib.services.pipeline import recount
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
                from chalicelib.domain import board, cockpit
                from chalicelib.services.pipeline import sums
                from chalicelib.store import aggregates

                regs = list(_registrations(size, now))
                aggregates.overwrite({**sums(regs, board.contribution), **sums(regs, cockpit.contribution)},
                                     now=clock.now(), prefixes=("board#", "cockpit#"))
            recount_s = time.perf_counter() - start

            counter = ReadCounter()
            clients = {id(m._get_connection().connection.client): m._get_connection().connection.client
                       for m in (models.AggregateItem, models.ApiKeyItem, models.UserItem, models.TeamItem,
                                 models.RegistrationItem)}
            for client in clients.values():
                client.meta.events.register("before-parameter-build.dynamodb", counter.before)
                client.meta.events.register("after-call.dynamodb", counter.after)
            items, calls, ms = [], [], []
            ck_items, ck_calls, ck_ms = [], [], []
            for _ in range(args.reads):
                counter.reset()
                t0 = time.perf_counter()
                answer = call(app, "GET", "/v1/pipeline/board", key=key)
                ms.append((time.perf_counter() - t0) * 1000)
                assert answer.status == 200, answer.body
                items.append(counter.items + counter.requested)
                calls.append(sum(counter.calls.values()))
                counter.reset()
                t0 = time.perf_counter()
                ck = call(app, "GET", "/v1/pipeline/cockpit", key=key, query={"weeks": "12", "months": "6"})
                ck_ms.append((time.perf_counter() - t0) * 1000)
                assert ck.status == 200, ck.body
                ck_items.append(counter.items + counter.requested)
                ck_calls.append(sum(counter.calls.values()))
            total = sum(c["count"] for c in answer.body["columns"])
            expected = sum(1 for i in range(size) if TEAMS[i % 3] == "north" and i % 10 < 6)
            assert total == expected, (total, expected)
            created = sum(w["new"] for w in ck.body["weeks"])
            assert created == sum(1 for i in range(size) if TEAMS[i % 3] == "north"), created
            cockpit_rows.append((size, statistics.median(ck_items), max(ck_items), statistics.median(ck_calls),
                                 ck.body["cells_read"], statistics.median(ck_ms)))
            print(f"N={size}: cockpit read items median {statistics.median(ck_items)} (max {max(ck_items)}), "
                  f"calls {statistics.median(ck_calls)}, aggregate cells {ck.body['cells_read']}; "
                  f"read median {statistics.median(ck_ms):.1f} ms via moto", flush=True)
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
    print("\n| registrations | items read per cockpit read (median / max) | calls | aggregate cells | read median (moto) |")
    print("|---|---|---|---|---|")
    for size, med, mx, calls, cells, ms in cockpit_rows:
        print(f"| {size:,} | {med:g} / {mx} | {calls:g} | {cells} | {ms:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
