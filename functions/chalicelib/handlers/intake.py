"""Intake routes: the signed partner webhook and a rep's direct registration.

Trigger: HTTP. Input: ``OpportunityRegistered`` (Standard Webhooks signed) or ``RegistrationCreate``; the
same partner endpoint takes ``OpportunityUpdated`` (``type: opportunity.updated``, an edit, issue 5).
Side effects: one DynamoDB transaction (registration + customer + claims); the stream consumer announces it.
Failures: 401 bad signature/key, 413 too large, 400/422 bad body, 409 external ref already registered or
the submitter at the pending cap (ownership rule ``pending_cap``), 403 ``team_inactive`` when the submitter's team
(a partner's channel team) is deactivated (``services.registrations.ensure_team_open``),
503 + Retry-After when storage is unavailable, so the partner retries and nothing is lost. A replayed
``webhook-id`` (or ``Idempotency-Key``) returns the first answer and writes nothing.
"""
from __future__ import annotations

import functools
import logging
from datetime import UTC, timedelta
from types import SimpleNamespace

from chalice import Blueprint

from chalicelib import clock, settings
from chalicelib.http import (
    IDEMPOTENCY_HEADER,
    MAX_SIGNATURE_HEADER_CHARS,
    HttpError,
    api,
    bearer_principal,
    check_size,
    header,
    idempotency_key,
    json_response,
    parse_json_sorted,
    validate,
)

bp = Blueprint(__name__)
ENVELOPE_MAX_AGE = timedelta(days=366)
_MAX_AGE_BACK = -ENVELOPE_MAX_AGE
_seconds = functools.lru_cache(maxsize=8)(lambda n: timedelta(seconds=n))  # the tolerance setting as a timedelta
logger = logging.getLogger("dealreg.intake")
UNAUTHORIZED = "unknown partner or bad signature"


REUSED = ("idempotency_key_reused", "this idempotency key (webhook-id / Idempotency-Key) was used for a different "
          "body; use a new key for a new request")


@functools.cache
def _modules() -> SimpleNamespace:
    """The modules the intake routes call, imported on the first request rather than with the app (cold start),
    and looked up once: an import statement costs each call ~8,000 instructions even when the module is loaded
    (issue 15 item 2, session 7). Functions are read from the modules at call time, so patching them still works."""
    import connectors.standard_webhooks as webhooks
    from chalicelib.domain import registration as domain
    from chalicelib.services import registrations as services
    from chalicelib.store import directory, registrations
    from connectors import errors
    from schemas import common, registration, webhook

    return SimpleNamespace(webhooks=webhooks, domain=domain, directory=directory, registrations=registrations,
                           services=services, errors=errors, common=common, registration=registration, webhook=webhook)


def _store(reg, idempotency_key: str | None, body: object = None, keys_sorted: bool = False):
    """Store the registration; ``body`` is the request's parsed JSON (its fingerprint keys the idempotency claim;
    ``keys_sorted`` as ``http.parse_json_sorted`` answered for it)."""
    m = _modules()
    registrations = m.registrations
    first = m.services.ensure_team_open(
        reg.team_id, replay=lambda: _replayed(idempotency_key, body, reg.created_at, keys_sorted))
    if first is not None:
        return json_response(202, first)
    s = settings.get()
    fingerprint = registrations.json_fingerprint(body, keys_sorted=keys_sorted) if idempotency_key else None
    outcome = registrations.create(reg, now=reg.created_at, idempotency_key=idempotency_key,
                                   idempotency_ttl=timedelta(seconds=s.idempotency_ttl_seconds),
                                   fingerprint=fingerprint)
    if outcome.conflict == "idempotency_key_reused":
        raise _reused(idempotency_key)
    if outcome.conflict == "external_ref":
        raise HttpError(409, "external_ref_taken",
                        f"external_ref already registered as {outcome.answer['id']}")
    return json_response(202, outcome.answer)


