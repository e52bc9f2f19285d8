"""The model score's training runs (issue 19): one "train, compare on the same holdout, publish only if better"
path for the operator's ``dealreg scoring train`` (LightGBM, ``infra/scoring_train.py``) and the daily
``check_scoring_model`` job (the pure-Python trainer, ``domain/scoring_fit.py``, which fits a Lambda), and the
admins' notice of what the daily job found and did (``scoring.model_training`` through the notification outbox).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

logger = logging.getLogger("dealreg.scoring")

CLOSED = ("won", "lost")
SCHEDULED_MAX_ROWS = 50_000  # newest closed registrations the daily job trains on (memory and time in a Lambda)


class Trainer(Protocol):
    def __call__(self, records: list[dict[str, Any]], labels: list[int], groups: list[str], features: list[str],
                 *, seed: int, now: datetime) -> Any: ...  # -> an object with ``doc`` and ``test_index``


def closed_records(customer_facts: Callable[[Any], Mapping[str, Any]] | None = None, *, limit: int | None = None
                   ) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    """Won/lost registrations (the newest ``limit`` of them, by creation) as (record, label, group = customer
    key: one customer's deals stay on one side of the split, so the holdout measures new customers too)."""
    from chalicelib.domain.scoring_model import before_outcome, record_of
    from chalicelib.store import status_index
    from chalicelib.store.registrations import from_item
    from chalicelib.store.scoring import training_records

    rows = []
    for status in CLOSED:
        for n, item in enumerate(status_index.iterate("created", status, forward=False, page_size=100)):
            if limit is not None and n == limit:
                break
            rows.append((from_item(item), 1 if status == "won" else 0))
    if limit is not None and len(rows) > limit:
        rows = sorted(rows, key=lambda r: (r[0].created_at, r[0].id), reverse=True)[:limit]
    regs = [r for r, _ in rows]
    kept = training_records([r.id for r in regs])  # as it was while open (issue 19)
    records = [kept[r.id] if r.id in kept else
               before_outcome(record_of(r, customer_facts=customer_facts(r) if customer_facts else None))
               for r in regs]
    return records, [label for _, label in rows], [r.customer_key for r in regs]


def train_and_publish(*, features: list[str], now: datetime, trainer: Trainer, seed: int = 19, force: bool = False,
                      dry_run: bool = False, min_rows: int = 100, max_rows: int | None = None) -> dict[str, Any]:
    """Train on the closed registrations, measure the new and the current model on the new holdout, publish the
    new version only if it beats the current one there (``scoring_model.beats``; ``force`` publishes anyway)."""
    from chalicelib.domain.scoring_model import beats, evaluate
    from chalicelib.store import scoring as store

    records, labels, groups = closed_records(limit=max_rows)
    if len(records) < min_rows or len(set(labels)) < 2:
        return {"published": False, "rows": len(records),
                "reason": f"{len(records)} closed registrations (need {min_rows}, won and lost)"}
    result = trainer(records, labels, groups, features, seed=seed, now=now)
    new = result.doc["metrics"]["holdout"]
    cur = store.current()
    old = None
    if cur.get("version"):
        doc = store.load_version(cur["version"])
        if doc is not None:
            holdout = result.test_index
            old = evaluate(doc, [records[i] for i in holdout], [labels[i] for i in holdout])
    better = beats(new, old)
    out: dict[str, Any] = {"version": result.doc["version"], "rows": len(records),
                           "library": result.doc.get("training", {}).get("library"),
                           "new": {k: new[k] for k in ("auc", "log_loss", "brier", "ece")},
                           "current": cur.get("version"),
                           "current_on_same_holdout": {k: old[k] for k in ("auc", "log_loss", "brier", "ece")}
                           if old else None, "beats_current": better}
    if dry_run or not (better or force):
        out["published"] = False
        out["reason"] = "dry run" if dry_run else "does not beat the current model on the same holdout"
        return out
    store.save_version(result.doc, now=now)
    store.publish(result.doc["version"], expected=cur, now=now, reason="forced" if force and not better else "better")
    out["published"] = True
    return out


def scheduled_training(*, now: datetime, time_left: Callable[[], bool] | None = None,
                       max_rows: int = SCHEDULED_MAX_ROWS, min_rows: int = 100) -> dict[str, Any]:
    """The daily job: check whether training is due (``store.scoring.check_model``); when it is, train with the
    pure-Python trainer on the newest ``max_rows`` closed registrations (its passes stop when ``time_left``
    says so) with the current model's features (else the defaults) and publish only if it beats the current
    model; record the outcome in ``model#monitor`` and tell the admins."""
    from chalicelib.domain import scoring_fit
    from chalicelib.domain.scoring_model import DEFAULT_FEATURES, ModelError
    from chalicelib.store import scoring as store

    check = store.check_model(now=now, min_rows=min_rows)
    out: dict[str, Any] = {"due": check["due"], "reasons": check["reasons"], "training": None}
    if not check["due"]:
        return out
    current = store.current().get("version")
    features = list((store.summary(current) or {}).get("features") or DEFAULT_FEATURES) if current \
        else list(DEFAULT_FEATURES)

    def pure(records, labels, groups, features, *, seed, now):
        return scoring_fit.train(records, labels, groups, features, seed=seed, now=now, time_left=time_left)

    try:
        training = train_and_publish(features=features, now=now, trainer=pure, min_rows=min_rows, max_rows=max_rows)
    except (ModelError, store.PublishConflict) as err:
        training = {"published": False, "reason": f"{type(err).__name__}: {err}"}
    training["features"] = features
    out["training"] = training
    store.record_training(training, now=now)
    announce(out, now=now)
    return out


def announce(run: Mapping[str, Any], *, now: datetime) -> None:
    """One ``scoring.model_training`` event for the active admins (once a day: the id carries the day)."""
    from chalicelib.store import directory, publisher
    from schemas.common import Actor, PrincipalKind
    from schemas.events import ScoringModelTraining

    training = run.get("training") or {}
    outcome = ("published" if training.get("published") else "refused" if training else "due")
    admins = [u["id"] for u in directory.list_users() if u["role"] == "admin" and u["active"]]
    evt = ScoringModelTraining(
        id=f"scoring:model_training:{now.date().isoformat()}", occurred_at=now, subject="scoring-model",
        actor=Actor(kind=PrincipalKind.SYSTEM, id="scoring"), outcome=outcome, reasons=list(run.get("reasons", [])),
        version=training.get("version"), current=training.get("current"), detail=training.get("reason"),
        auc=(training.get("new") or {}).get("auc"), brier=(training.get("new") or {}).get("brier"),
        current_auc=(training.get("current_on_same_holdout") or {}).get("auc"), notify=admins)
    publisher.publish([evt])
    logger.log(logging.INFO if outcome == "published" else logging.WARNING,
               "scoring model training %s: %s", outcome, evt.model_dump_json())
