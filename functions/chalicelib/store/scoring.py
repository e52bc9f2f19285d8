"""Model versions as data (issue 19): publish (only if better, or forced), read the current one, roll back.

A model document can be larger than a DynamoDB item (400 KB), so it is stored zlib-compressed in chunks
(``model#<version>#<n>``) beside a summary item (``model#<version>``: metrics, features, training, chunk count,
SHA-256 of the JSON). ``model#current`` names the published version and the versions published before it;
every change of it is a conditional write on its ``rev``, so two publishers (or a publish and a rollback)
cannot both win. Chunks are written before the pointer moves, so a reader never sees a half-stored model.
"""
from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.domain import scoring_model as sm
from chalicelib.store.models import ScoreItem

CHUNK_BYTES = 350_000
CURRENT = "model#current"
HISTORY_KEEP = 20


class PublishConflict(RuntimeError):
    """The current model changed between the read and the write (someone else published or rolled back)."""


def save_version(doc: Mapping[str, Any], *, now: datetime) -> str:
    """Store a model document (not yet published). Idempotent for the same version and bytes."""
    sm.validate_model(doc)
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    packed = zlib.compress(raw, 9)
    chunks = [packed[i:i + CHUNK_BYTES] for i in range(0, len(packed), CHUNK_BYTES)]
    version = doc["version"]
    for n, chunk in enumerate(chunks):
        ScoreItem(pk=f"model#{version}#{n}", blob=chunk, updated_at=now).save()
    summary = {"version": version, "trained_at": doc.get("trained_at"), "metrics": doc.get("metrics"),
               "features": [f["name"] for f in doc["features"]], "training": doc.get("training"),
               "chunks": len(chunks), "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    ScoreItem(pk=f"model#{version}", data=summary, updated_at=now).save()
    return version


def load_version(version: str) -> dict[str, Any] | None:
    try:
        summary = ScoreItem.get(f"model#{version}", consistent_read=True).data
    except ScoreItem.DoesNotExist:
        return None
    keys = [f"model#{version}#{n}" for n in range(summary["chunks"])]
    # GetItem per chunk (a model is a few chunks): the API function's grant has no BatchGetItem on this table
    raw = zlib.decompress(b"".join(ScoreItem.get(k, consistent_read=True).blob for k in keys))
    if hashlib.sha256(raw).hexdigest() != summary["sha256"]:
        raise sm.ModelError(f"model {version}: stored bytes do not match their checksum")
    return json.loads(raw)


def summary(version: str) -> dict[str, Any] | None:
    try:
        return ScoreItem.get(f"model#{version}", consistent_read=True).data
    except ScoreItem.DoesNotExist:
        return None


def current() -> dict[str, Any]:
    """``{"version": …|None, "history": [older versions, newest first], "rev": n}``."""
    try:
        item = ScoreItem.get(CURRENT, consistent_read=True)
        return {**(item.data or {}), "rev": int(item.rev or 0)}
    except ScoreItem.DoesNotExist:
        return {"version": None, "history": [], "rev": 0}


def _move(expected_rev: int, data: dict[str, Any], *, now: datetime) -> None:
    item = ScoreItem(pk=CURRENT, data=data, rev=expected_rev + 1, updated_at=now)
    cond = ScoreItem.pk.does_not_exist() if expected_rev == 0 else ScoreItem.rev == expected_rev
    try:
        item.save(condition=cond)
    except PutError as err:
        if "ConditionalCheckFailed" in str(err):
            raise PublishConflict("the current model changed meanwhile; read it again") from err
        raise


def publish(version: str, *, expected: Mapping[str, Any], now: datetime, reason: str) -> dict[str, Any]:
    """Make a stored version current; the one it replaces goes on top of the history."""
    if summary(version) is None:
        raise sm.ModelError(f"model {version} is not stored")
    history = [v for v in ([expected["version"]] if expected.get("version") else []) + list(expected["history"])
               if v != version][:HISTORY_KEEP]
    data = {"version": version, "history": history, "published_at": now.isoformat(), "reason": reason}
    _move(int(expected["rev"]), data, now=now)
    return data


def rollback(*, now: datetime, to: str | None = None) -> dict[str, Any]:
    """Go back to the previous published version (or ``to``, one of the history)."""
    cur = current()
    if not cur.get("history"):
        raise sm.ModelError("no earlier model to roll back to")
    target = to or cur["history"][0]
    if target not in cur["history"]:
        raise sm.ModelError(f"{target} was never published before the current model")
    rest = [v for v in cur["history"] if v != target]
    data = {"version": target, "history": ([cur["version"]] if cur.get("version") else []) + rest,
            "published_at": now.isoformat(), "reason": f"rollback from {cur.get('version')}"}
    _move(int(cur["rev"]), data, now=now)
    return data


# -- the request path: the current model, cached in a warm function ------------------------------------------

_cache: dict[str, Any] = {"checked": 0.0, "version": None, "model": None}


def current_model(max_age_seconds: float = 60.0) -> sm.Model | None:
    """The published model (None before the first publish), re-checked at most every ``max_age_seconds``."""
    now = time.monotonic()
    if _cache["model"] is not None and now - _cache["checked"] < max_age_seconds:
        return _cache["model"]
    version = current().get("version")
    if version is None:
        _cache.update(checked=now, version=None, model=None)
        return None
    if version != _cache["version"]:
        doc = load_version(version)
        _cache.update(version=version, model=sm.Model(doc) if doc else None)
    _cache["checked"] = now
    return _cache["model"]


def forget_cached_model() -> None:
    _cache.update(checked=0.0, version=None, model=None)


__all__ = ["PublishConflict", "save_version", "load_version", "summary", "current", "publish", "rollback",
           "current_model", "forget_cached_model"]


# -- RFM (domain/scoring_rfm.py) ------------------------------------------------------------------------------

RFM_CUTS = "rfm#cutpoints"


def won_wins() -> list:
    """Every won registration's win (the sharded status index, status won)."""
    from chalicelib.domain.scoring_rfm import win_of
    from chalicelib.store import status_index
    from chalicelib.store.registrations import from_item

    return [win_of(from_item(i)) for i in status_index.iterate("created", "won", forward=True, page_size=500)]


def recompute_rfm(customer_key: str, *, now: datetime) -> dict[str, Any]:
    """Recount RFM from the won registrations: this customer's values (or their removal when it has no win
    any more) and the population's cut points. Idempotent: a redelivery writes the same values."""
    from chalicelib.domain import scoring_rfm

    table = scoring_rfm.raw_values(won_wins(), now=now)
    cuts = scoring_rfm.all_cutpoints(table)
    ScoreItem(pk=RFM_CUTS, data=cuts, updated_at=now).save()
    raw = table.get(customer_key)
    if raw is None:
        ScoreItem(pk=f"rfm#{customer_key}").delete()
        return {"customer_key": customer_key, "rfm": None}
    ScoreItem(pk=f"rfm#{customer_key}", data=raw, updated_at=now).save()
    return {"customer_key": customer_key, "rfm": scoring_rfm.scores(raw, cuts)}


def rfm_of(customer_key: str, *, now: datetime) -> dict[str, Any] | None:
    """The customer's RFM scores against the latest cut points, recency recounted to ``now``; None without wins."""
    from chalicelib.domain import scoring_rfm

    try:
        raw = ScoreItem.get(f"rfm#{customer_key}").data
    except ScoreItem.DoesNotExist:
        return None
    try:
        cuts = ScoreItem.get(RFM_CUTS).data
    except ScoreItem.DoesNotExist:
        cuts = {}
    return scoring_rfm.scores(raw, cuts, now=now)


# -- scores where people decide -------------------------------------------------------------------------------

def summarizer(*, with_model: bool = True):
    """f(registration) -> its ``ScoreSummary`` dict (``domain.scoring.summary``) under the rules and the model
    in force (the model read once, cached per warm function; not at all without ``with_model``)."""
    from chalicelib import settings
    from chalicelib.domain.scoring import summary
    from chalicelib.domain.scoring_rules import load_attribute_rules

    s = settings.get()
    model = current_model(s.model_cache_seconds) if with_model else None
    rules = load_attribute_rules(s.attribute_rules_json)
    return lambda reg, facts=None: summary(reg, attribute_rules=rules, model=model, customer_facts=facts)


def attribute_scorer(known: Mapping[str, dict[str, Any]] | None = None):
    """f(registration) -> its attribute score under the rules in force with its customer's registry facts
    (company size): the score lists and ``/scores`` show, for routing's ``min_attribute_score``.

    ``known``: registry facts already read (``facts_of``), by customer key; any other customer's are read."""
    of = summarizer(with_model=False)
    known = known or {}
    return lambda reg: of(reg, known[reg.customer_key] if reg.customer_key in known
                          else customer_facts(reg.customer_key))["attribute"]


def summaries(regs) -> dict[str, dict[str, Any]]:
    """Registration id -> ``ScoreSummary`` dict for registrations already read (a list page): one batch read of
    their customers' registry facts (company size) beyond the cached model."""
    regs = list(regs)
    of, facts = summarizer(), customer_facts_many({r.customer_key for r in regs})
    return {r.id: of(r, facts.get(r.customer_key)) for r in regs}


def facts_of(item) -> dict[str, Any]:
    """The registry facts scoring reads from a customer's enrichment item (None: no facts)."""
    from chalicelib.domain.scoring_model import capital_band

    company = item.company or {} if item is not None else {}
    band = capital_band(company.get("registered_capital"))
    return {"capital_band": band} if band is not None else {}


def customer_facts(customer_key: str) -> dict[str, Any]:
    """What registry enrichment says about the customer's size (``scoring_model.record_of``'s facts)."""
    from chalicelib.store.companies import get_enrichment

    return facts_of(get_enrichment(customer_key))


def customer_facts_many(keys) -> dict[str, dict[str, Any]]:
    """``customer_facts`` of many customers in BatchGetItem calls (100 keys each): customer key -> facts."""
    from chalicelib.store.models import CustomerEnrichmentItem

    keys = sorted(set(keys))
    return {item.customer_key: facts_of(item) for item in CustomerEnrichmentItem.batch_get(keys)} if keys else {}


def priority_scorer():
    """(basis, f(registration) -> 0–1): the model's win probability when a model is published, else the
    attribute score / 100 — the score that orders work."""
    of = summarizer()

    def score(reg, facts=None) -> float:
        s = of(reg, facts)
        return s["model_probability"] if s["basis"] == "model" else s["attribute"] / 100

    from chalicelib import settings
    return ("model" if current_model(settings.get().model_cache_seconds) is not None else "attribute"), score


def priorities(reg_ids: list[str], *, now: datetime) -> dict[str, float]:
    """Registration id -> its priority score (0–1). Used by the over-limit reclaim (lowest first); the same score
    as lists and ``/scores`` (``domain.scoring.summary`` with the customer's registry facts: company size)."""
    from chalicelib.store import registrations

    _, score = priority_scorer()
    regs = [r for r in (registrations.get(reg_id) for reg_id in reg_ids) if r is not None]
    facts = customer_facts_many({r.customer_key for r in regs})
    return {r.id: score(r, facts.get(r.customer_key)) for r in regs}


POOL_READ_LIMIT = 500


def ranked_pool(limit: int) -> dict:
    """The newest ``POOL_READ_LIMIT`` pooled registrations (reclaimed, no owner), highest priority first."""
    from chalicelib.store.registrations import from_item

    basis, score = priority_scorer()
    rows = []
    from chalicelib.store import status_index

    result = status_index.iterate("created", "reclaimed", forward=False, page_size=100)
    truncated = False
    for item in result:
        if item.owner_id:
            continue
        if len(rows) == POOL_READ_LIMIT:
            truncated = True
            break
        reg = from_item(item)
        rows.append((score(reg), reg))
    rows.sort(key=lambda r: (-r[0], r[1].id))
    items = [{"id": reg.id, "status": reg.status.value, "customer_name": reg.customer.name, "project_title": reg.project.title,
              "expected_amount": str(reg.project.expected_amount.amount),
              "currency": reg.project.expected_amount.currency, "score": round(100 * p)} for p, reg in rows[:limit]]
    return {"basis": basis, "items": items, "truncated": truncated}



RANK_READ_LIMIT = 500


def ranked_window(index: str, key: str, *, status: str | None, min_score: int, limit: int, keep=None
                  ) -> tuple[list, dict[str, dict[str, Any]], bool]:
    """Of the newest ``RANK_READ_LIMIT`` registrations of one listing (``domain.access.list_plan``, or the pool's),
    those ``keep`` accepts and scored at least ``min_score`` (0–100), highest first: (registrations[:limit], id -> summary,
    truncated)."""
    from chalicelib.domain.scoring import rank
    from chalicelib.store.registrations import list_page

    of = summarizer()
    regs, cursor, truncated, examined = [], None, False, 0
    while True:
        page, cursor = list_page(index, key, status=status, limit=100, cursor=cursor)
        for reg in page:
            if examined == RANK_READ_LIMIT:
                truncated = True
                break
            examined += 1
            if keep is None or keep(reg):
                regs.append(reg)
        if truncated or cursor is None:
            break
    facts = customer_facts_many({r.customer_key for r in regs})
    sums = {r.id: of(r, facts.get(r.customer_key)) for r in regs}
    return rank(sums, regs, min_score=min_score)[:limit], sums, truncated


def ranked_listing(index: str, key: str, *, status: str | None, min_score: int, limit: int) -> dict:
    """``ranked_window`` as the ``RankedPage`` of ``GET /v1/scores/registrations``."""
    regs, sums, truncated = ranked_window(index, key, status=status, min_score=min_score, limit=limit)
    basis = next(iter(sums.values()))["basis"] if sums else priority_scorer()[0]
    return {"basis": basis, "truncated": truncated, "items": [
        {"id": reg.id, "status": reg.status.value, "customer_name": reg.customer.name,
         "project_title": reg.project.title, "expected_amount": str(reg.project.expected_amount.amount),
         "currency": reg.project.expected_amount.currency, "score": sums[reg.id]["score"]} for reg in regs]}


FORECAST_READ_LIMIT = 2000


def model_forecast(team: str | None) -> dict | None:
    """The approved registrations of ``team`` (or all), newest ``FORECAST_READ_LIMIT``, weighted by the published
    model (``domain.scoring.model_forecast``): ``{"cells", "model_version", "read", "truncated"}``; None while no
    model is published."""
    from chalicelib import settings
    from chalicelib.domain import scoring_model
    from chalicelib.domain.scoring import model_forecast as weigh
    from chalicelib.store.registrations import list_page

    model = current_model(settings.get().model_cache_seconds)
    if model is None:
        return None
    index, key = ("by_team", team) if team else ("by_status", "approved")
    regs, cursor, truncated = [], None, False
    while True:
        page, cursor = list_page(index, key, status="approved", limit=100, cursor=cursor)
        regs.extend(page)
        if len(regs) >= FORECAST_READ_LIMIT:
            truncated = len(regs) > FORECAST_READ_LIMIT or cursor is not None
            regs = regs[:FORECAST_READ_LIMIT]
            break
        if cursor is None:
            break
    cells = weigh(regs, lambda reg: model.probability(
        scoring_model.encode(model.spec, scoring_model.record_of(reg), model.codes)))
    return {"cells": cells, "model_version": model.version, "read": len(regs), "truncated": truncated}


MONITOR = "model#monitor"
MONITOR_READ_LIMIT = 50_000


def closed_at(reg) -> datetime | None:
    """When the registration was closed: its last audit line into won or lost."""
    for entry in reversed(reg.audit):
        status = getattr(entry.to_status, "value", entry.to_status)
        if status in ("won", "lost"):
            return entry.at
    return None


def check_model(*, now: datetime, min_rows: int = 100) -> dict[str, Any]:
    """The scheduled check (issue 19): the closed registrations (the sharded status index, won + lost, at most
    ``MONITOR_READ_LIMIT``) against the published model — is training due? Stored as ``model#monitor``
    (``dealreg scoring models`` shows it). When it is, ``services.scoring.scheduled_training`` trains with the
    pure-Python trainer (LightGBM + NumPy + SciPy exceed the zip; the operator's ``dealreg scoring train``)."""
    from chalicelib.domain import scoring_model
    from chalicelib.domain.scoring import retrain_check
    from chalicelib.store import status_index
    from chalicelib.store.registrations import from_item

    forget_cached_model()
    model = current_model(0)
    summ = summary(model.version) if model is not None else None
    trained_at = datetime.fromisoformat(summ["trained_at"]) if summ and summ.get("trained_at") else None
    labels, probs, read = [], [], 0
    for status in ("won", "lost"):
        for item in status_index.iterate("created", status, forward=True, page_size=100):
            if read == MONITOR_READ_LIMIT:
                break
            read += 1
            reg = from_item(item)
            labels.append(1 if status == "won" else 0)
            at = closed_at(reg)
            fresh = model is not None and (trained_at is None or (at is not None and at > trained_at))
            probs.append(model.probability(scoring_model.encode(model.spec, scoring_model.record_of(reg), model.codes))
                         if fresh else None)
    result = retrain_check(labels, probs, trained_rows=(summ.get("training") or {}).get("rows") if summ else None,
                           holdout=((summ.get("metrics") or {}).get("holdout")) if summ else None, min_rows=min_rows)
    result.update(model_version=model.version if model is not None else None, checked_at=now.isoformat(),
                  truncated=read == MONITOR_READ_LIMIT)
    ScoreItem(pk=MONITOR, data=result, updated_at=now).save()
    return result


def record_training(training: Mapping[str, Any], *, now: datetime) -> None:
    """Add the daily job's training run (published or why not) to ``model#monitor`` (``dealreg scoring models``
    shows it as ``last_check.training``)."""
    data = dict(last_check() or {})
    data["training"] = {**training, "at": now.isoformat()}
    ScoreItem(pk=MONITOR, data=json.loads(json.dumps(data, default=str)), updated_at=now).save()


def last_check() -> dict[str, Any] | None:
    try:
        return ScoreItem.get(MONITOR).data
    except ScoreItem.DoesNotExist:
        return None


# -- training records: the registration as it was before its outcome ---------------------------------------

OPEN_STATUSES = ("submitted", "pending_review", "approved", "reclaimed")


def keep_training_record(reg_id: str, *, now: datetime) -> bool:
    """Store the scoring record of a registration that is still open (``snap#<id>``), so training later sees
    the fields as they were before the outcome (a close sets ``sales_stage`` to closed_won/closed_lost, and edits
    after the decision would leak it). A late event for a registration closed meanwhile writes nothing, so the
    last record taken while open stays. Returns whether it wrote."""
    from chalicelib.domain.scoring_model import record_of
    from chalicelib.store import registrations

    reg = registrations.get(reg_id)
    if reg is None or reg.status.value not in OPEN_STATUSES:
        return False
    record = record_of(reg, customer_facts=customer_facts(reg.customer_key))
    item = ScoreItem(pk=f"snap#{reg_id}", data={"record": record}, rev=reg.version, updated_at=now)
    try:  # a slower handler that read an older version never replaces a newer record
        item.save(condition=ScoreItem.pk.does_not_exist() | (ScoreItem.rev <= reg.version))
    except PutError as err:
        if "ConditionalCheckFailed" in str(err):
            return False
        raise
    return True


def training_records(reg_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Registration id -> its kept training record (BatchGetItem, 100 keys a call); missing ids are absent."""
    keys = [f"snap#{i}" for i in reg_ids]
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), 100):
        for item in ScoreItem.batch_get(keys[start:start + 100]):
            out[item.pk.removeprefix("snap#")] = item.data["record"]
    return out
