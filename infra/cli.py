"""``dealreg``: the operator's command line. Never shipped in a Lambda bundle.

Commands that touch storage use the same settings as the functions (``DEALREG_AWS_ENDPOINT_URL``,
``DEALREG_PREFIX``, AWS credentials); ``--local`` points them at the stand-in ``make run`` starts.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

LOCAL_MOTO_PORT = 4566
LOCAL_PREFIX = "dealreg-local"
STATE_DIR = Path(".dealreg")


def _local_moto_port() -> int:
    """The stand-in's port: ``DEALREG_MOTO_PORT``, as ``make run`` uses it (default 4566)."""
    return int(os.environ.get("DEALREG_MOTO_PORT") or LOCAL_MOTO_PORT)


def _local_api_url() -> str:
    """The local API: ``DEALREG_PORT``, as ``make run`` uses it (default 8000)."""
    return f"http://127.0.0.1:{int(os.environ.get('DEALREG_PORT') or 8000)}"


def _use_local_stack(port: int | None = None) -> None:
    from infra.local.stack import FAKE_CREDENTIALS

    port = port or _local_moto_port()
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["DEALREG_AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    os.environ["DEALREG_PREFIX"] = LOCAL_PREFIX
    # Local mode: registries only on loopback (chalicelib.services.registry_lookup); none enabled unless a command
    # serves the demo ones (infra.local.demo_registries) or DEALREG_REGISTRY_PROVIDERS names one.
    os.environ["DEALREG_LOCAL"] = "1"
    _follow_server_clock()


def _follow_server_clock(state_dir: Path = STATE_DIR) -> None:
    """Use the clock the running ``make run`` uses (``DEALREG_TIME_SCALE``), from ``state_dir/clock.json``."""
    from chalicelib import clock

    path = state_dir / "clock.json"
    if path.exists():
        clock.set_clock(clock.ScaledClock.from_state(json.loads(path.read_text())))


def _storage(args: argparse.Namespace) -> None:
    if getattr(args, "local", False):
        _use_local_stack()
    from chalicelib import settings
    from chalicelib.store import models

    settings.reset()
    models.bind()


def _now():
    from chalicelib import clock

    return clock.now()


# --- dealreg local -------------------------------------------------------------------------------------------

DEMO_TEAM = "channel"  # the demo partner's channel team
DEMO_REVIEWER = "demo-manager"  # manages it, so reviews the demo partner's registrations


def _ensure_demo_partner(state_dir: Path) -> dict:
    """The demo partner (signing secret, API key) and its channel manager, kept in ``state_dir/demo.json``."""
    from chalicelib import settings
    from chalicelib.domain.access import Role
    from chalicelib.store import aws, directory

    demo_file = state_dir / "demo.json"
    wanted_secret = os.environ.get("DEALREG_DEMO_SECRET")
    demo = json.loads(demo_file.read_text()) if demo_file.exists() else None
    if directory.get_team(DEMO_TEAM) is None:
        directory.create_team(DEMO_TEAM, "Channel sales (demo)", now=_now())
    if demo is not None and ("reviewer_key" not in demo or directory.get_user(DEMO_REVIEWER) is None):
        demo = None  # the reviewer's key is only known when it is created: start the demo notes over
    if demo is None or directory.get_partner("demo") is None:
        if directory.get_partner("demo") is not None:  # restored without its local notes: start it over
            from chalicelib.store.models import PartnerItem

            PartnerItem("partner#demo").delete()
            aws.client("secretsmanager").delete_secret(
                SecretId=settings.get().partner_secret_name("demo"), ForceDeleteWithoutRecovery=True)
        secret, key = directory.create_partner("demo", "Demo Partner", now=_now(), secret=wanted_secret,
                                               team_id=DEMO_TEAM)
        demo = {"partner_id": "demo", "secret": secret, "api_key": key}
        if directory.get_user(DEMO_REVIEWER) is not None:
            from chalicelib.store.models import UserItem

            UserItem(f"user#{DEMO_REVIEWER}").delete()
        demo["reviewer_key"] = directory.create_user(DEMO_REVIEWER, "Demo Channel Manager", Role.MANAGER,
                                                     now=_now(), team_id=DEMO_TEAM)
    elif wanted_secret and wanted_secret != demo["secret"]:
        aws.client("secretsmanager").put_secret_value(
            SecretId=settings.get().partner_secret_name("demo"), SecretString=json.dumps({"secrets": [wanted_secret]}))
        demo["secret"] = wanted_secret
    state_dir.mkdir(parents=True, exist_ok=True)
    demo_file.write_text(json.dumps(demo))
    demo_file.chmod(0o600)
    return demo


def _key_hint(key: str | None) -> str:
    return f" (API key {key})" if key else " (its API key is in .dealreg/demo_rep.json)"


def cmd_local(args: argparse.Namespace) -> int:
    import logging

    from infra.local import http_server, persist, stack_session

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    state_dir = Path(args.state_dir)
    if args.reset:
        persist.reset(state_dir)
        (state_dir / "demo.json").unlink(missing_ok=True)
    suite = stack_session.start(moto_port=args.moto_port, prefix=LOCAL_PREFIX, state_dir=state_dir)
    from chalicelib import clock

    scale = float(os.environ.get("DEALREG_TIME_SCALE", "1"))
    clock_file = state_dir / "clock.json"
    if scale != 1:
        scaled = clock.ScaledClock(scale)
        clock.set_clock(scaled)
        state_dir.mkdir(parents=True, exist_ok=True)
        clock_file.write_text(json.dumps(scaled.state()))  # `dealreg … --local` follows this clock
    else:
        clock_file.unlink(missing_ok=True)
    demo = _ensure_demo_partner(state_dir)
    from infra.local import demo_tenders  # issue 6: demo tender feeds from examples/tenders/

    tenders_demo = demo_tenders.start(suite, state_dir)
    from infra.local import demo_registries  # issue 12 item 17: look-ups answer from local demo registries

    registries_demo = demo_registries.start(port=int(os.environ.get("DEALREG_DEMO_REGISTRIES_PORT") or 0))
    server = http_server.create_server(suite.app, "127.0.0.1", args.port)
    persist.durable_answers(suite.app, suite.journal)  # a 202 is answered once the journal on disk holds it
    http_thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    suite.runner.start()
    http_thread.start()
    base = f"http://127.0.0.1:{server.server.server_address[1]}"  # --port 0: the free port the system chose
    print(f"""
dealreg is running (AWS stand-in: moto on {suite.moto.url}; time scale {scale:g}).
  API:            {base}
  Console:        {base}/console/  (log in with the partner's or the manager's API key below)
  Event sources:  {', '.join(s.name for s in [*suite.runner.streams, *suite.runner.queues, *suite.runner.schedules])}
  Demo partner:   id 'demo', API key {demo['api_key']}

Post the example opportunity (signed) — paste into another terminal:
  .venv/bin/dealreg webhook send examples/opportunity.json --partner demo --secret {demo['secret']} --url {base}

Read it back with the id it prints (dedup and the auto-checks move it to pending_review in a moment):
  curl -s -H 'Authorization: Bearer {demo['api_key']}' {base}/v1/registrations/<id>

Approve it as the partner's channel manager ('{DEMO_REVIEWER}'; the review request is in their inbox):
  curl -s -X POST -H 'Authorization: Bearer {demo['reviewer_key']}' -H 'Content-Type: application/json' -d '{{"reason": "looks good"}}' {base}/v1/registrations/<id>/approve

Tenders: demo feeds from examples/tenders/ are served on {tenders_demo.base_url} and polled every 5 minutes
(once now); rep '{tenders_demo.rep_id}' subscribes to 云平台 / cycle lanes{_key_hint(tenders_demo.api_key)}.
  curl -s -H 'Authorization: Bearer {demo['reviewer_key']}' '{base}/v1/tenders?limit=5'

Registries: demo GLEIF / Companies House / 企查查 on {registries_demo.base_url} (never a real one), e.g.
  .venv/bin/dealreg registry lookup 91330106MA2DEA1E7F --local

Notifications arrive in the local inbox: log lines with 'inbox:', and GET {base}/v1/dev/inbox with a
recipient's key shows theirs: the review request (manager key), the decision (partner key), the demo rep's
tender alerts (rep key).
Other dealreg commands reach this stack with --local. Ctrl-C stops everything; data is kept in {state_dir}
(every change journalled there as it happens; a write is answered once it is on disk).
""", flush=True)

    stop = threading.Event()
    # Closing the terminal (SIGHUP) stops the stack like Ctrl-C; a crash or SIGKILL loses no answered write
    # (the API answers once the journal on disk holds it) and at most the last half second of background work
    # (infra.local.persist).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        stop.wait(0.5)
    print("\nstopping…", flush=True)
    tenders_demo.stop()
    suite.runner.stop()
    server.shutdown()
    counts = suite.journal.close()  # the journal folded into the snapshot
    suite.moto.stop()
    print(f"saved {sum(counts.values())} items to {state_dir / persist.SNAPSHOT}", flush=True)
    return 0


# --- webhook send --------------------------------------------------------------------------------------------

def envelope_stamp(when: str, now: float) -> str | None:
    """The envelope ``timestamp`` ``webhook send --timestamp WHEN`` puts in the body (None: the file's own).

    ``today`` (the default) is the start of the current UTC day: the event is recent, so the intake's one-year
    limit never refuses an example file because the calendar moved, and sending the same file with the same
    ``--webhook-id`` again that day sends the same bytes (a replay, not a different body under a used id);
    ``now`` is this second; ``file`` keeps the file's; any other text is sent as it is (ISO 8601 expected)."""
    if when == "file":
        return None
    if when in ("today", "now"):
        at = datetime.fromtimestamp(int(now), UTC)
        return (at if when == "now" else at.replace(hour=0, minute=0, second=0)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return when


def with_envelope_stamp(raw: bytes, stamp: str) -> bytes | None:
    """``raw`` with the value of its top-level ``timestamp`` replaced by ``stamp`` and every other byte kept (the
    file may hold what a re-serialisation would change: 1e-400, key order, spacing); None when ``raw`` is not a
    JSON object with exactly one top-level ``timestamp``."""
    ws = re.compile(r"[ \t\n\r]*")
    decoder = json.JSONDecoder()
    try:
        text = raw.decode("utf-8")
        i = ws.match(text).end()
        if text[i:i + 1] != "{":
            return None
        i = ws.match(text, i + 1).end()
        spans = []
        while text[i:i + 1] == '"':
            key, i = json.decoder.scanstring(text, i + 1)
            i = ws.match(text, i).end()
            if text[i:i + 1] != ":":
                return None
            i = ws.match(text, i + 1).end()
            _, end = decoder.raw_decode(text, i)
            if key == "timestamp":
                spans.append((i, end))
            i = ws.match(text, end).end()
            if text[i:i + 1] == ",":
                i = ws.match(text, i + 1).end()
            elif text[i:i + 1] == "}":
                break
            else:
                return None
        else:
            return None
    except ValueError:  # not UTF-8, not JSON
        return None
    if len(spans) != 1 or ws.match(text, i + 1).end() != len(text):
        return None
    start, end = spans[0]
    return (text[:start] + json.dumps(stamp) + text[end:]).encode()


def cmd_webhook_send(args: argparse.Namespace) -> int:
    from connectors.standard_webhooks import sign

    secret = args.secret or os.environ.get("DEALREG_WEBHOOK_SECRET")
    if not secret:
        print("a signing secret is needed: --secret or DEALREG_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    body = Path(args.file).read_bytes()
    stamp = envelope_stamp(args.timestamp, time.time())
    if stamp is not None:
        stamped = with_envelope_stamp(body, stamp)
        if stamped is None:
            print("no top-level \"timestamp\" to replace: the file is sent as it is", file=sys.stderr)
        body = stamped or body
    msg_id = args.webhook_id or f"msg_{secrets.token_urlsafe(18)}"
    ts = int(time.time())
    req = urllib.request.Request(
        f"{args.url.rstrip('/')}/v1/partners/{args.partner}/opportunities", data=body, method="POST",
        headers={"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts),
                 "webhook-signature": sign(secret, msg_id, ts, body)})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    print(f"HTTP {status} webhook-id={msg_id}")
    print(text)
    return 0 if status < 400 else 1


# --- registry lookup (issue 7) -------------------------------------------------------------------------------

def cmd_registry_lookup(args: argparse.Namespace) -> int:
    """Look one company up in the enabled registries; exit 0 found, 1 not found, 2 bad id, 3 registry down/refused."""
    _storage(args)
    if getattr(args, "local", False):
        from infra.local import demo_registries

        demo_registries.start()  # the same demo registries make run serves, never a real one
    from chalicelib.domain.enrichment import detect_scheme
    from chalicelib.services import registry_lookup
    from connectors.errors import PermanentError, RetryableError
    from schemas.company import CompanyLookupResponse
    from schemas.identifiers import InvalidIdentifierError

    registry_lookup.forget()
    now = _now()
    try:
        if args.name:
            query = args.query
            result = registry_lookup.search_name(query, now=now, country=args.country)
        else:
            try:
                scheme, value = detect_scheme(args.query)
            except InvalidIdentifierError as exc:
                print(f"not a valid USCC, LEI or UK company number ({exc.reason}); use --name for a name", file=sys.stderr)
                return 2
            query = f"{scheme}:{value}"
            result = registry_lookup.lookup_id(scheme, value, now=now, use_cache=not args.no_cache)
    except RetryableError as exc:
        print(f"registry unavailable ({exc.reason}); retry later", file=sys.stderr)
        return 3
    except PermanentError as exc:
        print(f"registry refused the request ({exc.reason})", file=sys.stderr)
        return 3
    answer = CompanyLookupResponse(query=query, found=result.company is not None, company=result.company,
                                   candidates=list(result.candidates), score=result.score, cached=result.cached,
                                   checked_at=now)
    print(json.dumps(answer.model_dump(mode="json", exclude_none=True), ensure_ascii=False, indent=2))
    return 0 if answer.found else 1


# --- schemas -------------------------------------------------------------------------------------------------

def cmd_schemas(args: argparse.Namespace) -> int:
    from infra.openapi import write_all

    changed = write_all(check=args.check)
    for path in changed:
        print(("stale: " if args.check else "wrote ") + str(path))
    return 1 if (args.check and changed) else 0


# --- ownership (issue 4) -------------------------------------------------------------------------------------

def _progress(label: str):
    def show(*counts: int) -> None:
        print(f"\r{label}: " + " / ".join(str(c) for c in counts), end="", file=sys.stderr, flush=True)
    return show


def _operator():
    from schemas.common import Actor, PrincipalKind

    return Actor(kind=PrincipalKind.SYSTEM, id=f"cli:{os.environ.get('USER', 'operator')}")


def cmd_reclaim(args: argparse.Namespace) -> int:
    _storage(args)
    from chalicelib.services import ownership as ownership_ops

    report = ownership_ops.reclaim_run(now=_now(), dry_run=args.dry_run)
    verb = "would reclaim" if args.dry_run else "reclaimed"
    for line in report.reclaimed:
        print(f"{verb} {line['id']} from {line['owner']}: {line['reason']} (due {line['due_at']})")
    print(json.dumps({"examined": report.examined, verb.replace(" ", "_"): len(report.reclaimed),
                      "restamped": report.restamped, "lost_races": report.lost_races, "complete": report.complete}))
    return 0


def cmd_holders_recount(args: argparse.Namespace) -> int:
    _storage(args)
    from chalicelib.services import ownership as ownership_ops

    report = ownership_ops.recount(now=_now(), repair=not args.check, progress=_progress("registrations read"))
    print(file=sys.stderr)
    for key, (stored, actual) in report.drift.items():
        print(f"{key}: counter {stored} -> {actual}")
    print(json.dumps({"registrations": report.registrations, "drifted": len(report.drift),
                      "repaired": report.repaired}))
    return 0


def cmd_holders_offboard(args: argparse.Namespace) -> int:
    _storage(args)
    from chalicelib.domain.ownership import HolderRef, OwnershipError
    from chalicelib.services import ownership as ownership_ops

    if bool(args.to) == bool(args.to_pool):
        print("name a successor with --to USER, or use --to-pool", file=sys.stderr)
        return 2
    kind = "partner" if args.partner else "user"
    try:
        report = ownership_ops.offboard(
            HolderRef(kind, args.holder), HolderRef(args.to_kind, args.to) if args.to else None, _operator(),
            now=_now(), overflow_to_pool=args.overflow_to_pool, progress=_progress("moved"))
    except OwnershipError as exc:
        print(f"\nrefused: {exc}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    print(json.dumps({"moved": report.moved, "to_pool": report.to_pool, "lost_races": report.lost_races}))
    if report.stopped:
        print(f"stopped: {report.stopped}. Raise the limit or pass --overflow-to-pool, then run the same "
              "command again to continue.", file=sys.stderr)
        return 1
    return 0


def cmd_holders_over_limit(args: argparse.Namespace) -> int:
    _storage(args)
    from chalicelib.rules import ownership_rules
    from chalicelib.services import ownership as ownership_ops

    reclaim = args.reclaim or ownership_rules().over_limit == "reclaim"
    for row in ownership_ops.over_limit(now=_now(), reclaim=reclaim):
        print(json.dumps(row))
    return 0


def cmd_ownership_restamp(args: argparse.Namespace) -> int:
    _storage(args)
    from chalicelib.services import ownership as ownership_ops

    state = ownership_ops.restamp(now=_now(), progress=_progress("read / restamped"))
    print(file=sys.stderr)
    print(json.dumps(state))
    return 0


def cmd_status_shards_backfill(args: argparse.Namespace) -> int:
    """Stamp the shard attributes of the sharded status indexes (issue 15); resumable, idempotent."""
    _storage(args)
    from chalicelib.services import status_shards

    state = status_shards.backfill(now=_now(), again=args.again, page_size=args.page_size,
                                   progress=lambda s: print(f"\r{s['table']}: read {s['read']}, stamped "
                                                            f"{s['stamped']}, raced {s['raced']}", end="",
                                                            file=sys.stderr))
    print(file=sys.stderr)
    print(json.dumps(state))
    return 0


# --- dedup eval (issue 3) -------------------------------------------------------------------------------------

def cmd_dedup_eval(args: argparse.Namespace) -> int:
    from infra.dedup_eval import main as dedup_eval

    rules = Path(args.rules).read_text(encoding="utf-8") if args.rules else os.environ.get("DEALREG_DEDUP_RULES")
    print(dedup_eval(args.pairs, rules))
    return 0


def cmd_dedup_migrate_index(args: argparse.Namespace) -> int:
    """Convert a blocking index written before issue 15 item 5 (a counter item per key) to heads with marks."""
    _storage(args)
    from chalicelib.store import dedup as dedup_store

    print(f"converted {dedup_store.migrate_counters()} counters to heads")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dealreg", description="dealreg operator commands")
    sub = p.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="run the whole suite locally on an embedded AWS stand-in")
    local.add_argument("--port", type=int, default=int(os.environ.get("DEALREG_PORT", 8000)))
    local.add_argument("--moto-port", type=int, default=_local_moto_port())
    local.add_argument("--state-dir", default=str(STATE_DIR))
    local.add_argument("--reset", action="store_true", help="start with empty tables")
    local.set_defaults(func=cmd_local)

    def storage_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--local", action="store_true", help="use the stack `make run` started")

    from infra.directory_cli import add_parsers as add_directory_parsers  # teams, users, partners (issue 12)

    add_directory_parsers(sub, _storage, _now, storage_flags)

    webhook = sub.add_parser("webhook").add_subparsers(dest="action", required=True)
    ws = webhook.add_parser("send", help="sign FILE with Standard Webhooks and post it as a partner")
    ws.add_argument("file")
    ws.add_argument("--partner", required=True)
    ws.add_argument("--secret", help="whsec_ secret (or DEALREG_WEBHOOK_SECRET)")
    ws.add_argument("--url", default=_local_api_url(), help="the API (default: 127.0.0.1:$DEALREG_PORT, else 8000)")
    ws.add_argument("--webhook-id", help="reuse an id to replay a delivery")
    ws.add_argument("--timestamp", default="today", metavar="WHEN",
                    help="the envelope's timestamp: today (default: 00:00 UTC today, so a replay the same day sends "
                         "the same bytes), now, file (the file's own, bytes unchanged) or an ISO 8601 time")
    ws.set_defaults(func=cmd_webhook_send)

    dedup = sub.add_parser("dedup").add_subparsers(dest="action", required=True)
    de = dedup.add_parser("eval", help="precision/recall/F1 of the production matcher on labelled name pairs")
    de.add_argument("pairs", nargs="+", help="CSV with a header; columns name,name,label(1 same/0 different)")
    de.add_argument("--rules", help="a rules JSON document (default: DEALREG_DEDUP_RULES, else the shipped rules)")
    de.set_defaults(func=cmd_dedup_eval)
    dm = dedup.add_parser("migrate-index", help="convert the blocking index's old per-key counters to heads "
                                                "(once, after deploying issue 15 item 5; safe to rerun)")
    storage_flags(dm)
    dm.set_defaults(func=cmd_dedup_migrate_index)

    sc = sub.add_parser("schemas", help="regenerate schemas/json/*.json and schemas/openapi.json")
    sc.add_argument("--check", action="store_true", help="exit 1 if the checked-in files are stale")
    sc.set_defaults(func=cmd_schemas)

    registry = sub.add_parser("registry").add_subparsers(dest="action", required=True)
    rl = registry.add_parser("lookup", help="look a company up by USCC / LEI / UK company number (or --name)")
    rl.add_argument("query", help="the identifier (optionally scheme:value), or a name with --name")
    rl.add_argument("--name", action="store_true", help="QUERY is a company name: search and match")
    rl.add_argument("--country", help="ISO country to search first (with --name)")
    rl.add_argument("--no-cache", action="store_true", help="ask the registry even if the answer is cached")
    storage_flags(rl)
    rl.set_defaults(func=cmd_registry_lookup)

    rc = sub.add_parser("reclaim", help="run the ownership reclaim now (what the 15-minute schedule does)")
    rc.add_argument("--dry-run", action="store_true", help="list what would be reclaimed and why; write nothing")
    storage_flags(rc)
    rc.set_defaults(func=cmd_reclaim)

    holders = sub.add_parser("holders").add_subparsers(dest="action", required=True)
    hr = holders.add_parser("recount", help="recount holders from the registrations and repair drift")
    hr.add_argument("--check", action="store_true", help="report drift only")
    storage_flags(hr)
    hr.set_defaults(func=cmd_holders_recount)
    ho = holders.add_parser("offboard", help="离职交接: move all of a holder's registrations (resumable)")
    ho.add_argument("holder", help="the departing user (or partner, with --partner)")
    ho.add_argument("--partner", action="store_true")
    ho.add_argument("--to", help="the successor")
    ho.add_argument("--to-kind", choices=["user", "partner"], default="user")
    ho.add_argument("--to-pool", action="store_true", help="return everything to the pool instead")
    ho.add_argument("--overflow-to-pool", action="store_true", help="pool what the successor has no room for")
    storage_flags(ho)
    ho.set_defaults(func=cmd_holders_offboard)
    hl = holders.add_parser("over-limit", help="holders above their limit; --reclaim takes back the least active")
    hl.add_argument("--reclaim", action="store_true")
    storage_flags(hl)
    hl.set_defaults(func=cmd_holders_over_limit)

    ownership = sub.add_parser("ownership").add_subparsers(dest="action", required=True)
    orr = ownership.add_parser("restamp", help="recompute due times after a rules change (resumable)")
    storage_flags(orr)
    orr.set_defaults(func=cmd_ownership_restamp)

    shards = sub.add_parser("status-shards").add_subparsers(dest="action", required=True)
    sb = shards.add_parser("backfill", help="stamp status_shard / load_shard on items written before them "
                                            "(resumable; rerun with --again after a shard-count change)")
    sb.add_argument("--again", action="store_true", help="start over instead of resuming a finished run")
    sb.add_argument("--page-size", type=int, default=200)
    storage_flags(sb)
    sb.set_defaults(func=cmd_status_shards_backfill)

    from infra.notifications_cli import add_parsers as add_notification_parsers  # issue 5

    add_notification_parsers(sub, _storage, _now, storage_flags)

    from infra.feeds_cli import add_parsers as add_feeds_parsers  # issue 6

    add_feeds_parsers(sub, _storage, _now, storage_flags)

    from infra.customers_cli import add_parsers as add_customer_parsers  # issue 3: customers import/export

    add_customer_parsers(sub, _storage, _now, storage_flags, STATE_DIR)

    from infra.status import add_parsers as add_status_parsers  # issue 14: the operator's first screen

    add_status_parsers(sub, _storage, storage_flags)

    from infra.scoring_cli import add_parsers as add_scoring_parsers  # issue 19: model score

    add_scoring_parsers(sub, _storage, _now, storage_flags)

    from infra.pipeline_cli import add_parsers as add_pipeline_parsers  # issue 18: board recount

    add_pipeline_parsers(sub, _storage, _now, storage_flags)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
