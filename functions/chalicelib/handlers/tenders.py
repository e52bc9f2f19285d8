"""Tender feeds (标讯通): polling, subscriptions and alerts.

Triggers:
- schedule ``poll_tender_feeds`` (every 5 minutes): polls each configured source that is due
  (``settings.tender_sources``; each source has its own ``every_minutes``). Per source: conditional GET
  with the stored ETag/Last-Modified, parse, link each tender to what is stored (refs), write it with a
  conditional put/update, match new tenders against the subscriptions index, write one alert per rep per
  tender (conditional) and publish ``tender.alert`` (``delivery`` immediate or daily_digest: the
  notification outbox sends immediate ones at once and folds a rep's daily_digest ones into one message
  at the rep's daily digest hour, ``settings.notify_digest_hour`` in the rep's timezone). Failures: any error of one
  source (HTTP, size cap, entity bomb, malformed document, bad config, storage) is recorded on that
  source's state (``last_error`` reason, ``failures``, exponential backoff) and the run goes on with the
  next source; the validators advance only after a fully processed fetch, so nothing is skipped.
- ``POST/GET /v1/subscriptions``, ``DELETE /v1/subscriptions/{id}`` (users: their own subscriptions).
- ``GET /v1/tenders`` (recent, filters ``days``, ``status``, ``source``, ``q``, ``limit``) and
  ``GET /v1/tenders/{id}``.
- ``dealreg feeds poll|backfill`` (operator CLI, ``infra/feeds_cli.py``) call ``poll_due`` and
  ``backfill_source`` here: the schedule's code path, one source at a time.
- ``POST /v1/tenders/{id}/register``: a registration pre-filled from the tender for the calling user,
  stored through ``store.registrations.create`` exactly like ``POST /v1/registrations`` (customer claims,
  dedup and approval follow from its stream record). Idempotent per (user, tender) through the
  registration's ``external_ref`` claim: a repeated call answers 200 with the same registration.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chalice import Blueprint

from chalicelib.http import HttpError, api, bearer_principal, json_response

bp = Blueprint(__name__)
logger = logging.getLogger("dealreg.tenders")
BUNDLED_SOURCES = Path(__file__).resolve().parents[1] / "tender_sources.json"
MAX_DAYS = 31
_INDEX: Any = None  # the subscriptions index of this warm container (see domain/tender_matching.py)
_INDEX_EPOCH = ""  # the subscriptions table's epoch it was built at (see store.tenders.subscriptions_stamp)


@bp.schedule("rate(5 minutes)")
def poll_tender_feeds(event):
    from chalicelib import clock

    return poll_due(clock.now())


# -- polling --------------------------------------------------------------------------------------------


def configured_sources() -> list[Any]:
    """The sources from ``settings.tender_sources`` (inline JSON or a file path) or the bundled file."""
    from chalicelib import settings
    from chalicelib.domain.tenders import load_sources

    spec = settings.get().tender_sources.strip()
    text = spec if spec.startswith("[") else Path(spec or BUNDLED_SOURCES).read_text(encoding="utf-8")
    sources, problems = load_sources(text)
    for problem in problems:
        logger.error("tender source entry %s skipped: %s", problem["index"], problem["type"])
    return sources


def http_client() -> Any:
    from connectors.http import HttpClient

    from chalicelib import settings

    # Sources are operator configuration, but a feed can redirect anywhere: keep the SSRF guard on.
    return HttpClient(ssrf_guard=True, allow_loopback_http=settings.get().tender_allow_loopback)


def poll_due(now: datetime, *, only: str | None = None, force: bool = False,
             progress: Any = None) -> dict[str, dict[str, Any]]:
    """Poll every due (or, with ``force``, every) enabled source; one source's failure never stops the run.

    ``only`` names one source (polled even when disabled: ``dealreg feeds poll``); ``progress`` is called
    as tenders are stored (see ``poll_source``).
    """
    from chalicelib.store import tenders as store

    results: dict[str, dict[str, Any]] = {}
    http = http_client()
    run = _Run()
    for src in configured_sources():
        if only is not None and src.name != only:
            continue
        if not src.enabled and only is None:
            continue
        try:
            state = store.feed_state(src.name)
            if not force and state.next_due_at is not None and state.next_due_at > now:
                continue
            results[src.name] = poll_source(src, now, http=http, run=run, progress=progress)
        except Exception:  # noqa: BLE001 - the run must go on; the source is retried next time
            logger.exception("tender source %s failed outside the poll", src.name)
            results[src.name] = {"error": "internal_error"}
    return results


class _Run:
    """Per-run memo: the subscriptions index is checked once per run, not per tender."""

    def __init__(self) -> None:
        self._index: Any = None

    def index(self) -> Any:
        if self._index is None:
            self._index = current_index()
        return self._index


def current_index() -> Any:
    """The subscriptions index, rebuilt when the table's version counter (or epoch) moved since it was built."""
    global _INDEX, _INDEX_EPOCH
    from chalicelib.domain.tender_matching import Criteria, SubscriptionIndex
    from chalicelib.store import tenders as store

    epoch, version = store.subscriptions_stamp()
    if _INDEX is None or (_INDEX_EPOCH, _INDEX.version) != (epoch, version):
        subs = store.all_subscriptions()
        _INDEX = SubscriptionIndex([Criteria.from_subscription(s) for s in subs], version=version)
        _INDEX_EPOCH = epoch
        logger.info("subscriptions index rebuilt: %d subscriptions at version %d", len(_INDEX), version)
    return _INDEX