def _reused(idempotency_key: str) -> HttpError:
    """422: this idempotency key (``webhook-id`` or ``Idempotency-Key``) was used for a different body."""
    header = "webhook-id" if idempotency_key.startswith("webhook#") else "idempotency-key"
    return HttpError(422, *REUSED, errors=[{"loc": f"header.{header}", "type": "idempotency_key_reused"}])


def _replayed(idempotency_key: str | None, body: object, now, keys_sorted: bool = False) -> dict | None:
    """The first answer given to this idempotency key for this body, if any (422 for another body)."""
    registrations = _modules().registrations
    if not idempotency_key:
        return None
    state = registrations.idempotency_state(
        idempotency_key, registrations.json_fingerprint(body, keys_sorted=keys_sorted), now=now)
    if state == "reused":
        raise _reused(idempotency_key)
    return None if state is None else dict(state.response)


@bp.route("/v1/partners/{partner_id}/opportunities", methods=["POST"], content_types=["application/json"])
@api(request="OpportunityRegistered", responses={202: "RegistrationAccepted"}, auth="standard-webhooks",
     summary="Register an opportunity from a partner system (Standard Webhooks signed)")
def receive_partner_opportunity(partner_id: str):
    m = _modules()
    request = bp.current_request
    s = settings.get()
    raw = request.raw_body
    check_size(raw, s.max_body_bytes)
    # Bounded where read: the id keys the replay claim (DynamoDB keys stop at 2 KB); the signature header
    # is bounded so every signature in it can be tried.
    webhook_id = header(request.headers, "webhook-id")
    signature = header(request.headers, "webhook-signature", max_chars=MAX_SIGNATURE_HEADER_CHARS)
    # The three headers a signature check reads, read once (the request's headers are case-insensitive): the
    # check would otherwise lower-case every header of the request (issue 15 item 2, session 7).
    signed = {"webhook-id": webhook_id, "webhook-signature": signature,
              "webhook-timestamp": request.headers.get("webhook-timestamp")}
    if None in signed.values():  # an absent header is left out, as the request has it (session 9: no walk)
        signed = {name: value for name, value in signed.items() if value is not None}
    now = clock.now()
    # One answer for an unknown partner, a deactivated one and a bad signature, so partner ids cannot be
    # enumerated (the reason is logged, never answered).
    secrets_ = m.directory.partner_secrets(partner_id, now=now)
    try:
        if not secrets_:
            raise m.errors.SignatureInvalidError("unknown_partner")
        m.webhooks.verify(secrets_, signed, raw, now=clock.wall_seconds(now), tolerance=s.webhook_tolerance_seconds)
    except m.errors.SignatureInvalidError as exc:
        logger.info("partner webhook refused: %s", exc.reason)
        raise HttpError(401, "unauthorized", UNAUTHORIZED) from None
    standing = m.directory.cached_partner_standing(partner_id)  # (active, channel team)
    if standing is None or not standing[0]:
        logger.info("partner webhook refused: inactive partner")
        raise HttpError(401, "unauthorized", UNAUTHORIZED)
    # Parsed once, only after the signature proved who sent it; keys sorted for the fingerprint (session 8).
    body, keys_sorted = parse_json_sorted(raw)
    if isinstance(body, dict) and body.get("type") == "opportunity.updated":
        return _partner_update(partner_id, body, webhook_id, raw, keys_sorted)
    envelope = validate(m.webhook.OpportunityRegistered, body, source=raw)
    _check_envelope_time(envelope.timestamp, now)
    reg = m.domain.new_registration(
        envelope.data, reg_id=m.domain.new_id("reg", now), source=m.registration.Source.PARTNER,
        submitter=m.common.Actor(kind=m.common.PrincipalKind.PARTNER, id=partner_id), partner_id=partner_id, now=now,
        team_id=standing[1],  # its channel team reviews it
    )
    return _store(reg, f"webhook#{partner_id}#{webhook_id}", body, keys_sorted)


