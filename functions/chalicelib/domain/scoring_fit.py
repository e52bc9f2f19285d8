"""A pure-Python trainer for the model score (issue 19): what the daily job can run inside a Lambda.

LightGBM (``infra/scoring_train.py``) needs NumPy and SciPy, which do not fit the Lambda package; this trainer
needs nothing beyond the standard library. It fits a **binned logistic regression** (a scorecard): every
categorical feature gets one weight per category (plus one for missing/unseen), every numeric feature one
weight per quantile bin (plus one for missing), with an L2 penalty, by block-coordinate Newton steps (the bins
of one feature never overlap, so each feature's Newton step is exact per bin). Such an additive model is a
sum of one-feature step functions, so it is written as the same ``dealreg.gbdt.v1`` document the product
already scores and explains (``scoring_model.Model``): one small tree per feature (balanced splits down to
the bins) and one single-leaf tree for the intercept. The same split, calibration and metrics as the LightGBM
trainer; the result goes through the same "publish only if it beats the current model" path.

Bounded: the caller passes the rows (it limits how many) and ``time_left`` (the Lambda's remaining time);
passes stop when converged or when the time is up (``training.converged`` says which).
"""
from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain import scoring_model as sm

LIBRARY = "dealreg binned logistic regression (pure Python)"
NUMERIC_BINS = 8
L2 = 2.0
MAX_PASSES = 60
TOLERANCE = 1e-6  # stop when a pass lowers the penalised mean log loss by less than this
_ALWAYS = sys.float_info.max  # a numeric split every finite number passes left; missing goes right


@dataclass
class FitResult:
    doc: dict[str, Any]
    test_index: list[int]
    test_probabilities: list[float]
    passes: int
    converged: bool