def poll_source(src: Any, now: datetime, *, http: Any, run: _Run | None = None,
                progress: Any = None) -> dict[str, Any]:
    """Poll one source now and record the outcome on its state. Never raises for source problems.

    ``progress(done, total, stats)`` is called after each stored tender (``total``: tenders parsed so far).
    """
    from connectors import REGISTRY
    from connectors.base import FetchRequest, split_parsed
    from connectors.errors import ConnectorError, RetryableError

    from chalicelib.domain.tenders import next_due
    from chalicelib.store import tenders as store

    run = run or _Run()
    state = store.feed_state(src.name)
    stats: dict[str, Any] = defaultdict(int)
    error: str | None = None
    retry_after: float | None = None
    validators: tuple[str | None, str | None] | None = None
    try:
        cls = REGISTRY.get(src.connector)
        if cls is None:
            raise ConnectorError(f"unknown connector {src.connector}", reason="unknown_connector")
        connector = cls(src.config, http)
        request = FetchRequest(etag=state.etag, last_modified=state.last_modified, cursor=state.cursor)
        fetched_any = False
        for raw in connector.fetch(request):
            fetched_any = True
            tenders, rejected = split_parsed(connector.parse(raw))
            stats["rejected"] += len(rejected)
            for rej in rejected:
                logger.info("source %s: entry %s rejected (%s)", src.name, rej.source_id, rej.reason)
            total = stats["tenders"] + len(tenders)
            for tender in tenders:
                stats[ingest(tender, now, run)] += 1
                stats["tenders"] += 1
                if progress is not None:
                    progress(stats["tenders"], total, stats)
            validators = (raw.etag, raw.last_modified)
        if not fetched_any:
            stats["not_modified"] = 1
    except ConnectorError as exc:
        error = exc.reason
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
    except RecursionError:
        error = "too_deep"
    except Exception as exc:  # noqa: BLE001 - storage or a bug: recorded on the source, run goes on
        logger.exception("tender source %s failed", src.name)
        error = f"internal_error:{type(exc).__name__}"

    state.last_run_at = now
    if error is None:
        if validators is not None:
            state.etag, state.last_modified = validators
        state.failures = 0
        state.last_error = None
        state.last_ok_at = now
    else:
        state.failures = int(state.failures or 0) + 1
        state.last_error = error[:120]
        logger.warning("tender source %s: %s (failure %d)", src.name, error, state.failures)
    state.next_due_at = next_due(now, src.every_minutes, int(state.failures or 0), retry_after)
    state.stats = dict(stats)
    if not store.save_feed_state(state):
        logger.info("tender source %s state written by a concurrent run", src.name)
    result = dict(stats)
    if error:
        result["error"] = error
    return result


