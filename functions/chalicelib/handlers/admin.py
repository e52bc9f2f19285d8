"""Admin API (issue 18): the directory (teams, users, partners: list, create, update teams, deactivate, reactivate, rotate
keys and secrets, partner users' login codes, the audit of those changes), parked notification deliveries
with replay, skipped ones (read-only), and the rules in force (read-only). The console's admin pages are calls of these.

Trigger: HTTP (bearer API key of an admin; anyone else 403). Directory writes go through
``services.directory`` (the CLI's code too): conditional, audited, creates idempotent by ``Idempotency-Key``.
A new API key, signing secret or login code is in the one answer that made it and never again. Replaying a
parked delivery puts it back in the due lane with a fresh attempt count (a conditional write: a delivery no
longer parked answers 409 and is not touched).
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http import (
    IDEMPOTENCY_HEADER,
    HttpError,
    api,
    bearer_principal,
    check_size,
    idempotency_key,
    json_response,
    parse_json,
    validate,
)

bp = Blueprint(__name__)


def _admin():
    from chalicelib.domain.access import Role

    principal = bearer_principal(bp.current_request.headers)
    if principal.role is not Role.ADMIN:
        raise HttpError(403, "forbidden", "admins only")
    return principal


@bp.route("/v1/admin/directory", methods=["GET"])
@api(responses={200: "AdminDirectory"}, summary="Teams, users and partners (admins; no keys or secrets)")
def admin_directory():
    from chalicelib.store import directory
    from schemas.admin import AdminDirectory

    _admin()
    return json_response(200, AdminDirectory(teams=directory.list_teams(), users=directory.list_users(),
                                             partners=directory.list_partners()))


@bp.route("/v1/admin/notifications/parked", methods=["GET"])
@api(responses={200: "ParkedPage"}, summary="Parked notification deliveries, oldest first (admins)")
def admin_parked():
    from chalicelib.store import notifications
    from schemas.admin import ParkedDelivery, ParkedPage
    from schemas.common import Actor

    _admin()
    items = [ParkedDelivery(id=i.id, event_type=i.event_type, recipient=Actor.from_ref(i.recipient), channel=i.channel,
                            attempts=int(i.attempts or 0), last_error=i.last_error, parked_at=i.parked_at,
                            title=i.title) for i in notifications.parked(limit=100)]
    return json_response(200, ParkedPage(items=items))


@bp.route("/v1/admin/notifications/skipped", methods=["GET"])
@api(responses={200: "SkippedPage"},
     summary="Deliveries not sent because the recipient (or the team they manage) was deactivated, newest first "
             "(admins; final, no replay)")
def admin_skipped():
    from datetime import datetime

    from chalicelib.store import notifications
    from schemas.admin import SkippedDelivery, SkippedPage
    from schemas.common import Actor

    _admin()
    items = [SkippedDelivery(id=i.id, event_type=i.event_type, recipient=Actor.from_ref(i.recipient), channel=i.channel,
                             reason=i.last_error, title=i.title,
                             skipped_at=datetime.fromisoformat(i.lane_at.replace("Z", "+00:00")) if i.lane_at else None)
             for i in notifications.skipped(limit=100)]
    return json_response(200, SkippedPage(items=items))


@bp.route("/v1/admin/notifications/{delivery_id}/replay", methods=["POST"])
@api(responses={200: "Replayed"}, summary="Replay a parked delivery (back in the due lane, attempts reset; admins)")
def admin_replay(delivery_id: str):
    from chalicelib import clock
    from chalicelib.store import notifications
    from schemas.admin import Replayed

    _admin()
    item = notifications.get(delivery_id)
    if item is None:
        raise HttpError(404, "not_found", "no such delivery")
    if not notifications.replay(item, now=clock.now()):
        raise HttpError(409, "conflict", "the delivery is not parked")
    return json_response(200, Replayed(id=delivery_id))


@bp.route("/v1/admin/rules", methods=["GET"])
@api(responses={200: "AdminRules"}, summary="The rules in force: ownership, dedup, routing, workflow, pipeline (admins)")
def admin_rules():
    from schemas.admin import AdminRules, RulesDocument

    _admin()
    from chalicelib import rules

    s = settings.get()
    out = []
    for kind, (attr, _, schema_file) in rules.KINDS.items():
        raw = getattr(s, attr) or ""
        out.append(RulesDocument(name=kind, setting="DEALREG_" + attr.removesuffix("_json").upper(),
                                 configured=bool(raw.strip()), schema_file=schema_file,
                                 document=rules.load(kind).model_dump(mode="json")))
    return json_response(200, AdminRules(rules=out))


# --- directory writes (issue 18) ------------------------------------------------------------------------------

def _actor(principal) -> str:
    return f"{principal.kind.value}:{principal.id}"


def _body(model, *, optional: bool = False):
    """The body as ``model`` and its idempotency fingerprint, from one parse (413 above the size limit, 400 /
    422 with field paths as ``http.request_body``). The fingerprint is the intake path's ``json_fingerprint``
    of the parsed JSON, the very digest ``body_fingerprint`` makes of the raw text, so claims stored before
    still match; an empty optional body is fingerprinted as the empty text it is."""
    from chalicelib.store.registrations import body_fingerprint, json_fingerprint

    raw = bp.current_request.raw_body
    check_size(raw, settings.get().max_body_bytes)
    if optional and not raw:
        return model(), body_fingerprint(raw)
    data = parse_json(raw)
    return validate(model, data), json_fingerprint(data)


def _idem(fingerprint: str | None = None):
    """The request's ``Idempotency-Key`` with the body's fingerprint (``_body``'s; a route that takes no body
    fingerprints the raw text, read only here)."""
    from chalicelib.services.directory import Idem
    from chalicelib.store.registrations import body_fingerprint

    request = bp.current_request
    key = idempotency_key(request.headers)
    if key is None:
        return None
    return Idem(key, fingerprint if fingerprint is not None else body_fingerprint(request.raw_body))


def _created(model, out: dict):
    return json_response(200 if out.get("replayed") else 201, model(**out))


@bp.route("/v1/admin/teams", methods=["POST"])
@api(request="TeamCreate", responses={201: "TeamCreated", 200: "TeamCreated"}, headers=IDEMPOTENCY_HEADER,
     summary="Create a team (admins; an existing id is refused; optional Idempotency-Key)")
def admin_create_team():
    from chalicelib import clock
    from chalicelib.services import directory
    from schemas.admin import TeamCreate, TeamCreated

    principal = _admin()
    body, fingerprint = _body(TeamCreate)
    return _created(TeamCreated, directory.create_team(_actor(principal), body, now=clock.now(),
                                                       idem=_idem(fingerprint)))


@bp.route("/v1/admin/users", methods=["POST"])
@api(request="UserCreate", responses={201: "UserCreated", 200: "UserCreated"}, headers=IDEMPOTENCY_HEADER,
     summary="Create a rep, manager, admin (API key answered once) or partner user (one-time login code; admins)")
def admin_create_user():
    from chalicelib import clock
    from chalicelib.services import directory
    from schemas.admin import UserCreate, UserCreated

    principal = _admin()
    body, fingerprint = _body(UserCreate)
    return _created(UserCreated, directory.create_user(_actor(principal), body, now=clock.now(),
                                                       idem=_idem(fingerprint)))


@bp.route("/v1/admin/partners", methods=["POST"])
@api(request="PartnerCreate", responses={201: "PartnerCreated", 200: "PartnerCreated"}, headers=IDEMPOTENCY_HEADER,
     summary="Create a partner (signing secret and API key answered once; admins)")
def admin_create_partner():
    from chalicelib import clock
    from chalicelib.services import directory
    from schemas.admin import PartnerCreate, PartnerCreated

    principal = _admin()
    body, fingerprint = _body(PartnerCreate)
    return _created(PartnerCreated, directory.create_partner(_actor(principal), body, now=clock.now(),
                                                             idem=_idem(fingerprint)))


def _set_active(kind: str, ident: str, active: bool):
    from chalicelib import clock
    from chalicelib.services import directory
    from schemas.admin import ActiveState

    principal = _admin()
    if kind == "user" and ident == principal.id and not active:
        raise HttpError(409, "self_deactivation", "an admin cannot deactivate themselves")
    return json_response(200, ActiveState(**directory.set_active(_actor(principal), kind, ident, active,
                                                                 now=clock.now())))


@bp.route("/v1/admin/users/{user_id}/deactivate", methods=["POST"])
@api(responses={200: "ActiveState"}, summary="Deactivate a user: their API key and console sessions stop at once")
def admin_deactivate_user(user_id: str):
    return _set_active("user", user_id, False)


@bp.route("/v1/admin/users/{user_id}/reactivate", methods=["POST"])
@api(responses={200: "ActiveState"}, summary="Reactivate a user (sessions from before stay ended)")
def admin_reactivate_user(user_id: str):
    return _set_active("user", user_id, True)


@bp.route("/v1/admin/partners/{partner_id}/deactivate", methods=["POST"])
@api(responses={200: "ActiveState"},
     summary="Deactivate a partner: its webhooks, API key and users' sessions are refused")
def admin_deactivate_partner(partner_id: str):
    return _set_active("partner", partner_id, False)


@bp.route("/v1/admin/partners/{partner_id}/reactivate", methods=["POST"])
@api(responses={200: "ActiveState"}, summary="Reactivate a partner")
def admin_reactivate_partner(partner_id: str):
    return _set_active("partner", partner_id, True)


@bp.route("/v1/admin/teams/{team_id}/deactivate", methods=["POST"])
@api(responses={200: "ActiveState"},
     summary="Deactivate a team: no new members, holdings or reviews for it; its members keep what they hold")
def admin_deactivate_team(team_id: str):
    return _set_active("team", team_id, False)


@bp.route("/v1/admin/teams/{team_id}/reactivate", methods=["POST"])
@api(responses={200: "ActiveState"}, summary="Reactivate a team")
def admin_reactivate_team(team_id: str):
    return _set_active("team", team_id, True)


@bp.route("/v1/admin/teams/{team_id}", methods=["PATCH"])
@api(request="TeamUpdate", responses={200: "AdminTeam"},
     summary="Rename a team, change its territory, add or remove a manager (admins; audited)")
def admin_update_team(team_id: str):
    from chalicelib import clock
    from chalicelib.services import directory
    from schemas.admin import AdminTeam, TeamUpdate

    principal = _admin()
    body, _ = _body(TeamUpdate)
    return json_response(200, AdminTeam(**directory.update_team(_actor(principal), team_id, body, now=clock.now())))


@bp.route("/v1/admin/users/{user_id}/rotate-key", methods=["POST"])
@api(responses={200: "KeyRotated"}, headers=IDEMPOTENCY_HEADER,
     summary="New API key for a user (answered once); every earlier key stops (optional Idempotency-Key)")
def admin_rotate_key(user_id: str):
    from chalicelib import clock
    from chalicelib.services import directory
    from schemas.admin import KeyRotated

    principal = _admin()
    return json_response(200, KeyRotated(**directory.rotate_user_key(_actor(principal), user_id, now=clock.now(),
                                                                     idem=_idem())))


@bp.route("/v1/admin/users/{user_id}/login-code", methods=["POST"])
@api(responses={200: "LoginCode"},
     summary="One-time code with which a partner user sets their console password (answered once)")
def admin_login_code(user_id: str):
    from chalicelib import clock
    from chalicelib.services import directory
    from schemas.admin import LoginCode

    principal = _admin()
    return json_response(200, LoginCode(**directory.issue_login_code(_actor(principal), user_id, now=clock.now())))


@bp.route("/v1/admin/partners/{partner_id}/rotate-secret", methods=["POST"])
@api(request="SecretRotate", request_optional=True, responses={200: "SecretRotated"}, headers=IDEMPOTENCY_HEADER,
     summary="New webhook signing secret (answered once); the previous one is accepted for grace_hours "
             "(optional Idempotency-Key)")
def admin_rotate_secret(partner_id: str):
    from chalicelib import clock
    from chalicelib.services import directory
    from schemas.admin import SecretRotate, SecretRotated

    principal = _admin()
    body, fingerprint = _body(SecretRotate, optional=True)
    return json_response(200, SecretRotated(**directory.rotate_partner_secret(
        _actor(principal), partner_id, grace_hours=body.grace_hours, now=clock.now(), idem=_idem(fingerprint))))


@bp.route("/v1/admin/audit", methods=["GET"])
@api(responses={200: "DirectoryAudit"}, summary="The newest directory changes: who, when, what (admins)")
def admin_audit():
    from chalicelib.services import directory
    from schemas.admin import DirectoryAudit

    _admin()
    return json_response(200, DirectoryAudit(items=directory.audit()))