def _cuts(values: Sequence[float], bins: int) -> list[float]:
    """Up to ``bins - 1`` increasing thresholds at the quantiles of ``values`` (``x <= t`` goes below)."""
    finite = sorted(v for v in values if v == v)
    if not finite:
        return []
    cuts: list[float] = []
    for k in range(1, bins):
        t = finite[min(len(finite) - 1, (k * len(finite)) // bins)]
        if t < finite[-1] and (not cuts or t > cuts[-1]):
            cuts.append(t)
    return cuts


def _bin_of(x: float, cuts: Sequence[float], missing: int) -> int:
    if x != x:
        return missing
    lo, hi = 0, len(cuts)  # the number of cuts below x (bisect_left on "x > t")
    while lo < hi:
        mid = (lo + hi) // 2
        if x > cuts[mid]:
            lo = mid + 1
        else:
            hi = mid
    return lo


class _Binner:
    """Row -> one bin index per feature (categorical: its code, else the last bin; numeric: quantile bin, else
    the last bin)."""

    def __init__(self, spec: Sequence[Mapping[str, Any]], rows: Sequence[Sequence[float]], bins: int) -> None:
        self.spec = spec
        self.cuts: list[list[float]] = []
        self.sizes: list[int] = []
        for f, feature in enumerate(spec):
            if feature["kind"] == sm.CATEGORICAL:
                self.cuts.append([])
                self.sizes.append(len(feature["categories"]) + 1)
            else:
                cuts = _cuts([r[f] for r in rows], bins)
                self.cuts.append(cuts)
                self.sizes.append(len(cuts) + 2)

    def bins(self, row: Sequence[float]) -> list[int]:
        out = []
        for f, feature in enumerate(self.spec):
            x, unknown = row[f], self.sizes[f] - 1
            if feature["kind"] == sm.CATEGORICAL:
                out.append(unknown if x != x else int(x))
            else:
                out.append(_bin_of(x, self.cuts[f], unknown))
        return out


def fit(binned: Sequence[Sequence[int]], labels: Sequence[int], sizes: Sequence[int], *, l2: float = L2,
        max_passes: int = MAX_PASSES, tolerance: float = TOLERANCE,
        time_left: Callable[[], bool] | None = None) -> tuple[float, list[list[float]], int, bool]:
    """(intercept, weights per feature and bin, passes, converged) minimising the log loss + ``l2``/2·|w|²."""
    n = len(labels)
    rate = (sum(labels) + 0.5) / (n + 1.0)
    bias = math.log(rate / (1 - rate))
    weights = [[0.0] * size for size in sizes]
    margin = [bias] * n
    passes, converged, previous = 0, False, math.inf
    while passes < max_passes and not converged:
        if passes and time_left is not None and not time_left():
            break
        passes += 1
        g = h = 0.0
        for i in range(n):
            p = sm.sigmoid(margin[i])
            g += p - labels[i]
            h += p * (1 - p)
        step = -g / max(h, 1e-12)
        bias += step
        margin = [m + step for m in margin]
        for f, size in enumerate(sizes):
            w = weights[f]
            grad, hess = [0.0] * size, [0.0] * size
            for i in range(n):
                p = sm.sigmoid(margin[i])
                b = binned[i][f]
                grad[b] += p - labels[i]
                hess[b] += p * (1 - p)
            delta = [-(grad[b] + l2 * w[b]) / (hess[b] + l2) for b in range(size)]
            for b in range(size):
                w[b] += delta[b]
            for i in range(n):
                margin[i] += delta[binned[i][f]]
        loss = (sm.log_loss(labels, [sm.sigmoid(m) for m in margin])
                + l2 / 2 * sum(x * x for w in weights for x in w) / n)
        converged = previous - loss < tolerance
        previous = loss
    return bias, weights, passes, converged


def _tree(feature: Mapping[str, Any], cuts: Sequence[float], w: Sequence[float], mean: float) -> dict[str, list]:
    """One feature's weights as a tree in the model document's node lists (pre-order; inner nodes carry the
    feature's mean contribution, so "why" reads each feature's effect against the average registration)."""
    out: dict[str, list] = {k: [] for k in "ftlrdmv"}

    def node(f: int, t: Any, d: int, m: int, v: float) -> int:
        me = len(out["f"])
        for key, value in zip("ftlrdmv", (f, t, -1, -1, d, m, v), strict=True):
            out[key].append(value)
        return me

    def leaf(value: float) -> int:
        return node(-1, 0, 0, 0, value)

    unknown = len(w) - 1
    if feature["kind"] == sm.CATEGORICAL:
        def cat(codes: list[int], unk: bool) -> int:
            if not codes:
                return leaf(w[unknown])
            if len(codes) == 1 and not unk:
                return leaf(w[codes[0]])
            half = (len(codes) + 1) // 2 if unk else len(codes) // 2
            me = node(0, sorted(codes[:half]), 0, 0, mean)
            out["l"][me] = cat(codes[:half], False)
            out["r"][me] = cat(codes[half:], unk)
            return me

        cat(list(range(unknown)), True)
        return out

    def num(lo: int, hi: int) -> int:
        if lo == hi:
            return leaf(w[lo])
        mid = (lo + hi) // 2
        me = node(0, float(cuts[mid]), 0, sm.MISSING_NAN, mean)
        out["l"][me] = num(lo, mid)
        out["r"][me] = num(mid + 1, hi)
        return me

    root = node(0, _ALWAYS, 0, sm.MISSING_NAN, mean)  # finite numbers left, missing right
    out["l"][root] = num(0, len(cuts))
    out["r"][root] = leaf(w[unknown])
    return out


def _document(spec: list[dict[str, Any]], binner: _Binner, bias: float, weights: list[list[float]],
              means: list[float]) -> dict[str, Any]:
    trees: list[dict[str, Any]] = [{"f": [-1], "t": [0], "l": [-1], "r": [-1], "d": [0], "m": [0], "v": [bias]}]
    for f, feature in enumerate(spec):
        tree = _tree(feature, binner.cuts[f], weights[f], means[f])
        tree["f"] = [f if x >= 0 else -1 for x in tree["f"]]
        trees.append(tree)
    return {"format": sm.FORMAT, "version": "unfitted", "features": spec, "trees": trees}


def train(records: Sequence[Mapping[str, Any]], labels: Sequence[int], groups: Sequence[str],
          features: Sequence[str], *, seed: int = 19, now: datetime, version: str | None = None,
          source: str = "registrations", time_left: Callable[[], bool] | None = None,
          l2: float = L2, bins: int = NUMERIC_BINS) -> FitResult:
    """Split (grouped, stratified, seeded 80/20, as the LightGBM trainer) -> fit on 90 % of train -> Platt
    calibration on the other 10 % (kept only if it lowers their log loss) -> the model document with its
    holdout metrics. Pure: the caller reads the records and says how long it may take."""
    split = sm.training_split(records, labels, groups, features, seed=seed)
    spec, rows, fit_idx, cal_idx, test_idx = split.spec, split.rows, split.fit, split.calibration, split.holdout
    binner = _Binner(spec, [rows[i] for i in fit_idx], bins)
    binned_fit = [binner.bins(rows[i]) for i in fit_idx]
    y_fit = [labels[i] for i in fit_idx]
    bias, weights, passes, converged = fit(binned_fit, y_fit, binner.sizes, l2=l2, time_left=time_left)
    means = [sum(weights[f][b[f]] for b in binned_fit) / len(binned_fit) for f in range(len(spec))]
    plain = sm.Model(_document(spec, binner, bias, weights, means))
    cal_raw = [plain.raw(rows[i]) for i in cal_idx]
    cal_y = [labels[i] for i in cal_idx]
    raw_test = [plain.raw(rows[i]) for i in test_idx]
    calibration, probs, measured = sm.calibrated_holdout(cal_raw, cal_y, raw_test, [labels[i] for i in test_idx])
    doc = {
        **plain.doc, "version": version or "m_" + now.strftime("%Y%m%dT%H%M%S"), "trained_at": now.isoformat(),
        "calibration": calibration, "metrics": measured,
        "training": {"source": source, "rows": len(records), "won": int(sum(labels)), "fit_rows": len(fit_idx),
                     "calibration_rows": len(cal_idx), "holdout_rows": len(test_idx), "seed": seed,
                     "split": "grouped stratified 80/20 (holdout), 90/10 within train (calibration)",
                     "trees": len(spec) + 1, "params": {"l2": l2, "numeric_bins": bins, "passes": passes,
                                                        "converged": converged},
                     "library": LIBRARY},
    }
    sm.validate_model(doc)
    return FitResult(doc=doc, test_index=test_idx, test_probabilities=probs, passes=passes, converged=converged)