def ingest(tender: Any, now: datetime, run: _Run | None) -> str:
    """Store one tender sighting and alert on new ones (``run=None``: store only, as a backfill does);
    returns the change (``new``, ``amended``...)."""
    from chalicelib.domain.tenders import Change, link_keys, merge, source_ref, tender_id_for
    from chalicelib.store import tenders as store

    tender_id = store.resolve_id(link_keys(tender), tender_id_for(tender), now)
    ref = source_ref(tender)
    for _attempt in range(2):
        item = store.get_tender(tender_id)
        current = store.tender_of(item) if item is not None else None
        merged, change = merge(current, tender)
        # A poll that stored this tender but died before its alerts were published left it "pending".
        unfinished = item is not None and item.alert_state == "pending" and run is not None
        if change is Change.UNCHANGED and item is not None and ref in item.sources:
            if unfinished:
                alert(tender_id, current, now, run)
            return str(change)
        new = change is Change.NEW and run is not None
        if store.save_tender(tender_id, item, merged, ref, now, alerts_pending=new):
            if new or unfinished:
                alert(tender_id, merged, now, run)
            return str(change)
    return "conflict"  # lost twice to concurrent writers; the next poll sees the same notice again


def alert(tender_id: str, tender: Any, now: datetime, run: _Run) -> int:
    """One alert per rep whose subscriptions match, each announced as ``tender.alert``. Returns alerts written.

    A rep with any matching ``immediate`` subscription is told at once; otherwise the event says
    ``daily_digest`` and the notification outbox keeps it for that rep's daily digest.
    """
    from schemas.common import Actor, PrincipalKind
    from schemas.events import TenderAlert, TenderSummary

    from chalicelib.domain.tender_matching import prepare
    from chalicelib.store import publisher
    from chalicelib.store import tenders as store

    from chalicelib.domain.tender_matching import alertable

    index = run.index()
    if not len(index) or not alertable(tender):
        # Awards, corrections, closed and cancelled processes are news about a process, not an opportunity.
        store.alerts_published(tender_id)
        return 0
    matched = index.match(prepare(tender))
    by_rep: dict[str, list[Any]] = defaultdict(list)
    for sub_id in matched:
        crit = index.by_id[sub_id]
        by_rep[crit.rep_id].append(crit)
    events = []
    for rep_id, crits in sorted(by_rep.items()):
        delivery = "immediate" if any(c.delivery == "immediate" for c in crits) else "daily_digest"
        # The alert item is written once (a second write is refused); its event is published here every time
        # alert() runs for the tender — only again after a poll died before publishing — with the same id,
        # so the outbox's stable delivery ids keep receivers from hearing it twice.
        store.create_alert(rep_id, tender_id, [c.id for c in crits], delivery, now)
        # Digest alerts are published too: the notification outbox holds ``daily_digest`` ones until the
        # rep's daily digest hour and sends everything due for the rep then as one message.
        events.append(TenderAlert(
            id=f"{rep_id}#{tender_id}", occurred_at=now, subject=tender_id,
            actor=Actor(kind=PrincipalKind.SYSTEM, id="tender_feeds"), rep_id=rep_id,
            subscription_ids=sorted(c.id for c in crits), delivery=delivery,
            tender=TenderSummary(id=tender_id, title=tender.title, status=str(tender.status),
                                 source=tender.source, buyer=tender.buyer.name if tender.buyer else None,
                                 url=tender.url, published=tender.published, deadline=tender.deadline,
                                 value=tender.value, currency=tender.currency),
        ))
    if events:
        publisher.publish(events)  # after the writes they announce; ids are stable for dedup downstream
    store.alerts_published(tender_id)
    return len(events)


DEFAULT_BACKFILL_PAGES = 50


