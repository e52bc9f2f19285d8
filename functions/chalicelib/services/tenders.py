"""Tender feeds (标讯通): polling, ingest, alerts and backfill — the service behind the schedule, the tender
routes (``handlers/tender_feeds.py``) and the operator CLI (``dealreg feeds poll|backfill``, ``infra/feeds_cli.py``).

- ``poll_due`` (the schedule ``poll_tender_feeds``, every 5 minutes): polls each configured source that is due
  (``settings.tender_sources``; each source has its own ``every_minutes``). Per source: conditional GET
  with the stored ETag/Last-Modified, parse, link each tender to what is stored (refs), write it with a
  conditional put/update, match new tenders against the subscriptions index, write one alert per rep per
  tender (conditional) and publish ``tender.alert`` (``delivery`` immediate or daily_digest: the
  notification outbox sends immediate ones at once and folds a rep's daily_digest ones into one message
  at the rep's daily digest hour, ``settings.notify_digest_hour`` in the rep's timezone). Failures: any error of one
  source (HTTP, size cap, entity bomb, malformed document, bad config, storage) is recorded on that
  source's state (``last_error`` reason, ``failures``, exponential backoff) and the run goes on with the
  next source; the validators advance only after a fully processed fetch, so nothing is skipped.
- ``backfill_source``: a source's history through the same connector, parse and ``ingest``.
- ``recent_tenders`` (``GET /v1/tenders``) and ``register_tender`` (``POST /v1/tenders/{id}/register``): a
  registration pre-filled from the tender for the calling user, stored through ``store.registrations.create``
  exactly like ``POST /v1/registrations`` (customer claims, dedup and approval follow from its stream record).
  Idempotent per (user, tender) through the registration's ``external_ref`` claim.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

logger = logging.getLogger("dealreg.tenders")
BUNDLED_SOURCES = Path(__file__).resolve().parents[1] / "tender_sources.json"
_INDEX: Any = None  # the subscriptions index of this warm container (see domain/tender_matching.py)
COMPACT_AFTER = 100  # log entries past the snapshot before the poller writes a new snapshot


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
    from chalicelib import settings
    from connectors.http import HttpClient

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
    """The subscriptions index at the table's current version (issue 15: no Scan on this path).

    One consistent GetItem of the state; then, by what this container holds: the same version — nothing
    more; an older one of the same epoch — the log entries since (BatchGetItem), applied in place; nothing
    (a cold container), another epoch, or log entries already compacted away — the snapshot's chunks and the
    log after it. When the log past the snapshot reaches ``COMPACT_AFTER`` entries, a new snapshot is written.
    """
    global _INDEX
    from chalicelib.store import tenders as store

    state = store.index_state()
    index = _INDEX
    if index is not None and index.epoch == state.epoch:
        if index.version == state.version:
            return index
        if index.version < state.version:
            changes = store.changes(index.version + 1, state.version)
            if changes is not None:
                _INDEX = None  # not trusted while it changes
                _apply(index, changes, state.version)
                _INDEX = index
                _compact_if_due(index, state)
                return index
    _INDEX = None
    _INDEX = _load(state)
    return _INDEX


def _compiled(changes: list[dict[str, Any]]) -> list[Any]:
    """Log entries as the index applies them: a put's ``Criteria``, a delete's id."""
    from chalicelib.domain.tender_matching import Criteria

    return [Criteria.from_row(c["row"]) if c["op"] == "put" else c["id"] for c in changes]


def _apply(index: Any, changes: list[dict[str, Any]], version: int) -> None:
    index.apply(_compiled(changes), version)


def _load(state: Any) -> Any:
    """A fresh index: the snapshot and the log after it (``store.SnapshotGone``: a compaction replaced them
    meanwhile, read the state again)."""
    import gc

    from chalicelib.domain.tender_matching import (
        READABLE_FORMATS,
        SNAPSHOT_FORMAT,
        SubscriptionIndex,
        decode_snapshot,
    )
    from chalicelib.store import tenders as store

    for _attempt in range(3):
        try:
            if state.snap_id is not None and state.snap_format not in READABLE_FORMATS:
                return _bootstrap(state, f"snapshot format {state.snap_format} is not {SNAPSHOT_FORMAT}")
            changes = store.changes(state.snap_version + 1, state.version) if state.version > state.snap_version else []
            if changes is None:
                if state.snap_id is None:  # a table written before the change log
                    return _bootstrap(state, "no change log from version 1")
                fresh = store.index_state()
                if fresh.snap_id == state.snap_id:  # not compacted meanwhile: a hole (a write by older code)
                    return _bootstrap(fresh, "the change log has a gap after the snapshot")
                raise store.SnapshotGone(state.snap_id)
            if state.snap_id is None:
                index = SubscriptionIndex(_compiled(changes), version=state.version, epoch=state.epoch)
            else:
                # The snapshot is the index as it was (postings, buyer blocker, automata): nothing to build
                # but the log's changes after it, applied in place.
                index = decode_snapshot(store.snapshot_chunks(state), state.snap_format, version=state.snap_version,
                                        epoch=state.epoch)
                index.apply(_compiled(changes), state.version)
            gc.freeze()  # the index lives as long as the container: keep it out of the collector's walks
            logger.info("subscriptions index loaded: %d subscriptions at version %d (snapshot %d + %d changes)",
                        len(index), state.version, state.snap_version, len(changes))
            # A snapshot of the format before is replaced by one of this format at once (upgrade).
            _compact_if_due(index, state, force=state.snap_id is not None and state.snap_format != SNAPSHOT_FORMAT)
            return index
        except store.SnapshotGone:
            state = store.index_state()
    raise RuntimeError("subscriptions index snapshot replaced three times while loading")


def _bootstrap(state: Any, why: str) -> Any:
    """Once per table (or snapshot format, or a hole in the log): a Scan of the subscriptions, written as the
    snapshot.

    The state was read before the Scan, so the snapshot is marked at that version and the log entries
    after it are replayed on top (a replay is idempotent: a put replaces, a delete of an absent id is
    nothing), whatever the Scan saw of the writes made meanwhile.
    """
    from chalicelib.domain.tender_matching import Criteria, SubscriptionIndex
    from chalicelib.store import tenders as store

    logger.warning("subscriptions index bootstrapped from a Scan (%s)", why)
    index = SubscriptionIndex((Criteria.from_subscription(s) for s in store.all_subscriptions()),
                              version=state.version, epoch=state.epoch)
    _compact_if_due(index, state, force=True)
    return index


def _compact_if_due(index: Any, state: Any, *, force: bool = False) -> None:
    """Write the index as the new snapshot when the log past the current one is long (or ``force``). A failure
    here never fails the poll: the next one tries again."""
    from chalicelib.domain.tender_matching import SNAPSHOT_FORMAT, encode_snapshot
    from chalicelib.store import tenders as store

    if not force and index.version - state.snap_version < COMPACT_AFTER:
        return
    try:
        written = store.write_snapshot(encode_snapshot(index), index.version, SNAPSHOT_FORMAT, state)
        logger.info("subscriptions index snapshot at version %d %s", index.version,
                    "written" if written else "not written: another poller wrote one first")
    except Exception:  # noqa: BLE001 - compaction is an optimisation; the log still holds every change
        logger.exception("subscriptions index snapshot failed")


def poll_source(src: Any, now: datetime, *, http: Any, run: _Run | None = None,
                progress: Any = None) -> dict[str, Any]:
    """Poll one source now and record the outcome on its state. Never raises for source problems.

    ``progress(done, total, stats)`` is called after each stored tender (``total``: tenders parsed so far).
    """
    from chalicelib.domain.tenders import next_due
    from chalicelib.store import tenders as store
    from connectors.base import FetchRequest

    run = run or _Run()
    state = store.feed_state(src.name)
    stats: dict[str, Any] = defaultdict(int)
    error: str | None = None
    retry_after: float | None = None
    validators: tuple[str | None, str | None] | None = None
    try:
        connector = _connector(src, http)
        request = FetchRequest(etag=state.etag, last_modified=state.last_modified, cursor=state.cursor)
        fetched_any = False
        for raw, _tenders in fetch_and_ingest(src, connector, request, now, run=run, stats=stats, progress=progress):
            fetched_any = True
            validators = (raw.etag, raw.last_modified)
        if not fetched_any:
            stats["not_modified"] = 1
    except Exception as exc:  # noqa: BLE001 - storage or a bug: recorded on the source, run goes on
        error, retry_after = _failure(exc, src.name)

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


def _connector(src: Any, http: Any) -> Any:
    """The source's connector, configured; an unknown one is the source's failure (``unknown_connector``)."""
    from connectors import REGISTRY
    from connectors.errors import ConnectorError

    cls = REGISTRY.get(src.connector)
    if cls is None:
        raise ConnectorError(f"unknown connector {src.connector}", reason="unknown_connector")
    return cls(src.config, http)


def _failure(exc: Exception, source: str) -> tuple[str, float | None]:
    """A failed poll or backfill as (reason recorded on the source or reported, the source's Retry-After)."""
    from connectors.errors import ConnectorError, RetryableError

    if isinstance(exc, ConnectorError):
        return exc.reason, exc.retry_after if isinstance(exc, RetryableError) else None
    if isinstance(exc, RecursionError):
        return "too_deep", None
    logger.exception("tender source %s failed", source)  # storage or a bug
    return f"internal_error:{type(exc).__name__}", None


def fetch_and_ingest(src: Any, connector: Any, request: Any, now: datetime, *, run: _Run | None,
                     stats: dict[str, Any], progress: Any = None,
                     since: datetime | None = None) -> Iterator[tuple[Any, list[Any]]]:
    """The one fetch → parse → ingest loop of polling and backfill: each page the connector fetches for
    ``request`` is parsed, its tenders (those published since ``since``, when given) stored through ``ingest``,
    and then yielded with them, so the caller can follow its next-page link or keep its validators.

    ``stats`` counts pages, rejected entries, tenders and each ``ingest`` outcome; ``progress(done, total,
    stats)`` is called after each stored tender (``total``: tenders parsed so far).
    """
    from connectors.base import split_parsed

    for raw in connector.fetch(request):
        stats["pages"] += 1
        tenders, rejected = split_parsed(connector.parse(raw))
        stats["rejected"] += len(rejected)
        for rej in rejected:
            logger.info("source %s: entry %s rejected (%s)", src.name, rej.source_id, rej.reason)
        fresh = tenders
        if since is not None:
            fresh = [t for t in tenders if t.published is None or t.published >= since]
            stats["older_than_since"] += len(tenders) - len(fresh)
        total = stats["tenders"] + len(fresh)
        for tender in fresh:
            stats[ingest(tender, now, run)] += 1
            stats["tenders"] += 1
            if progress is not None:
                progress(stats["tenders"], total, stats)
        yield raw, tenders


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
    from chalicelib.domain.tender_matching import alertable, prepare
    from chalicelib.store import publisher, tenders as store
    from schemas.common import Actor, PrincipalKind
    from schemas.events import TenderAlert, TenderSummary

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
    from connectors.base import FetchRequest

    stats: dict[str, Any] = defaultdict(int)
    run = _Run() if alerts else None
    queue: list[str | None] = list(urls) if urls else [None]
    limit = pages or (len(queue) if urls else DEFAULT_BACKFILL_PAGES)
    seen: set[str | None] = set()
    try:
        connector = _connector(src, http)
        while queue and stats["pages"] < limit:
            url = queue.pop(0)
            if url in seen:
                continue  # a page linking back to itself or to an earlier page
            seen.add(url)
            for raw, tenders in fetch_and_ingest(src, connector, FetchRequest(cursor=url), now, run=run,
                                                 stats=stats, progress=progress, since=since):
                dated = [t.published for t in tenders if t.published is not None]
                nxt = None if urls else connector.next_page(raw)
                if nxt and not (since is not None and dated and max(dated) < since):
                    queue.append(nxt)
    except Exception as exc:  # noqa: BLE001 - reported to the operator; what was stored stays stored
        stats["error"], _ = _failure(exc, src.name)
    return dict(stats)


def recent_tenders(now: datetime, *, days: int, limit: int, status: str | None = None, source: str | None = None,
                   q: str | None = None) -> list[Any]:
    """Stored tenders of the last ``days`` days, newest first, filtered; at most ``limit``."""
    from chalicelib.domain.tender_matching import Keyword, prepare
    from chalicelib.store import tenders as store

    keyword = Keyword.compile(q) if q else None
    day_keys = [(now - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days)]
    out = []
    for item in store.list_recent(day_keys, 1000):
        rec = record(item)
        if status and str(rec.tender.status) != status:
            continue
        if source and not any(s.startswith(f"src:{source}:") for s in rec.sources):
            continue
        if keyword is not None:
            p = prepare(rec.tender)
            if not (keyword.text in p.text if keyword.cjk else p.has_phrase(keyword.words)):
                continue
        out.append(rec)
        if len(out) >= limit:
            break
    return out


def record(item: Any) -> Any:
    """A stored tender item as the API's ``TenderRecord``."""
    from chalicelib.store import tenders as store
    from schemas.tender import TenderRecord

    return TenderRecord(id=item.tender_id, cancelled=item.cancelled == "yes", sources=list(item.sources),
                        first_seen=datetime.fromisoformat(item.seen_at), tender=store.tender_of(item))


def register_tender(principal: Any, tender_id: str, extra: Any, now: datetime) -> tuple[bool, dict[str, Any]]:
    """A registration for ``principal`` pre-filled from the tender (``extra`` fills what it lacks).

    Returns ``(created, answer)``: ``created`` is False when the caller registered this tender before (or a
    concurrent call won the ``external_ref`` claim); ``answer`` is then that registration's.
    Raises ``NotFoundError`` (no such tender), ``DealregError`` ``tender_cancelled``, ``ValidationFailedError``
    (fields the tender lacks), ``PendingCapError``.
    """
    from chalicelib import settings
    from chalicelib.domain.errors import DealregError, NotFoundError, ValidationFailedError
    from chalicelib.domain.registration import new_id, new_registration
    from chalicelib.domain.tenders import registration_from_tender, registration_ref
    from chalicelib.services.registrations import ensure_team_open
    from chalicelib.store import registrations, tenders as store
    from schemas.registration import Source

    made = registrations.by_external_ref(principal.id, registration_ref(tender_id), now=now)
    if made is not None:
        reg = registrations.get(made)
        return False, {"id": made, "status": reg.status.value if reg else "submitted"}
    item = store.get_tender(tender_id)
    if item is None:
        raise NotFoundError("no such tender")
    if item.cancelled == "yes":
        raise DealregError("the tender was cancelled", code="tender_cancelled")
    payload, missing = registration_from_tender(tender_id, store.tender_of(item), extra)
    if payload is None:
        raise ValidationFailedError("the tender does not state everything a registration needs; "
                                    "give the missing fields in the body", errors=missing)
    reg = new_registration(payload, reg_id=new_id("reg", now), source=Source.TENDER, submitter=principal.actor,
                           team_id=principal.team_id, now=now)
    ensure_team_open(reg.team_id, fresh=True)  # the caller's team now: a member of a deactivated one opens nothing (403)
    outcome = registrations.create(reg, now=now, idempotency_key=None,
                                   idempotency_ttl=timedelta(seconds=settings.get().idempotency_ttl_seconds))
    # A concurrent call for the same tender won the external_ref claim: answer with its registration.
    return outcome.created, outcome.answer


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