@bp.route("/v1/registrations", methods=["POST"], content_types=["application/json"])
@api(request="RegistrationCreate", responses={202: "RegistrationAccepted"},
     headers=IDEMPOTENCY_HEADER,
     summary="Register an opportunity as a rep (optional Idempotency-Key header)")
def register_opportunity():
    from chalicelib.domain.access import Role

    m = _modules()
    request = bp.current_request
    s = settings.get()
    raw = request.raw_body
    check_size(raw, s.max_body_bytes)
    principal = bearer_principal(request.headers)
    if principal.role is Role.PARTNER:
        raise HttpError(403, "forbidden", "partners register through the signed webhook")
    key = idempotency_key(request.headers)
    body, keys_sorted = parse_json_sorted(raw)  # parsed once: validated below, fingerprinted for the idempotency claim
    payload = validate(m.registration.RegistrationCreate, body, source=raw)
    now = clock.now()
    reg = m.domain.new_registration(payload, reg_id=m.domain.new_id("reg", now), source=m.registration.Source.REP,
                           submitter=principal.actor, team_id=principal.team_id, now=now)
    return _store(reg, f"idem#{principal.id}#{key}" if key else None, body, keys_sorted)


# --- opportunity.updated (approval workflow, issue 5) -----------------------------------------------------------

def _check_envelope_time(stamp, now) -> None:
    """The envelope's ``timestamp`` is when the partner created the event: not ahead of our clock by more
    than the signature tolerance, and not older than ``ENVELOPE_MAX_AGE`` (a year: a partner may sync an old
    opportunity; a date decades off is a bug in its system)."""
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
    # One exact difference compared with both bounds (``stamp > now + tolerance`` is ``stamp - now > tolerance``):
    # half the datetime arithmetic of two shifted copies of ``now`` (issue 15 item 2, session 9).
    ahead = stamp - now
    if ahead > _seconds(settings.get().webhook_tolerance_seconds):
        raise HttpError(422, "validation_failed", "the envelope timestamp lies in the future",
                        errors=[{"loc": "body.timestamp", "type": "future_timestamp"}])
    if ahead < _MAX_AGE_BACK:
        raise HttpError(422, "validation_failed", "the envelope timestamp is more than a year old",
                        errors=[{"loc": "body.timestamp", "type": "stale_timestamp"}])


def _partner_update(partner_id: str, body, webhook_id: str, raw: bytes, keys_sorted: bool):
    """The partner's opportunity as it now is, found by its ``external_ref``: an edit by the submitter
    (chalicelib.services.workflow.apply_edit). 404 for an unknown reference; 409 once decided. A replayed
    webhook id, or an update that changes nothing, writes nothing and gets the same answer."""
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.workflow import apply_edit
    from chalicelib.store import registrations
    from schemas.common import PrincipalKind
    from schemas.workflow import OpportunityUpdated

    envelope = validate(OpportunityUpdated, body, source=raw)
    _check_envelope_time(envelope.timestamp, clock.now())
    ref = envelope.data.external_ref
    if ref is None:
        raise HttpError(422, "validation_failed", "an update names its opportunity by data.external_ref",
                        errors=[{"loc": "body.data.external_ref", "type": "missing"}])
    reg_id = registrations.by_external_ref(partner_id, ref, now=clock.now())
    reg = registrations.get(reg_id) if reg_id else None
    if reg is None:
        raise HttpError(404, "not_found", "no registration with this external_ref")
    partner = Principal(kind=PrincipalKind.PARTNER, id=partner_id, role=Role.PARTNER)
    apply_edit(reg, envelope.data, partner, idempotency_key=f"webhook#{partner_id}#{webhook_id}",
               fingerprint=registrations.json_fingerprint(body, keys_sorted=keys_sorted))
    current = registrations.get(reg.id)
    return json_response(202, {"id": current.id, "status": current.status.value})
