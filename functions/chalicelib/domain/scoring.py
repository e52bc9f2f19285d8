"""All scores of one registration, with why. Pure: the caller reads the registration, its follow-ups and the
published model; see ``scoring_model`` (model), ``scoring_rules`` (attribute, behaviour)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from chalicelib.domain import scoring_model, scoring_rules


def scores_for(reg: Any, follow_ups: Iterable[Any], *, now: datetime, attribute_rules, behaviour_rules,
               model: scoring_model.Model | None, customer_facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``schemas.scoring.RegistrationScores`` answer as a dict."""
    record = scoring_model.record_of(reg, customer_facts=customer_facts)
    attribute, attribute_factors = scoring_rules.attribute_score(record, attribute_rules)
    points, behaviour, behaviour_factors = scoring_rules.behaviour_points(reg.audit, follow_ups, behaviour_rules,
                                                                          now=now)
    model_score = None
    if model is not None:
        scored = model.score(record)
        model_score = {**{k: scored[k] for k in ("probability", "score", "model_version")},
                       "factors": [{"source": "model", "key": f["feature"], "effect": f["effect"],
                                    "zh-CN": f["zh-CN"], "en": f["en"]} for f in scored["factors"]]}
    return {"registration_id": reg.id, "attribute": attribute, "attribute_factors": attribute_factors,
            "behaviour": behaviour, "behaviour_points": points, "behaviour_factors": behaviour_factors,
            "model": model_score, "computed_at": now}


def summary(reg: Any, *, attribute_rules, model: scoring_model.Model | None) -> dict[str, Any]:
    """The ``schemas.scoring.ScoreSummary`` of a registration as a dict: the attribute score, the model's win
    probability (when a model is published) and the score that orders work (the probability × 100 when there is
    a model, else the attribute score). Pure; no follow-ups, so lists can show it without reading more."""
    record = scoring_model.record_of(reg)
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