def backfill_source(src: Any, now: datetime, *, http: Any, urls: list[str] | None = None, pages: int | None = None,
                    since: datetime | None = None, alerts: bool = False, progress: Any = None) -> dict[str, Any]:
    """Load a source's history through the same connector, parse and ``ingest`` as the schedule.

    Without ``urls``: from the feed URL, follow the format's next-page links (OCDS ``links.next``,
    RFC 5005 ``rel="next"``) for at most ``pages`` pages (default ``DEFAULT_BACKFILL_PAGES``), and stop
    after a page whose dated notices are all older than ``since``. With ``urls``: fetch exactly those
    pages. Notices published before ``since`` are skipped. History raises no alerts unless ``alerts``.
    The source's polling state (validators, schedule) is left alone. Never raises for source problems.
    """
    from connectors import REGISTRY
    from connectors.base import FetchRequest, split_parsed
    from connectors.errors import ConnectorError

    stats: dict[str, Any] = defaultdict(int)
    run = _Run() if alerts else None
    queue: list[str | None] = list(urls) if urls else [None]
    limit = pages or (len(queue) if urls else DEFAULT_BACKFILL_PAGES)
    seen: set[str | None] = set()
    try:
        cls = REGISTRY.get(src.connector)
        if cls is None:
            raise ConnectorError(f"unknown connector {src.connector}", reason="unknown_connector")
        connector = cls(src.config, http)
        while queue and stats["pages"] < limit:
            url = queue.pop(0)
            if url in seen:
                continue  # a page linking back to itself or to an earlier page
            seen.add(url)
            for raw in connector.fetch(FetchRequest(cursor=url)):
                stats["pages"] += 1
                tenders, rejected = split_parsed(connector.parse(raw))
                stats["rejected"] += len(rejected)
                dated = [t.published for t in tenders if t.published is not None]
                fresh = [t for t in tenders if since is None or t.published is None or t.published >= since]
                stats["older_than_since"] += len(tenders) - len(fresh)
                total = stats["tenders"] + len(fresh)
                for tender in fresh:
                    stats[ingest(tender, now, run)] += 1
                    stats["tenders"] += 1
                    if progress is not None:
                        progress(stats["tenders"], total, stats)
                nxt = None if urls else connector.next_page(raw)
                if nxt and not (since is not None and dated and max(dated) < since):
                    queue.append(nxt)
    except ConnectorError as exc:
        stats["error"] = exc.reason
    except RecursionError:
        stats["error"] = "too_deep"
    except Exception as exc:  # noqa: BLE001 - reported to the operator; what was stored stays stored
        logger.exception("backfill of %s failed", src.name)
        stats["error"] = f"internal_error:{type(exc).__name__}"
    return dict(stats)


# -- subscriptions API ----------------------------------------------------------------------------------


def _user():
    from schemas.common import PrincipalKind

    principal = bearer_principal(bp.current_request.headers)
    if principal.kind is not PrincipalKind.USER:
        raise HttpError(403, "forbidden", "tender subscriptions and registrations are for users (reps)")
    return principal


@bp.route("/v1/subscriptions", methods=["POST"])
@api(request="SubscriptionCreate", responses={201: "Subscription"}, summary="Subscribe to tenders")
def create_subscription():
    from chalicelib import clock
    from chalicelib.http import parse_body
    from chalicelib.store import tenders as store
    from schemas.tender import Subscription, SubscriptionCreate

    principal = _user()
    body = parse_body(SubscriptionCreate, bp.current_request.raw_body)
    sub = Subscription(id=store.new_subscription_id(), rep_id=principal.id, created_at=clock.now(),
                       **body.model_dump())
    store.create_subscription(sub)
    return json_response(201, sub)


@bp.route("/v1/subscriptions", methods=["GET"])
@api(responses={200: "SubscriptionPage"}, summary="The caller's tender subscriptions")
def list_subscriptions():
    from chalicelib.store import tenders as store
    from schemas.tender import SubscriptionPage

    principal = _user()
    subs = sorted(store.subscriptions_of(principal.id), key=lambda s: s.created_at)
    return json_response(200, SubscriptionPage(items=subs))


@bp.route("/v1/subscriptions/{sub_id}", methods=["DELETE"])
@api(responses={}, summary="(204) Delete one of the caller's subscriptions")
def delete_subscription(sub_id: str):
    from chalice import Response

    from chalicelib.store import tenders as store

    principal = _user()
    if not store.delete_subscription(sub_id, principal.id):
        raise HttpError(404, "not_found", "no such subscription")
    return Response(body="", status_code=204)


# -- tenders API ----------------------------------------------------------------------------------------


def _record(item: Any) -> Any:
    from schemas.tender import TenderRecord

    from chalicelib.store import tenders as store

    return TenderRecord(id=item.tender_id, cancelled=item.cancelled == "yes", sources=list(item.sources),
                        first_seen=datetime.fromisoformat(item.seen_at), tender=store.tender_of(item))


@bp.route("/v1/tenders/{tender_id}", methods=["GET"])
@api(responses={200: "TenderRecord"}, summary="One stored tender")
def get_tender(tender_id: str):
    from chalicelib.store import tenders as store

    bearer_principal(bp.current_request.headers)
    item = store.get_tender(tender_id)
    if item is None:
        raise HttpError(404, "not_found", "no such tender")
    return json_response(200, _record(item))


@bp.route("/v1/tenders", methods=["GET"])
@api(responses={200: "TenderPage"},
     summary="Recent tenders, newest first (query: days, status, source, q, limit)")
