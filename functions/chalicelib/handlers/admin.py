"""Admin API (issue 18): the directory (teams, users, partners) read-only, parked notification deliveries
with replay, and the rules in force (read-only). The console's admin pages are calls of these.

Trigger: HTTP (bearer API key of an admin; anyone else 403). The API function only reads the directory
(creating, deactivating and rotating stay with operators: ``dealreg users|partners|teams ...``). Side
effect: replaying a parked delivery puts it back in the due lane with a fresh attempt count (a conditional
write: a delivery no longer parked answers 409 and is not touched). Keys and secrets are never in an answer.
"""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http import HttpError, api, bearer_principal, json_response

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
