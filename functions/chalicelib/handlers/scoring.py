"""Scores of a registration (issue 19): ``GET /v1/registrations/{reg_id}/scores``.

Reads the registration (same visibility as ``GET /v1/registrations/{id}``: 404 when the caller may not read
it), its follow-ups and the published model (cached per warm function, ``store.scoring.current_model``), and
answers the attribute score, the behaviour points (decayed to now) and the model's win probability, each with
its top factors in zh-CN and en, and the customer's RFM. Nothing is written.

``scoring`` SQS queue (filter: registration.won, registration.lost) -> ``update_customer_rfm``: recounts the
customer's RFM and the population's quintile cut points from the won registrations (its own items in the
``scores`` table; the registration is never written). On registration.submitted, .updated and .stage_changed it
keeps the open registration's training record (``snap#<id>``: the scoring record before the outcome, what
``dealreg scoring train`` learns from). Failures are batch item failures (retried, then the DLQ).
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http import HttpError, api, bearer_principal, json_response

bp = Blueprint(__name__)
QUEUE = "scoring"


@bp.on_sqs_message(queue=settings.get().queue(QUEUE), batch_size=10)
def update_customer_rfm(event):
    from chalicelib.handlers._batch import process_sqs

    return process_sqs(event, QUEUE, _rfm_one)


OUTCOMES = ("registration.won", "registration.lost")


def _rfm_one(evt) -> None:
    from chalicelib import clock
    from chalicelib.store import scoring as store

    if evt.type in OUTCOMES:
        store.recompute_rfm(evt.registration.customer_key, now=clock.now())
    elif evt.type in settings.QUEUES[QUEUE]:
        store.keep_training_record(evt.subject, now=clock.now())


@bp.schedule("rate(1 day)")
def check_scoring_model(event):
    """Daily: is training the model due (no model yet, 20 % more closed registrations, or a worse Brier score on
    those closed since training)? Writes ``model#monitor``; when due, trains with the pure-Python trainer within
    the invocation's time, publishes only if it beats the current model (an operator's LightGBM model stays
    unless beaten) and tells the admins (``services.scoring.scheduled_training``)."""
    from chalicelib import clock
    from chalicelib.handlers._batch import time_left
    from chalicelib.services import scoring

    result = scoring.scheduled_training(now=clock.now(), time_left=time_left(event))
    training = result["training"] or {}
    return {"due": result["due"], "reasons": result["reasons"], "published": bool(training.get("published")),
            "version": training.get("version")}


@bp.route("/v1/registrations/{reg_id}/scores", methods=["GET"])
@api(responses={200: "RegistrationScores"},
     summary="Attribute score, behaviour points and model win probability, each with why (zh-CN, en)")
def get_registration_scores(reg_id: str):
    from chalicelib import clock
    from chalicelib.domain.scoring import scores_for
    from chalicelib.domain.scoring_rules import load_attribute_rules, load_behaviour_rules
    from chalicelib.services.registrations import readable
    from chalicelib.store import ownership, scoring as store
    from schemas.scoring import RegistrationScores

    principal = bearer_principal(bp.current_request.headers)
    reg = readable(reg_id, principal)
    s = settings.get()
    answer = scores_for(reg, ownership.follow_ups(reg.id), now=clock.now(),
                        attribute_rules=load_attribute_rules(s.attribute_rules_json),
                        behaviour_rules=load_behaviour_rules(s.behaviour_rules_json),
                        model=store.current_model(s.model_cache_seconds),
                        customer_facts=store.customer_facts(reg.customer_key))
    answer["rfm"] = store.rfm_of(reg.customer_key, now=clock.now())
    return json_response(200, RegistrationScores.model_validate(answer).model_dump(mode="json", by_alias=True))


@bp.route("/v1/scores/pool", methods=["GET"])
@api(responses={200: "PoolRanking"},
     summary="The pool (公海), highest score first: model win probability, else attribute score (users; limit ≤ 100)")
def rank_pool():
    from chalicelib.store import scoring as store
    from schemas.common import PrincipalKind
    from schemas.scoring import PoolRanking

    principal = bearer_principal(bp.current_request.headers)
    if principal.kind is not PrincipalKind.USER:
        raise HttpError(403, "forbidden", "the pool is for users (reps, managers, admins)")
    raw = (bp.current_request.query_params or {}).get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise HttpError(422, "validation_failed", "limit must be 1–100",
                        errors=[{"loc": "query.limit", "type": "int_range"}])
    return json_response(200, PoolRanking.model_validate(store.ranked_pool(int(raw))).model_dump(mode="json"))


def _int_param(q, name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name, str(default))
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise HttpError(422, "validation_failed", f"{name} must be {lo}–{hi}",
                        errors=[{"loc": f"query.{name}", "type": "int_range"}])
    return int(raw)


@bp.route("/v1/scores/registrations", methods=["GET"])
@api(responses={200: "RankedPage"},
     summary="Registrations you may list, highest score first (query: status, owner, team, min_score, limit)")
def rank_registrations():
    from chalicelib.domain.access import list_plan
    from chalicelib.store import scoring as store
    from schemas.common import PrincipalKind
    from schemas.registration import RegistrationStatus
    from schemas.scoring import RankedPage

    principal = bearer_principal(bp.current_request.headers)
    if principal.kind is not PrincipalKind.USER:
        raise HttpError(403, "forbidden", "score rankings are for users (reps, managers, admins)")
    q = bp.current_request.query_params or {}
    status = q.get("status")
    if status is not None and status not in RegistrationStatus.__members__.values():
        raise HttpError(422, "validation_failed", "unknown status", errors=[{"loc": "query.status", "type": "enum"}])
    limit = _int_param(q, "limit", 50, 1, 100)
    min_score = _int_param(q, "min_score", 0, 0, 100)
    plan = list_plan(principal, owner=q.get("owner"), status=status, team=q.get("team"))
    ranked = store.ranked_listing(plan.index, plan.key, status=status, min_score=min_score, limit=limit)
    return json_response(200, RankedPage.model_validate(ranked).model_dump(mode="json"))
