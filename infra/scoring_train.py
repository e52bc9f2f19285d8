"""Training the model score (operator side; never shipped to Lambda).

Why LightGBM: gradient-boosted trees are the strongest simple learner for this kind of table (a few
categorical and numeric fields, tens of thousands of rows; on the IBM sample they beat logistic regression by
~0.08 AUC), LightGBM handles categorical fields and missing values natively, trains the IBM sample in seconds
on one core, and publishes its trees as JSON (``Booster.dump_model``), which we turn into our own document and
score in pure Python (``chalicelib.domain.scoring_model``). Its wheel with numpy and scipy is ~100 MB, too big
and too slow to import for the request path, so it is an ops extra (``pip install -e '.[scoring]'``) used by
``dealreg scoring train|eval`` where an operator (or a scheduled CI/cron job) runs them; the Lambda bundle
only reads the published JSON.

One path for the product and the IBM evaluation: records (flat dicts, ``scoring_model.record_of`` for a
registration, a column mapping for a CSV) + labels + groups -> :func:`train` -> a model document with its
holdout metrics.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import scoring_model as sm

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 8,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}
MAX_ROUNDS = 600
EARLY_STOP = 50
PARITY_TOLERANCE = 1e-9


class TrainingError(RuntimeError):
    pass


@dataclass
class TrainResult:
    doc: dict[str, Any]
    test_index: list[int]
    test_probabilities: list[float]
    parity_max_diff: float


def _require_lightgbm():
    try:
        import lightgbm
        import numpy
    except ImportError as err:  # pragma: no cover - depends on the operator's install
        raise TrainingError("training needs the scoring extra: pip install -e '.[scoring]'") from err
    return lightgbm, numpy


def _convert_tree(structure: Mapping[str, Any], spec: Sequence[Mapping[str, Any]]) -> dict[str, list]:
    """LightGBM's nested tree dump -> our parallel node lists (pre-order, so children follow parents)."""
    out: dict[str, list] = {k: [] for k in "ftlrdmv"}
    missing = {"None": sm.MISSING_NONE, "Zero": sm.MISSING_ZERO, "NaN": sm.MISSING_NAN}

    def walk(node: Mapping[str, Any]) -> int:
        me = len(out["f"])
        for k in "ftlrdmv":
            out[k].append(None)
        if "leaf_value" in node:
            out["f"][me], out["t"][me], out["l"][me], out["r"][me] = -1, 0, -1, -1
            out["d"][me], out["m"][me], out["v"][me] = 0, 0, float(node["leaf_value"])
            return me
        feature = int(node["split_feature"])
        if node["decision_type"] == "==":
            if spec[feature]["kind"] != sm.CATEGORICAL:
                raise TrainingError("categorical split on a numeric feature")
            threshold: Any = sorted(int(c) for c in str(node["threshold"]).split("||"))
        elif node["decision_type"] == "<=":
            threshold = float(node["threshold"])
        else:
            raise TrainingError(f"unknown decision type {node['decision_type']}")
        out["f"][me], out["t"][me] = feature, threshold
        out["d"][me] = 1 if node["default_left"] else 0
        out["m"][me] = missing[node["missing_type"]]
        out["v"][me] = float(node["internal_value"])
        out["l"][me] = walk(node["left_child"])
        out["r"][me] = walk(node["right_child"])
        return me

    walk(structure)
    return out


def train(records: Sequence[Mapping[str, Any]], labels: Sequence[int], groups: Sequence[str],
          features: Sequence[str], *, seed: int = 19, params: Mapping[str, Any] | None = None,
          version: str | None = None, now: datetime | None = None, source: str = "registrations") -> TrainResult:
    """Split (grouped, stratified, seeded 80/20) -> fit trees on 90 % of train with early stopping on the other
    10 % -> Platt calibration on that 10 % -> the model document, checked to score every holdout row exactly
    as LightGBM does, with metrics on the holdout it never saw."""
    lgb, np = _require_lightgbm()
    now = now or datetime.now(UTC)
    split = sm.training_split(records, labels, groups, features, seed=seed)  # ModelError on unusable input
    spec, rows, fit_idx, cal_idx, test_idx = split.spec, split.rows, split.fit, split.calibration, split.holdout
    cats = [i for i, f in enumerate(spec) if f["kind"] == sm.CATEGORICAL]

    def data(idx):
        return np.array([rows[i] for i in idx], dtype=np.float64), np.array([labels[i] for i in idx])

    x_fit, y_fit = data(fit_idx)
    x_cal, y_cal = data(cal_idx)
    p = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    d_fit = lgb.Dataset(x_fit, y_fit, categorical_feature=cats, free_raw_data=False)
    d_cal = lgb.Dataset(x_cal, y_cal, reference=d_fit, categorical_feature=cats, free_raw_data=False)
    booster = lgb.train(p, d_fit, num_boost_round=int(p.pop("num_boost_round", MAX_ROUNDS)), valid_sets=[d_cal],
                        callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)])
    best = booster.best_iteration or booster.current_iteration()
    dump = booster.dump_model(num_iteration=best)
    trees = [_convert_tree(t["tree_structure"], spec) for t in dump["tree_info"]]
    uncalibrated = {"format": sm.FORMAT, "version": "uncalibrated", "features": spec, "trees": trees}
    plain = sm.Model(uncalibrated)
    cal_raw = [plain.raw(rows[i]) for i in cal_idx]
    cal_y = [labels[i] for i in cal_idx]

    # Parity: our walk must give LightGBM's own raw scores on every holdout row.
    x_test, _ = data(test_idx)
    theirs = booster.predict(x_test, num_iteration=best, raw_score=True)
    ours = [plain.raw(rows[i]) for i in test_idx]
    diff = max((abs(o - t) for o, t in zip(ours, theirs, strict=True)), default=0.0)
    if not diff <= PARITY_TOLERANCE:
        raise TrainingError(f"pure-Python scoring differs from LightGBM by {diff}")

    calibration, probs, measured = sm.calibrated_holdout(cal_raw, cal_y, ours, [labels[i] for i in test_idx])
    version = version or "m_" + now.strftime("%Y%m%dT%H%M%S")
    doc = {
        "format": sm.FORMAT, "version": version, "trained_at": now.isoformat(),
        "features": spec, "trees": trees,
        "calibration": calibration, "metrics": measured,
        "training": {"source": source, "rows": len(records), "won": int(sum(labels)), "fit_rows": len(fit_idx),
                     "calibration_rows": len(cal_idx), "holdout_rows": len(test_idx), "seed": seed,
                     "split": "grouped stratified 80/20 (holdout), 90/10 within train (early stop + calibration)",
                     "trees": len(trees), "params": {k: v for k, v in p.items() if k != "seed"},
                     "library": f"lightgbm {lgb.__version__}", "parity_max_diff": diff},
    }
    sm.validate_model(doc)
    return TrainResult(doc=doc, test_index=test_idx, test_probabilities=probs, parity_max_diff=diff)


def evaluate(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]], labels: Sequence[int]) -> dict[str, Any]:
    """Metrics of an existing model on given rows (``scoring_model.evaluate``)."""
    return sm.evaluate(doc, records, labels)
