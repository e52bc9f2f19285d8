"""Duplicate and conflict detection (撞单): the dedup queue's trigger, the verdict read and the live pre-check;
the work is in ``services/dedup.py``.

Triggers:
- ``dedup`` SQS queue (filter: registration.submitted, registration.updated) -> ``detect_duplicates``
  (``services.dedup.judge``). Errors are batch item failures (retried, then the DLQ); unparseable messages
  are parked.
- ``GET /v1/registrations/{reg_id}/verdict`` -> ``get_registration_verdict`` (whoever may read the
  registration; partners get only the closed answer). 404 until the verdict exists.
- ``POST /v1/duplicates/check`` -> ``check_duplicates``: candidates and verdict before submitting. Partners
  get only ``{"answer": "free" | "yours" | "protected"}``.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http import HttpError, api, bearer_principal, check_size, json_response, parse_body

bp = Blueprint(__name__)
QUEUE = "dedup"
SUBSCRIBES_TO = settings.QUEUES[QUEUE]


@bp.on_sqs_message(queue=settings.get().queue(QUEUE), batch_size=10)
def detect_duplicates(event):
    from chalicelib.handlers._batch import process_sqs

    return process_sqs(event, QUEUE, _dedup_one)


def _dedup_one(evt) -> None:
    from chalicelib.services.dedup import judge

    if evt.type in SUBSCRIBES_TO:
        judge(evt)


@bp.route("/v1/registrations/{reg_id}/verdict", methods=["GET"])
@api(responses={200: "DedupAnswer"},
     summary="The duplicate/conflict verdict on a registration (partners: the closed answer only)")
def get_registration_verdict(reg_id: str):
    from chalicelib.domain import visibility
    from chalicelib.services.registrations import readable
    from chalicelib.store import dedup_verdicts as store
    from schemas.dedup import DedupVerdict

    principal = bearer_principal(bp.current_request.headers)
    readable(reg_id, principal)
    stored = store.get_verdict(reg_id)
    if stored is None:
        raise HttpError(404, "verdict_pending", "the duplicate check has not finished yet")
    return json_response(200, visibility.verdict(visibility.Viewer.of(principal), DedupVerdict.model_validate(stored)))


@bp.route("/v1/duplicates/check", methods=["POST"], content_types=["application/json"])
@api(request="DuplicateCheckRequest", responses={200: "DedupAnswer"},
     summary="Live pre-check: is this customer free, yours, or protected by someone (staff: with candidates)")
def check_duplicates():
    from chalicelib import clock
    from chalicelib.domain import visibility
    from chalicelib.services.dedup import assess, verdict_model
    from schemas.dedup import DuplicateCheckRequest

    request = bp.current_request
    check_size(request.raw_body, settings.get().max_body_bytes)
    principal = bearer_principal(request.headers)
    body = parse_body(DuplicateCheckRequest, request.raw_body)
    customer = body.customer
    verdict, held, *_ = assess(customer.name, [(r.scheme.value, r.value) for r in customer.registry_ids],
                                 customer.website, body.contact_emails, body.contact_phones, body.products,
                                 [principal.id])
    return json_response(200, visibility.verdict(visibility.Viewer.of(principal),
                                                 verdict_model(verdict, held, now=clock.now())))
