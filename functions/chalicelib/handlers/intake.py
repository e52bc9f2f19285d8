"""Intake routes: the signed partner webhook and a rep's direct registration.

Trigger: HTTP. Input: ``OpportunityRegistered`` (Standard Webhooks signed) or ``RegistrationCreate``.
Side effects: one DynamoDB transaction (registration + customer + claims); the stream consumer announces it.
Failures: 401 bad signature/key, 413 too large, 400/422 bad body, 409 external ref already registered,
503 + Retry-After when storage is unavailable, so the partner retries and nothing is lost. A replayed
``webhook-id`` (or ``Idempotency-Key``) returns the first answer and writes nothing.
"""
from __future__ import annotations

from datetime import timedelta

from chalice import Blueprint

from chalicelib import clock, settings
from chalicelib.http import HttpError, api, bearer_principal, check_size, json_response, parse_body

bp = Blueprint(__name__)


def _store(reg, idempotency_key: str | None):
    from chalicelib.store import registrations

    s = settings.get()
    outcome = registrations.create(reg, now=reg.created_at, idempotency_key=idempotency_key,
                                   idempotency_ttl=timedelta(seconds=s.idempotency_ttl_seconds))
    if outcome.conflict == "external_ref":
        raise HttpError(409, "external_ref_taken",
                        f"external_ref already registered as {outcome.answer['id']}")
    return json_response(202, outcome.answer)


def _schemas():
    from schemas import registration, webhook

    return registration, webhook


@bp.route("/v1/partners/{partner_id}/opportunities", methods=["POST"], content_types=["application/json"])
@api(request="OpportunityRegistered", responses={202: "RegistrationAccepted"}, auth="standard-webhooks",
     summary="Register an opportunity from a partner system (Standard Webhooks signed)")
def receive_partner_opportunity(partner_id: str):
    from connectors.errors import SignatureInvalidError
    from connectors.standard_webhooks import verify
    from chalicelib.domain.registration import new_id, new_registration
    from schemas.common import Actor, PrincipalKind

    request = bp.current_request
    s = settings.get()
    raw = request.raw_body
    check_size(raw, s.max_body_bytes)
    now = clock.now()
    from chalicelib.store.directory import partner_secrets

    secrets_ = partner_secrets(partner_id)
    if not secrets_:
        raise HttpError(401, "unauthorized", "unknown partner or bad signature")
    try:
        verify(secrets_, request.headers, raw, now=int(now.timestamp()), tolerance=s.webhook_tolerance_seconds)
    except SignatureInvalidError as exc:
        raise HttpError(401, "unauthorized", f"signature rejected: {exc.reason}") from None
    registration, webhook = _schemas()
    envelope = parse_body(webhook.OpportunityRegistered, raw)
    reg = new_registration(
        envelope.data, reg_id=new_id("reg", now), source=registration.Source.PARTNER,
        submitter=Actor(kind=PrincipalKind.PARTNER, id=partner_id), partner_id=partner_id, now=now,
    )
    return _store(reg, f"webhook#{partner_id}#{request.headers['webhook-id']}")


@bp.route("/v1/registrations", methods=["POST"], content_types=["application/json"])
@api(request="RegistrationCreate", responses={202: "RegistrationAccepted"},
     summary="Register an opportunity as a rep (optional Idempotency-Key header)")
def register_opportunity():
    from chalicelib.domain.access import Role
    from chalicelib.domain.registration import new_id, new_registration

    request = bp.current_request
    s = settings.get()
    raw = request.raw_body
    check_size(raw, s.max_body_bytes)
    principal = bearer_principal(request.headers)
    if principal.role is Role.PARTNER:
        raise HttpError(403, "forbidden", "partners register through the signed webhook")
    registration, _ = _schemas()
    payload = parse_body(registration.RegistrationCreate, raw)
    now = clock.now()
    reg = new_registration(payload, reg_id=new_id("reg", now), source=registration.Source.REP,
                           submitter=principal.actor, team_id=principal.team_id, now=now)
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 255:
        raise HttpError(400, "idempotency_key_invalid", "Idempotency-Key must be 1-255 characters",
                        errors=[{"loc": "header.idempotency-key", "type": "string_too_long"}])
    return _store(reg, f"idem#{principal.id}#{key}" if key else None)
