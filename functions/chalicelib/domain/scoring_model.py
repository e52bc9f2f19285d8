"""The model score (智能评分): win probability from a trained model stored as data. Pure Python, no heavy import.

A model is one JSON document (see :func:`validate_model`)::

    {"format": "dealreg.gbdt.v1", "version": "m_20261206T0510", "trained_at": "…",
     "features": [{"name": "customer.region", "kind": "categorical", "categories": ["华南", …]},
                  {"name": "project.amount", "kind": "numeric"}, …],
     "trees": [{"f": [...], "t": [...], "l": [...], "r": [...], "d": [...], "m": [...], "v": [...]}, …],
     "calibration": {"method": "platt", "a": 1.02, "b": -0.03},
     "metrics": {"holdout": {"auc": …, "log_loss": …, "brier": …, "reliability": […]}, …},
     "training": {"rows": …, "won": …, "params": {…}, "library": "lightgbm 4.7.0"}}

Trees are gradient-boosted regression trees on the log-odds scale, one node per list position: ``f`` the
feature index (-1 for a leaf), ``t`` the threshold (a number, or for a categorical feature the list of
category codes that go left), ``l``/``r`` the children, ``d`` 1 when a missing value goes left, ``m`` how a
numeric split treats missing values (0 none: missing counts as 0.0; 1 zero: 0 and missing are missing;
2 nan: missing is missing), ``v`` the node's value (a leaf's output; an inner node's expected output, used to
explain a score). The decision rules are LightGBM's, so a model it trains scores the same here (the trainer
checks this on every holdout row, ``infra/scoring_train.py``).

Records are flat dicts keyed by the feature catalogue below (:data:`CATALOGUE`); a registration becomes one
with :func:`record_of`. Everything the trainer and the product share lives here: the record, the encoding,
the grouped stratified split, scoring, "why this score", the metrics and the "better than" rule.
"""
from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

FORMAT = "dealreg.gbdt.v1"
NUMERIC = "numeric"
CATEGORICAL = "categorical"
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2


@dataclass(frozen=True)
class FeatureDef:
    kind: str
    zh: str
    en: str


# The fields an admin may tick (the seed's "tick the fields related to conversion"). Every one is known
# before the outcome: nothing here is written by won/lost, and nothing counts days spent in a stage.
CATALOGUE: dict[str, FeatureDef] = {
    "customer.industry": FeatureDef(CATEGORICAL, "客户行业", "customer industry"),
    "customer.region": FeatureDef(CATEGORICAL, "客户地区", "customer region"),
    "customer.country": FeatureDef(CATEGORICAL, "客户国家", "customer country"),
    "customer.revenue_band": FeatureDef(NUMERIC, "客户营收规模", "customer revenue band"),
    "customer.employee_band": FeatureDef(NUMERIC, "客户人员规模", "customer headcount band"),
    "customer.prior_revenue_band": FeatureDef(NUMERIC, "近两年客户贡献", "revenue from the customer, past two years"),
    "customer.capital_band": FeatureDef(NUMERIC, "注册资本规模(工商)", "registered capital band (business registry)"),
    "project.product": FeatureDef(CATEGORICAL, "主要产品", "main product"),
    "project.amount": FeatureDef(NUMERIC, "预计金额", "expected amount"),
    "project.currency": FeatureDef(CATEGORICAL, "币种", "currency"),
    "close_horizon_days": FeatureDef(NUMERIC, "预计成交周期(天)", "days to expected close"),
    "source": FeatureDef(CATEGORICAL, "来源渠道", "route to market"),
    "partner_id": FeatureDef(CATEGORICAL, "合作伙伴", "partner"),
    "team_id": FeatureDef(CATEGORICAL, "团队", "team"),
    "sales_stage": FeatureDef(CATEGORICAL, "销售阶段(报备时)", "sales stage at registration"),
    "competitors.status": FeatureDef(CATEGORICAL, "竞争对手情况", "competitor situation"),
    "contacts.count": FeatureDef(NUMERIC, "联系人数", "contacts"),
    "contacts.decision_roles": FeatureDef(NUMERIC, "决策链联系人数", "decision-chain contacts"),
}
DEFAULT_FEATURES: tuple[str, ...] = (
    "customer.industry", "customer.region", "customer.revenue_band", "customer.employee_band",
    "customer.prior_revenue_band", "project.product", "project.amount", "project.currency", "close_horizon_days",
    "source", "sales_stage", "competitors.status", "contacts.count", "contacts.decision_roles",
)
DECISION_ROLES = frozenset({"decision_maker", "economic_buyer"})


