"""All scores of one registration, with why. Pure: the caller reads the registration, its follow-ups and the
published model; see ``scoring_model`` (model), ``scoring_rules`` (attribute, behaviour)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain import scoring_model, scoring_rules


def scores_for(reg: Any, follow_ups: Iterable[Any], *, now: datetime, attribute_rules, behaviour_rules,
               model: scoring_model.Model | None, customer_facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``schemas.scoring.RegistrationScores`` answer as a dict."""
    record = scoring_model.record_of(reg, customer_facts=customer_facts)
    attribute, attribute_factors = scoring_rules.attribute_score(record, attribute_rules)
    points, behaviour, behaviour_factors = scoring_rules.behaviour_points(
        reg.audit, follow_ups, behaviour_rules, now=now, stage_moves=scoring_rules.stage_moves_of(reg.audit))
    model_score = None
    if model is not None:
        scored = model.score(record)
        model_score = {**{k: scored[k] for k in ("probability", "score", "model_version")},
                       "factors": [{"source": "model", "key": f["feature"], "effect": f["effect"],
                                    "zh-CN": f["zh-CN"], "en": f["en"]} for f in scored["factors"]]}
    return {"id": reg.id, "attribute": attribute, "attribute_factors": attribute_factors,
            "behaviour": behaviour, "behaviour_points": points, "behaviour_factors": behaviour_factors,
            "model": model_score, "computed_at": now}


def summary(reg: Any, *, attribute_rules, model: scoring_model.Model | None,
            customer_facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``schemas.registration.ScoreSummary`` of a registration as a dict: the attribute score, the model's win
    probability (when a model is published) and the score that orders work (the probability × 100 when there is
    a model, else the attribute score). Pure; no follow-ups, so lists can show it without reading more."""
    record = scoring_model.record_of(reg, customer_facts=customer_facts)
    attribute = scoring_rules.attribute_score(record, attribute_rules)[0]
    if model is None:
        return {"score": attribute, "basis": "attribute", "attribute": attribute, "model_probability": None,
                "model_version": None}
    probability = model.probability(scoring_model.encode(model.spec, record, model.codes))
    return {"score": round(100 * probability), "basis": "model", "attribute": attribute,
            "model_probability": round(probability, 4), "model_version": model.version}


def rank(summaries: Mapping[str, Mapping[str, Any]], regs: Iterable[Any], *, min_score: int = 0) -> list[Any]:
    """``regs`` whose score is at least ``min_score``, highest score first (ties: id). Pure."""
    kept = [r for r in regs if summaries[r.id]["score"] >= min_score]
    return sorted(kept, key=lambda r: (-summaries[r.id]["score"], r.id))


def model_forecast(regs: Iterable[Any], probability_of) -> dict[str, dict[str, Decimal]]:
    """The forecast weighted by the model (issue 19): sales stage -> currency -> Σ expected amount × the model's
    win probability of each registration (``probability_of(reg)``), rounded to cents. Pure."""
    out: dict[str, dict[str, Decimal]] = {}
    for reg in regs:
        money = reg.project.expected_amount
        stage = reg.sales_stage.value if hasattr(reg.sales_stage, "value") else str(reg.sales_stage)
        cell = out.setdefault(stage, {})
        cell[money.currency] = cell.get(money.currency, Decimal(0)) + Decimal(money.amount) * Decimal(
            str(probability_of(reg)))
    return {s: {c: v.quantize(Decimal("0.01")) for c, v in cells.items()} for s, cells in out.items()}


def retrain_check(labels: Sequence[int], probs: Sequence[float | None], *, trained_rows: int | None,
                  holdout: Mapping[str, Any] | None, min_rows: int = 100, growth: float = 0.2,
                  max_brier_gain: float = 0.02, min_live_rows: int = 30) -> dict[str, Any]:
    """Whether the model should be trained again (issue 19, the scheduled check). Pure.

    ``labels`` are every closed registration's outcomes (1 won); ``probs`` the published model's probability for
    those closed *after* it was trained (None for the others). Due when there is no model yet and ``min_rows``
    closed registrations with both outcomes; when the closed registrations grew by ``growth`` since training;
    or when the model's Brier score on the registrations closed since is worse than its holdout Brier by more
    than ``max_brier_gain`` (with at least ``min_live_rows`` of them)."""
    from chalicelib.domain.scoring_model import metrics

    closed, reasons = len(labels), []
    live_pairs = [(y, p) for y, p in zip(labels, probs, strict=True) if p is not None]
    live = None
    if len(live_pairs) >= min_live_rows and len({y for y, _ in live_pairs}) == 2:
        live = metrics([y for y, _ in live_pairs], [p for _, p in live_pairs])
        live.pop("reliability")
    if holdout is None:
        if closed >= min_rows and len(set(labels)) == 2:
            reasons.append(f"no model yet; {closed} closed registrations")
    else:
        if trained_rows and closed - trained_rows >= growth * trained_rows:
            reasons.append(f"{closed - trained_rows} more closed registrations than at training ({trained_rows})")
        if live is not None and live["brier"] > holdout["brier"] + max_brier_gain:
            reasons.append(f"Brier {live['brier']} on {live['rows']} registrations closed since training, "
                           f"holdout {holdout['brier']}")
    return {"due": bool(reasons), "reasons": reasons, "closed": closed, "closed_since_training": len(live_pairs),
            "live": live}