def list_tenders():
    from chalicelib import clock
    from chalicelib.domain.tender_matching import Keyword, prepare
    from chalicelib.store import tenders as store
    from schemas.tender import TenderPage

    bearer_principal(bp.current_request.headers)
    q = bp.current_request.query_params or {}
    try:
        days = int(q.get("days", 7))
        limit = int(q.get("limit", 50))
    except ValueError:
        raise HttpError(422, "validation_failed", "bad days or limit",
                        errors=[{"loc": "query", "type": "int_parsing"}]) from None
    if not (1 <= days <= MAX_DAYS and 1 <= limit <= 200):
        raise HttpError(422, "validation_failed", f"days must be 1..{MAX_DAYS}, limit 1..200",
                        errors=[{"loc": "query", "type": "less_than_equal"}])
    keyword = Keyword.compile(q["q"]) if q.get("q") else None
    today = clock.now()
    day_keys = [(today - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days)]
    out = []
    for item in store.list_recent(day_keys, 1000):
        rec = _record(item)
        if q.get("status") and str(rec.tender.status) != q["status"]:
            continue
        if q.get("source") and not any(s.startswith(f"src:{q['source']}:") for s in rec.sources):
            continue
        if keyword is not None:
            p = prepare(rec.tender)
            if not (keyword.text in p.text if keyword.cjk else p.has_phrase(keyword.words)):
                continue
        out.append(rec)
        if len(out) >= limit:
            break
    return json_response(200, TenderPage(items=out))


@bp.route("/v1/tenders/{tender_id}/register", methods=["POST"])
@api(request="TenderRegistrationRequest", responses={202: "RegistrationAccepted", 200: "RegistrationAccepted"},
     summary="Turn a tender into a registration for the caller (202 created; 200 the one made before)")
def register_tender(tender_id: str):
    from datetime import timedelta

    from chalicelib import clock, settings
    from chalicelib.domain.registration import new_id, new_registration
    from chalicelib.domain.tenders import registration_from_tender, registration_ref
    from chalicelib.http import check_size, parse_body
    from chalicelib.store import registrations
    from chalicelib.store import tenders as store
    from schemas.registration import Source
    from schemas.tender import TenderRegistrationRequest

    request = bp.current_request
    check_size(request.raw_body, settings.get().max_body_bytes)
    principal = _user()
    extra = parse_body(TenderRegistrationRequest, request.raw_body or b"{}")
    now = clock.now()
    made = registrations.by_external_ref(principal.id, registration_ref(tender_id), now=now)
    if made is not None:
        reg = registrations.get(made)
        return json_response(200, {"id": made, "status": reg.status.value if reg else "submitted"})
    item = store.get_tender(tender_id)
    if item is None:
        raise HttpError(404, "not_found", "no such tender")
    if item.cancelled == "yes":
        raise HttpError(409, "tender_cancelled", "the tender was cancelled")
    payload, missing = registration_from_tender(tender_id, store.tender_of(item), extra)
    if payload is None:
        raise HttpError(422, "validation_failed", "the tender does not state everything a registration needs; "
                        "give the missing fields in the body", errors=missing)
    reg = new_registration(payload, reg_id=new_id("reg", now), source=Source.TENDER, submitter=principal.actor,
                           team_id=principal.team_id, now=now)
    try:
        outcome = registrations.create(reg, now=now, idempotency_key=None,
                                       idempotency_ttl=timedelta(seconds=settings.get().idempotency_ttl_seconds))
    except registrations.PendingCapReached as exc:
        raise HttpError(409, "pending_cap", str(exc), errors=exc.errors) from None
    # A concurrent call for the same tender won the external_ref claim: answer with its registration.
    return json_response(202 if outcome.created else 200, outcome.answer)


def sources_status() -> list[dict[str, Any]]:
    """Each configured source with its stored state (for the CLI)."""
    from chalicelib.store import tenders as store

    out = []
    for src in configured_sources():
        st = store.feed_state(src.name)
        out.append({"name": src.name, "connector": src.connector, "enabled": src.enabled,
                    "next_due_at": st.next_due_at.isoformat() if st.next_due_at else None,
                    "last_ok_at": st.last_ok_at.isoformat() if st.last_ok_at else None,
                    "last_error": st.last_error, "failures": int(st.failures or 0)})
    return json.loads(json.dumps(out))