class ModelError(ValueError):
    """A model document that cannot be used (wrong format, inconsistent trees, unknown feature)."""


# -- records ------------------------------------------------------------------------------------------------

def _band(value: Any) -> float | None:
    return None if value is None else float(value)


_CAPITAL = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(万|亿)?\s*(?:元|人民币|元人民币)?\s*$")
# Bands of registered capital in CNY: < 1 million, < 10 million, < 100 million, < 1 billion, more.
CAPITAL_BANDS = (1_000_000, 10_000_000, 100_000_000, 1_000_000_000)


def capital_band(text: str | None) -> int | None:
    """注册资本 as a registry publishes it (``185000万元``, ``1.5亿元``, ``500万人民币``, ``3000000``) -> band 1–5
    (company size from registry enrichment, issue 19); None for another currency (美元 …) or unreadable text."""
    m = _CAPITAL.match(text or "")
    if not m:
        return None
    yuan = float(m.group(1).replace(",", "")) * {"万": 1e4, "亿": 1e8}.get(m.group(2) or "", 1.0)
    return 1 + sum(yuan >= cut for cut in CAPITAL_BANDS)


def record_of(registration: Any, *, customer_facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The scoring record of a registration (``schemas.registration.Registration`` or its create body).

    ``customer_facts`` adds what the registration does not carry: ``revenue_band``, ``employee_band``,
    ``capital_band`` (from registry enrichment, when known: :func:`capital_band`) and ``prior_revenue_band`` (the customer's won business of the last two
    years, from RFM). Only fields known before the outcome are read.
    """
    facts = customer_facts or {}
    customer, project = registration.customer, registration.project
    created = getattr(registration, "created_at", None)
    start = created.date() if isinstance(created, datetime) else date.today()
    close = project.expected_close_date
    roles = [c.role.value if hasattr(c.role, "value") else str(c.role) for c in registration.contacts]
    source = getattr(registration, "source", None)
    stage = registration.sales_stage
    return {
        "customer.industry": customer.industry,
        "customer.region": customer.region,
        "customer.country": customer.country,
        "customer.revenue_band": _band(facts.get("revenue_band")),
        "customer.employee_band": _band(facts.get("employee_band")),
        "customer.prior_revenue_band": _band(facts.get("prior_revenue_band")),
        "customer.capital_band": _band(facts.get("capital_band")),
        "project.product": project.products[0] if project.products else None,
        "project.amount": float(project.expected_amount.amount),
        "project.currency": project.expected_amount.currency,
        "close_horizon_days": float((close - start).days) if close else None,
        "source": getattr(source, "value", source),
        "partner_id": getattr(registration, "partner_id", None),
        "team_id": getattr(registration, "team_id", None),
        "sales_stage": stage.value if hasattr(stage, "value") else stage,
        "competitors.status": "known" if registration.competitors else "unknown",
        "contacts.count": float(len(registration.contacts)),
        "contacts.decision_roles": float(sum(1 for r in roles if r in DECISION_ROLES)),
    }


def before_outcome(record: Mapping[str, Any]) -> dict[str, Any]:
    """A closed registration's record without what its close wrote: the sales stage reads closed_won /
    closed_lost after the close (a perfect, useless predictor), so it counts as unknown. For registrations
    without a record kept while open (``store.scoring.keep_training_record``)."""
    out = dict(record)
    if out.get("sales_stage") in ("closed_won", "closed_lost"):
        out["sales_stage"] = None
    return out


# -- encoding -----------------------------------------------------------------------------------------------

def feature_spec(names: Sequence[str], records: Iterable[Mapping[str, Any]], *, max_categories: int = 200,
                 min_count: int = 5) -> list[dict[str, Any]]:
    """The model's feature list for the ticked ``names``: categories seen at least ``min_count`` times in the
    training records (most frequent first, at most ``max_categories``); rarer ones score as unknown."""
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        raise ModelError(f"unknown feature(s) {unknown}; choose from {sorted(CATALOGUE)}")
    records = list(records)
    spec = []
    for name in names:
        kind = CATALOGUE[name].kind
        if kind == CATEGORICAL:
            counts: dict[str, int] = {}
            for rec in records:
                value = rec.get(name)
                if value is not None and value != "":
                    counts[str(value)] = counts.get(str(value), 0) + 1
            cats = [c for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count]
            spec.append({"name": name, "kind": kind, "categories": cats[:max_categories]})
        else:
            spec.append({"name": name, "kind": kind})
    return spec


def _codes(spec: Sequence[Mapping[str, Any]]) -> list[dict[str, int] | None]:
    return [{c: i for i, c in enumerate(f["categories"])} if f["kind"] == CATEGORICAL else None for f in spec]


def encode(spec: Sequence[Mapping[str, Any]], record: Mapping[str, Any],
           codes: Sequence[dict[str, int] | None] | None = None) -> list[float]:
    """One row of floats in spec order; a missing value or an unseen category is NaN."""
    codes = codes if codes is not None else _codes(spec)
    row = []
    for f, table in zip(spec, codes, strict=True):
        value = record.get(f["name"])
        if value is None or value == "":
            row.append(math.nan)
        elif table is not None:
            code = table.get(str(value))
            row.append(math.nan if code is None else float(code))
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            row.append(number if math.isfinite(number) else math.nan)
    return row


# -- the model ----------------------------------------------------------------------------------------------

class Model:
    """A loaded model: each tree as flat node tuples for a fast walk, the path contributions of every leaf
    precomputed (so explaining a score costs no more than scoring it), the spec's codes, the calibration."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        validate_model(doc)
        self.doc = doc
        self.version: str = doc["version"]
        self.spec = doc["features"]
        self.codes = _codes(self.spec)
        cal = doc.get("calibration") or {}
        platt = cal.get("method") == "platt"
        self.cal_a = float(cal["a"]) if platt else 1.0
        self.cal_b = float(cal["b"]) if platt else 0.0
        self.bias = 0.0
        self.trees = []
        for t in doc["trees"]:
            # (feature, how, threshold: a float, or the frozenset of codes sent left, left, right, leaf index)
            nodes: list[tuple[int, int, Any, int, int, int]] = []
            for i, f in enumerate(t["f"]):
                thr = t["t"][i]
                if f < 0:
                    nodes.append((-1, 0, 0.0, 0, 0, i))  # a leaf keeps its index for the paths table
                elif isinstance(thr, list):
                    nodes.append((f, _CAT, frozenset(thr), t["l"][i], t["r"][i], 0))
                else:  # how = missing type * 2 + default_left
                    nodes.append((f, t["m"][i] * 2 + t["d"][i], float(thr), t["l"][i], t["r"][i], 0))
            self.bias += t["v"][0]
            self.trees.append((tuple(nodes), _leaf_paths(t)))
        self._compiled: Any = None  # the walk as one compiled function, built on first use (see _compile)

    def leaves(self, row: Sequence[float]) -> list[tuple[float, tuple[tuple[int, float], ...]]]:
        """The leaf each tree sends the row to: (leaf value, its path's per-feature value changes).

        LightGBM's rules: a categorical split sends listed codes left, anything else (missing, unseen) right;
        a numeric split sends a missing value the default way when the split's missing type is "nan", treats
        0 as missing when it is "zero", and otherwise reads missing as 0.0.
        """
        out = []
        for nodes, paths in self.trees:
            node = nodes[0]
            while node[0] >= 0:
                f, how, thr, left, right, _ = node
                x = row[f]
                if how == _CAT:
                    go_left = x == x and int(x) in thr
                elif x != x:  # NaN: missing ("nan"), or read as 0.0 which "zero" counts as missing
                    go_left = (how & 1) == 1 if how >= 2 else thr >= 0.0
                elif 2 <= how < 4 and x == 0.0:  # "zero": 0 is missing
                    go_left = (how & 1) == 1
                else:
                    go_left = x <= thr
                node = nodes[left if go_left else right]
            out.append(paths[node[5]])
        return out

    def raw(self, row: Sequence[float]) -> float:
        """The model's log-odds for an encoded row (before calibration)."""
        return sum(value for value, _ in self._leaves(row))

    def contributions(self, row: Sequence[float]) -> tuple[float, list[float]]:
        """(bias, per-feature log-odds contributions) along each tree's path; bias + sum = :meth:`raw`."""
        contrib = [0.0] * len(self.spec)
        for _, path in self._leaves(row):
            for f, delta in path:
                contrib[f] += delta
        return self.bias, contrib

    def _leaves(self, row: Sequence[float]) -> list[tuple[float, tuple[tuple[int, float], ...]]]:
        if self._compiled is None:
            self._compiled = _compile(self) or False
        if self._compiled is False:
            return self.leaves(row)
        leaf_ids = self._compiled(row)
        return [paths[i] for (_, paths), i in zip(self.trees, leaf_ids, strict=True)]

    def probability(self, row: Sequence[float]) -> float:
        return sigmoid(self.cal_a * self.raw(row) + self.cal_b)

    def score(self, record: Mapping[str, Any], *, top: int = 3) -> dict[str, Any]:
        """Probability (calibrated), 0–100 score and the top factors, in zh-CN and en."""
        row = encode(self.spec, record, self.codes)
        bias, contrib = self.contributions(row)
        probability = sigmoid(self.cal_a * (bias + sum(contrib)) + self.cal_b)
        return {"probability": round(probability, 4), "score": round(100 * probability),
                "model_version": self.version,
                "factors": explain(self.spec, record, contrib, top=top, scale=self.cal_a)}


_CAT = -1
_MAX_DEPTH = 60  # deeper trees are walked by Model.leaves (the parser limits nesting)


def _compile(model: Model):
    """The trees as one Python function of the encoded row returning each tree's leaf index: nested ``if``s
    are ~10x faster than walking node tuples. The source is generated from the validated model and holds only
    numbers and names we make (thresholds via ``repr(float)``, which round-trips exactly; category sets by
    name), so a model document cannot inject code. Same rules as :meth:`Model.leaves` (tested equal)."""
    n = len(model.spec)
    consts: dict[str, Any] = {}
    lines = ["def walk(row):"]
    for i in range(n):
        kind = model.spec[i]["kind"]
        if kind == CATEGORICAL:
            lines.append(f" c{i} = int(row[{i}]) if row[{i}] == row[{i}] else -1")
        else:
            lines.append(f" x{i} = row[{i}]")
            lines.append(f" z{i} = x{i} if x{i} == x{i} else 0.0")
    out = []

    def cond(node: tuple) -> str:
        f, how, thr, _, _, _ = node
        if how == _CAT:
            name = f"K{len(consts)}"
            consts[name] = thr
            return f"c{f} in {name}"
        t = float(thr)
        if t != t or t in (math.inf, -math.inf):
            name = f"K{len(consts)}"
            consts[name] = t
            lit = name
        else:
            lit = repr(t)
        missing, default_left = how >> 1, how & 1
        if missing == MISSING_NAN:
            return f"not x{f} > {lit}" if default_left else f"x{f} <= {lit}"
        if missing == MISSING_ZERO:
            return f"z{f} == 0.0 or z{f} <= {lit}" if default_left else f"z{f} != 0.0 and z{f} <= {lit}"
        return f"z{f} <= {lit}"

    for k, (nodes, _) in enumerate(model.trees):
        def emit(i: int, depth: int, nodes: Any = nodes, k: int = k) -> None:
            if depth > _MAX_DEPTH:
                raise RecursionError
            node = nodes[i]
            pad = " " * depth
            if node[0] < 0:
                lines.append(f"{pad}l{k} = {int(node[5])}")
                return
            lines.append(f"{pad}if {cond(node)}:")
            emit(int(node[3]), depth + 1)
            lines.append(f"{pad}else:")
            emit(int(node[4]), depth + 1)

        try:
            emit(0, 1)
        except RecursionError:
            return None
        out.append(f"l{k}")
    lines.append(" return (" + ", ".join(out) + ",)")
    namespace: dict[str, Any] = {"__builtins__": {"int": int}, **consts}
    exec(compile("\n".join(lines), f"<model {model.version}>", "exec"), namespace)  # noqa: S102 - see docstring
    return namespace["walk"]


def _leaf_paths(tree: Mapping[str, list]) -> dict[int, tuple[float, tuple[tuple[int, float], ...]]]:
    """For every leaf: (its value, the value changes from the root to it, summed per feature)."""
    out: dict[int, tuple[float, tuple[tuple[int, float], ...]]] = {}
    f, left, right, v = tree["f"], tree["l"], tree["r"], tree["v"]
    stack: list[tuple[int, dict[int, float]]] = [(0, {})]
    while stack:
        node, acc = stack.pop()
        if f[node] < 0:
            out[node] = (v[node], tuple(acc.items()))
            continue
        for child in (left[node], right[node]):
            step = dict(acc)
            step[f[node]] = step.get(f[node], 0.0) + v[child] - v[node]
            stack.append((child, step))
    return out


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _show(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def explain(spec: Sequence[Mapping[str, Any]], record: Mapping[str, Any], contrib: Sequence[float], *,
            top: int = 3, scale: float = 1.0) -> list[dict[str, Any]]:
    """The ``top`` features that moved this score most (log-odds points), each said in zh-CN and en."""
    order = sorted(range(len(spec)), key=lambda i: -abs(contrib[i]))[:top]
    out = []
    for i in order:
        if abs(contrib[i]) < 1e-9:
            continue
        name = spec[i]["name"]
        label = CATALOGUE.get(name, FeatureDef("", name, name))
        value = _show(record.get(name))
        up = contrib[i] > 0
        out.append({
            "feature": name, "value": value, "effect": round(contrib[i] * scale, 4),
            "zh-CN": f"{label.zh}「{value}」{'提高' if up else '降低'}赢单概率",
            "en": f"{label.en} '{value}' {'raises' if up else 'lowers'} the win probability",
        })
    return out


def validate_model(doc: Mapping[str, Any]) -> None:
    """Refuse a document the scorer cannot walk safely (a bad publish must fail before it is live)."""
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise ModelError(f"not a {FORMAT} document")
    if not isinstance(doc.get("version"), str) or not doc["version"]:
        raise ModelError("version missing")
    spec = doc.get("features")
    if not isinstance(spec, list) or not spec:
        raise ModelError("features missing")
    for f in spec:
        if f.get("kind") not in (NUMERIC, CATEGORICAL) or not isinstance(f.get("name"), str):
            raise ModelError(f"bad feature {f!r}")
        if f["kind"] == CATEGORICAL and not isinstance(f.get("categories"), list):
            raise ModelError(f"categorical feature {f['name']} has no categories")
    trees = doc.get("trees")
    if not isinstance(trees, list) or not trees:
        raise ModelError("trees missing")
    for n, t in enumerate(trees):
        size = len(t.get("f", ()))
        if size == 0 or any(len(t.get(k, ())) != size for k in "tlrdmv"):
            raise ModelError(f"tree {n}: node lists differ in length")
        for i in range(size):
            if t["f"][i] >= 0:
                if t["f"][i] >= len(spec) or not (i < t["l"][i] < size and i < t["r"][i] < size):
                    raise ModelError(f"tree {n} node {i}: bad feature or child index")
                if isinstance(t["t"][i], list) != (spec[t["f"][i]]["kind"] == CATEGORICAL):
                    raise ModelError(f"tree {n} node {i}: threshold does not fit the feature's kind")


# -- split, metrics, comparison -----------------------------------------------------------------------------

def grouped_split(groups: Sequence[str], labels: Sequence[int], *, test_share: float = 0.2,
                  seed: int = 19) -> tuple[list[int], list[int]]:
    """(train, test) row indexes: whole groups go to one side, about ``test_share`` of each outcome's rows
    to test, chosen by a seeded shuffle of the groups (the same seed gives the same split)."""
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(str(g), []).append(i)
    rng = random.Random(seed)
    test: set[int] = set()
    for outcome in sorted(set(labels)):
        # a group's outcome is its majority outcome (groups normally have one outcome)
        keys = sorted(k for k, rows in by_group.items()
                      if round(sum(labels[i] for i in rows) / len(rows)) == outcome)
        rng.shuffle(keys)
        total = sum(len(by_group[k]) for k in keys)
        taken = 0
        for k in keys:
            if taken >= test_share * total:
                break
            test.update(by_group[k])
            taken += len(by_group[k])
    train = [i for i in range(len(groups)) if i not in test]
    return train, sorted(test)


@dataclass(frozen=True)
class TrainingSplit:
    """What every trainer starts from: the feature spec learnt on the fit rows, every record encoded, and the
    fit / calibration / holdout row indexes (whole groups on one side)."""

    spec: list[dict[str, Any]]
    rows: list[list[float]]
    fit: list[int]
    calibration: list[int]
    holdout: list[int]


def training_split(records: Sequence[Mapping[str, Any]], labels: Sequence[int], groups: Sequence[str],
                   features: Sequence[str], *, seed: int) -> TrainingSplit:
    """80/20 grouped split stratified by outcome (seed ``seed``), then 90/10 of the 80 for fitting and
    calibration (seed + 1); the spec comes from the fit rows only. Raises ModelError on unusable input."""
    if len(records) != len(labels) or len(records) != len(groups):
        raise ModelError("records, labels and groups differ in length")
    if len(set(labels)) < 2:
        raise ModelError("training needs both won and lost registrations")
    train_idx, test_idx = grouped_split(groups, labels, test_share=0.2, seed=seed)
    fit_rel, cal_rel = grouped_split([groups[i] for i in train_idx], [labels[i] for i in train_idx],
                                     test_share=0.1, seed=seed + 1)
    fit_idx = [train_idx[i] for i in fit_rel]
    spec = feature_spec(features, [records[i] for i in fit_idx])
    codes = _codes(spec)
    return TrainingSplit(spec=spec, rows=[encode(spec, r, codes) for r in records], fit=fit_idx,
                         calibration=[train_idx[i] for i in cal_rel], holdout=test_idx)


def calibrated_holdout(cal_raw: Sequence[float], cal_y: Sequence[int], test_raw: Sequence[float],
                       test_y: Sequence[int]) -> tuple[dict[str, Any], list[float], dict[str, Any]]:
    """Platt scaling fitted on the calibration rows, kept only if it lowers their log loss (trees trained on
    log loss are often calibrated already; then the identity is kept and said so), applied to the holdout.
    Returns (the document's ``calibration``, the holdout probabilities, the document's ``metrics``)."""
    two = len(set(cal_y)) == 2
    a, b = fit_platt(cal_raw, cal_y) if two else (1.0, 0.0)
    platt_better = two and (log_loss(cal_y, [sigmoid(a * r + b) for r in cal_raw])
                            < log_loss(cal_y, [sigmoid(r) for r in cal_raw]))
    if not platt_better:
        a, b = 1.0, 0.0
    probs = [sigmoid(a * r + b) for r in test_raw]
    raw = metrics(test_y, [sigmoid(r) for r in test_raw])
    calibration = {"method": "platt" if platt_better else "none", "a": a, "b": b, "fitted_on_rows": len(cal_y)}
    return calibration, probs, {"holdout": metrics(test_y, probs),
                                "holdout_uncalibrated": {k: raw[k] for k in ("auc", "log_loss", "brier", "ece")}}


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half)."""
    pairs = sorted(zip(scores, labels, strict=True))
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return math.nan
    rank_sum, i, n = 0.0, 0, len(pairs)
    while i < n:
        j = i
        while j < n and pairs[j][0] == pairs[i][0]:
            j += 1
        mid_rank = (i + j + 1) / 2  # ranks are 1-based
        rank_sum += mid_rank * sum(lab for _, lab in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def log_loss(labels: Sequence[int], probs: Sequence[float]) -> float:
    eps = 1e-15
    return -sum(math.log(min(max(p, eps), 1 - eps)) if y else math.log(1 - min(max(p, eps), 1 - eps))
                for y, p in zip(labels, probs, strict=True)) / len(labels)


def brier(labels: Sequence[int], probs: Sequence[float]) -> float:
    return sum((p - y) ** 2 for y, p in zip(labels, probs, strict=True)) / len(labels)


def reliability(labels: Sequence[int], probs: Sequence[float], bins: int = 10) -> list[dict[str, Any]]:
    """Calibration table: per probability decile, rows, mean predicted probability and observed win rate."""
    table = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        rows = [(y, p) for y, p in zip(labels, probs, strict=True) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if rows:
            table.append({"bin": f"{lo:.1f}–{hi:.1f}", "rows": len(rows),
                          "predicted": round(sum(p for _, p in rows) / len(rows), 4),
                          "observed": round(sum(y for y, _ in rows) / len(rows), 4)})
    return table


def metrics(labels: Sequence[int], probs: Sequence[float]) -> dict[str, Any]:
    rel = reliability(labels, probs)
    ece = sum(r["rows"] * abs(r["predicted"] - r["observed"]) for r in rel) / len(labels)
    return {"rows": len(labels), "won": int(sum(labels)), "auc": round(roc_auc(labels, probs), 4),
            "log_loss": round(log_loss(labels, probs), 4), "brier": round(brier(labels, probs), 4),
            "ece": round(ece, 4), "reliability": rel}


def beats(new: Mapping[str, Any], old: Mapping[str, Any] | None, *, min_auc_gain: float = 0.0,
          max_brier_loss: float = 0.002) -> bool:
    """Whether a new model's holdout metrics beat the current model's *on the same holdout*: a higher AUC
    (by more than ``min_auc_gain``) without a Brier score worse by more than ``max_brier_loss``."""
    if old is None:
        return True
    return (new["auc"] > old["auc"] + min_auc_gain) and new["brier"] <= old["brier"] + max_brier_loss


def fit_platt(raw: Sequence[float], labels: Sequence[int], iterations: int = 50) -> tuple[float, float]:
    """Platt scaling p = sigmoid(a·raw + b) by Newton's method on the log loss (with Platt's target
    smoothing), fitted on rows the trees were not trained on."""
    pos = sum(labels)
    neg = len(labels) - pos
    hi, lo = (pos + 1) / (pos + 2), 1 / (neg + 2)
    targets = [hi if y else lo for y in labels]
    a, b = 1.0, 0.0
    for _ in range(iterations):
        g_a = g_b = h_aa = h_ab = h_bb = 0.0
        for x, t in zip(raw, targets, strict=True):
            p = sigmoid(a * x + b)
            w = max(p * (1 - p), 1e-12)
            g_a += (p - t) * x
            g_b += p - t
            h_aa += w * x * x
            h_ab += w * x
            h_bb += w
        det = h_aa * h_bb - h_ab * h_ab
        if abs(det) < 1e-12:
            break
        da = (h_bb * g_a - h_ab * g_b) / det
        db = (h_aa * g_b - h_ab * g_a) / det
        a, b = a - da, b - db
        if abs(da) < 1e-10 and abs(db) < 1e-10:
            break
    return a, b




def evaluate(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]], labels: Sequence[int]) -> dict[str, Any]:
    """Metrics of an existing model document on given rows (the "beats the current model on the same holdout"
    check of every trainer)."""
    model = Model(doc)
    return metrics(list(labels), [model.probability(encode(model.spec, r, model.codes)) for r in records])
