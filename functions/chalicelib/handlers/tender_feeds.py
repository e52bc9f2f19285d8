"""Tender feeds (标讯通): the schedule and the routes; the work is in ``services/tenders.py``.

Triggers:
- schedule ``poll_tender_feeds`` (every 5 minutes): ``services.tenders.poll_due``.
- ``POST/GET /v1/subscriptions``, ``DELETE /v1/subscriptions/{id}`` (users: their own subscriptions).
- ``GET /v1/tenders`` (recent, filters ``days``, ``status``, ``source``, ``q``, ``limit``) and
  ``GET /v1/tenders/{id}``.
- ``POST /v1/tenders/{id}/register``: a registration pre-filled from the tender for the calling user
  (202 created; 200 the one made before — idempotent per user and tender).
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.http import HttpError, api, bearer_principal, json_response, parse_query

bp = Blueprint(__name__)


@bp.schedule("rate(5 minutes)")
def poll_tender_feeds(event):
    from chalicelib import clock
    from chalicelib.services.tenders import poll_due

    return poll_due(clock.now())


# -- subscriptions API ----------------------------------------------------------------------------------


def _user():
    from schemas.common import PrincipalKind

    principal = bearer_principal(bp.current_request.headers)
    if principal.kind is not PrincipalKind.USER:
        raise HttpError(403, "forbidden", "tender subscriptions and registrations are for users (reps)")
    return principal


@bp.route("/v1/subscriptions", methods=["POST"])
@api(request="SubscriptionCreate", responses={201: "Subscription"}, summary="Subscribe to tenders")
def create_subscription():
    from chalicelib import clock
    from chalicelib.http import parse_body
    from chalicelib.store import tenders as store
    from schemas.tender import Subscription, SubscriptionCreate

    principal = _user()
    body = parse_body(SubscriptionCreate, bp.current_request.raw_body)
    sub = Subscription(id=store.new_subscription_id(), rep_id=principal.id, created_at=clock.now(),
                       **body.model_dump())
    store.create_subscription(sub)
    return json_response(201, sub)


@bp.route("/v1/subscriptions", methods=["GET"])
@api(responses={200: "SubscriptionPage"}, summary="The caller's tender subscriptions")
def list_subscriptions():
    from chalicelib.store import tenders as store
    from schemas.tender import SubscriptionPage

    principal = _user()
    subs = sorted(store.subscriptions_of(principal.id), key=lambda s: s.created_at)
    return json_response(200, SubscriptionPage(items=subs))


@bp.route("/v1/subscriptions/{sub_id}", methods=["DELETE"])
@api(responses={}, summary="(204) Delete one of the caller's subscriptions")
def delete_subscription(sub_id: str):
    from chalice import Response

    from chalicelib.store import tenders as store

    principal = _user()
    if not store.delete_subscription(sub_id, principal.id):
        raise HttpError(404, "not_found", "no such subscription")
    return Response(body="", status_code=204)


# -- tenders API ----------------------------------------------------------------------------------------


@bp.route("/v1/tenders/{tender_id}", methods=["GET"])
@api(responses={200: "TenderRecord"}, summary="One stored tender")
def get_tender(tender_id: str):
    from chalicelib.services.tenders import record
    from chalicelib.store import tenders as store

    bearer_principal(bp.current_request.headers)
    item = store.get_tender(tender_id)
    if item is None:
        raise HttpError(404, "not_found", "no such tender")
    return json_response(200, record(item))


@bp.route("/v1/tenders", methods=["GET"])
@api(responses={200: "TenderPage"}, query="schemas.tender:TenderQuery", summary="Recent tenders, newest first")
def list_tenders():
    from chalicelib import clock
    from chalicelib.services.tenders import recent_tenders
    from schemas.tender import TenderPage, TenderQuery

    bearer_principal(bp.current_request.headers)
    q = parse_query(TenderQuery, bp.current_request.query_params)
    items = recent_tenders(clock.now(), days=q.days, limit=q.limit, status=q.status, source=q.source, q=q.q)
    return json_response(200, TenderPage(items=items))


@bp.route("/v1/tenders/{tender_id}/register", methods=["POST"])
@api(request="TenderRegistrationRequest", responses={202: "RegistrationAccepted", 200: "RegistrationAccepted"},
     summary="Turn a tender into a registration for the caller (202 created; 200 the one made before)")
def register_tender(tender_id: str):
    from chalicelib import clock, settings
    from chalicelib.http import check_size, parse_body
    from chalicelib.services import tenders as service
    from schemas.tender import TenderRegistrationRequest

    request = bp.current_request
    check_size(request.raw_body, settings.get().max_body_bytes)
    principal = _user()
    extra = parse_body(TenderRegistrationRequest, request.raw_body or b"{}")
    created, answer = service.register_tender(principal, tender_id, extra, clock.now())
    return json_response(202 if created else 200, answer)
