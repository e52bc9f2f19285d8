"""``dealreg scoring train|eval|models|rollback``: the model score's operator side (issue 19).

- ``train``: the tenant's closed registrations (won vs lost, read through ``ByStatusIndex``) -> scoring records
  (``scoring_model.record_of``, only fields known before the outcome; ``--features`` ticks which) -> the same
  ``infra.scoring_train.train`` as ``eval`` -> the new model and the current one are both measured on the new
  holdout; the new version is published only if it beats the current one there (``--force`` publishes anyway,
  ``--dry-run`` only reports). Needs the ``scoring`` extra (LightGBM).
- ``eval FILE --mapping M``: a CSV (or a zip holding one) of closed opportunities, its columns mapped onto the
  scoring record by a JSON mapping (``bench/scoring_ibm_mapping.json``), through the same training and scoring
  code; prints the metrics and a Markdown table (``--out`` keeps the model document).
- ``models``: the current version, its history and metrics; ``rollback [--to VERSION]``: back one version.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

CLOSED = ("won", "lost")


def _rows(path: Path) -> Iterator[dict[str, str]]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise SystemExit(f"{path}: expected one CSV inside, found {names}")
            with z.open(names[0]) as raw:
                yield from csv.DictReader(io.TextIOWrapper(raw, "utf-8-sig", newline=""))
    else:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            yield from csv.DictReader(handle)


def mapped_records(rows: Iterator[Mapping[str, str]], mapping: Mapping[str, Any]
                   ) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    """CSV rows -> (scoring records, labels 1 won / 0 lost, groups). Rows with another outcome are skipped."""
    from chalicelib.domain.scoring_model import CATALOGUE

    fields = mapping["fields"]
    unknown = [f for f in fields if f not in CATALOGUE]
    if unknown:
        raise SystemExit(f"mapping names unknown fields {unknown}; choose from {sorted(CATALOGUE)}")
    label = mapping["label"]
    won, lost = set(label["won"]), set(label.get("lost", ()))
    records, labels, groups = [], [], []
    for n, row in enumerate(rows):
        outcome = row[label["column"]]
        if outcome not in won and (lost and outcome not in lost):
            continue
        rec = {}
        for name, spec in fields.items():
            value = spec["value"] if "value" in spec else row[spec["column"]]
            rec[name] = spec.get("values", {}).get(value, value)
        records.append(rec)
        labels.append(1 if outcome in won else 0)
        groups.append(row[mapping["group"]] if mapping.get("group") else str(n))
    return records, labels, groups


def markdown(doc: Mapping[str, Any]) -> str:
    h = doc["metrics"]["holdout"]
    u = doc["metrics"]["holdout_uncalibrated"]
    t = doc["training"]
    lines = [
        "| rows (train / holdout) | won in holdout | trees | ROC AUC | log loss | Brier | ECE |",
        "|---|---|---|---|---|---|---|",
        f"| {t['fit_rows'] + t['calibration_rows']} / {h['rows']} | {h['won']} | {t['trees']} | {h['auc']} "
        f"| {h['log_loss']} | {h['brier']} | {h['ece']} |",
        "",
        f"Calibration: {doc['calibration']['method']} (uncalibrated: AUC {u['auc']}, log loss {u['log_loss']}, "
        f"Brier {u['brier']}, ECE {u['ece']}).",
        "",
        "| predicted | rows | mean predicted | observed win rate |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['bin']} | {r['rows']} | {r['predicted']} | {r['observed']} |" for r in h["reliability"]]
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    mapping = json.loads(Path(args.mapping).read_text(encoding="utf-8"))
    records, labels, groups = mapped_records(_rows(Path(args.file)), mapping)
    features = args.features.split(",") if args.features else list(mapping["fields"])
    result: Any
    if args.trainer == "pure":  # the daily job's trainer (domain/scoring_fit.py)
        from chalicelib.domain import scoring_fit

        result = scoring_fit.train(records, labels, groups, features, seed=args.seed, now=datetime.now(UTC),
                                   source=Path(args.file).name, version=f"eval_{Path(args.file).stem}")
    else:
        from infra import scoring_train

        result = scoring_train.train(records, labels, groups, features, seed=args.seed,
                                     source=Path(args.file).name, version=f"eval_{Path(args.file).stem}")
    if args.out:
        Path(args.out).write_text(json.dumps(result.doc, ensure_ascii=False), encoding="utf-8")
    summary = {"rows": len(records), "won": sum(labels), "features": features,
               "holdout": {k: v for k, v in result.doc["metrics"]["holdout"].items() if k != "reliability"},
               "calibration": result.doc["calibration"]["method"], "trees": result.doc["training"]["trees"],
               "parity_max_diff": getattr(result, "parity_max_diff", None),
               "library": result.doc["training"]["library"]}
    print(json.dumps(summary, ensure_ascii=False))
    print(markdown(result.doc), file=sys.stderr if args.quiet_table else sys.stdout)
    return 0


def closed_records(customer_facts=None):
    """``services.scoring.closed_records`` (kept here for callers of the CLI module)."""
    from chalicelib.services.scoring import closed_records as read

    return read(customer_facts)


def train_and_publish(*, features: list[str], now, seed: int = 19, force: bool = False, dry_run: bool = False,
                      min_rows: int = 100) -> dict[str, Any]:
    """The operator's training run: LightGBM through the product's one train-compare-publish path
    (``services.scoring.train_and_publish``; the daily job runs the same path with the pure-Python trainer)."""
    from chalicelib.services import scoring
    from infra import scoring_train

    def lightgbm(records, labels, groups, features, *, seed, now):
        return scoring_train.train(records, labels, groups, features, seed=seed, now=now)

    return scoring.train_and_publish(features=features, now=now, trainer=lightgbm, seed=seed, force=force,
                                     dry_run=dry_run, min_rows=min_rows)


def cmd_train(args: argparse.Namespace, storage, now) -> int:
    from chalicelib.domain.scoring_model import DEFAULT_FEATURES

    storage(args)
    features = args.features.split(",") if args.features else list(DEFAULT_FEATURES)
    out = train_and_publish(features=features, now=now(), seed=args.seed, force=args.force, dry_run=args.dry_run,
                            min_rows=args.min_rows)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_models(args: argparse.Namespace, storage, now) -> int:
    from chalicelib.store import scoring as store

    storage(args)
    cur = store.current()
    versions = [v for v in [cur.get("version"), *cur.get("history", [])] if v]
    print(json.dumps({"current": cur.get("version"), "history": cur.get("history", []),
                      "last_check": store.last_check(),
                      "models": [{"version": v, **{k: (store.summary(v) or {}).get(k)
                                                   for k in ("trained_at", "features")},
                                  "holdout": {k: ((store.summary(v) or {}).get("metrics") or {}).get("holdout", {}).get(k)
                                              for k in ("auc", "log_loss", "brier", "ece")}} for v in versions]},
                     ensure_ascii=False))
    return 0


def cmd_rollback(args: argparse.Namespace, storage, now) -> int:
    from chalicelib.store import scoring as store

    storage(args)
    print(json.dumps(store.rollback(now=now(), to=args.to), ensure_ascii=False))
    return 0


def add_parsers(sub: Any, storage: Callable[[argparse.Namespace], None], now: Any,
                storage_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    scoring = sub.add_parser("scoring", help="model score: train, evaluate, publish, roll back").add_subparsers(
        dest="action", required=True)
    tr = scoring.add_parser("train", help="train on closed registrations; publish only if it beats the current")
    tr.add_argument("--features", help="comma-separated scoring fields (default: all pre-close fields)")
    tr.add_argument("--seed", type=int, default=19)
    tr.add_argument("--min-rows", type=int, default=100)
    tr.add_argument("--force", action="store_true", help="publish even if it does not beat the current model")
    tr.add_argument("--dry-run", action="store_true")
    storage_flags(tr)
    tr.set_defaults(func=lambda a: cmd_train(a, storage, now))
    ev = scoring.add_parser("eval", help="train + evaluate on a CSV of closed opportunities through a mapping")
    ev.add_argument("file")
    ev.add_argument("--mapping", required=True, help="JSON: label column, group column, field -> column")
    ev.add_argument("--features", help="comma-separated subset of the mapped fields")
    ev.add_argument("--seed", type=int, default=19)
    ev.add_argument("--trainer", choices=("lightgbm", "pure"), default="lightgbm",
                    help="lightgbm (dealreg scoring train) or pure (the daily job's pure-Python trainer)")
    ev.add_argument("--out", help="write the model document here")
    ev.add_argument("--quiet-table", action="store_true", help="print the Markdown table on stderr")
    ev.set_defaults(func=cmd_eval)
    mo = scoring.add_parser("models", help="the current model version, its history and metrics")
    storage_flags(mo)
    mo.set_defaults(func=lambda a: cmd_models(a, storage, now))
    rb = scoring.add_parser("rollback", help="publish the previous model version again")
    rb.add_argument("--to", help="a version from the history (default: the one before the current)")
    storage_flags(rb)
    rb.set_defaults(func=lambda a: cmd_rollback(a, storage, now))
