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
    return {"id": reg.id, "attribute": attribute, "attribute_factors": attribute_factors,
            "behaviour": behaviour, "behaviour_points": points, "behaviour_factors": behaviour_factors,
            "model": model_score, "computed_at": now}
