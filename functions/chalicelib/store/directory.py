"""Partners, users, teams and API keys; partner signing secrets in Secrets Manager.

The admin operations (create, update, deactivate, rotate, list) are plain functions here so the CLI
(``dealreg teams|users|partners …``) and any admin API call the same code. Creating never overwrites: an
existing id raises :class:`AlreadyExistsError`; an unknown one :class:`NotFoundError` (both
:class:`DirectoryError`, with a ``code`` for the HTTP edge).
"""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from chalicelib import settings as settings_mod
from chalicelib.domain.access import Principal, Role
from chalicelib.store import aws
from chalicelib.store.models import ApiKeyItem, PartnerItem, SessionKeyItem, TeamItem, UserItem
from schemas.common import PrincipalKind

SESSION_KEY_PREFIX = "drs_"  # console session keys (issue 18); API keys never start with it


class DirectoryError(Exception):
    code = "directory_error"
    status = 409


class AlreadyExistsError(DirectoryError):
    code = "already_exists"
    status = 409


class NotFoundError(DirectoryError):
    code = "not_found"
    status = 404


def _conditional_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def hash_api_key(key: str) -> str:
    # API keys are 32 random bytes, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "drk_" + secrets.token_urlsafe(32)


def _key_record(key: str) -> ApiKeyItem | SessionKeyItem | None:
    """The stored record of an API key, or of a console session key (``drs_…``, its own table), if in force."""
    model: type[ApiKeyItem] | type[SessionKeyItem]
    model, pk = ((SessionKeyItem, f"session#{hash_api_key(key)}") if key.startswith(SESSION_KEY_PREFIX)
                 else (ApiKeyItem, f"apikey#{hash_api_key(key)}"))
    try:
        rec = model.get(pk)
    except model.DoesNotExist:
        return None
    if rec.revoked != "no":
        return None
    if isinstance(rec, SessionKeyItem):
        from chalicelib import clock

        if rec.expires_at <= clock.now():
            return None
    return rec


def principal_for_key(key: str) -> Principal | None:
    """The caller behind a bearer API key (or console session key), or None for an unknown, revoked,
    expired or inactive one."""
    rec = _key_record(key)
    if rec is None:
        return None
    if rec.principal_kind == PrincipalKind.PARTNER:
        partner = cached_partner(rec.principal_id)
        if partner is None or partner.active != "yes":
            return None
        return Principal(kind=PrincipalKind.PARTNER, id=rec.principal_id, role=Role.PARTNER)
    try:
        user = UserItem.get(f"user#{rec.principal_id}")
    except UserItem.DoesNotExist:
        return None
    if user.active != "yes":
        return None
    managed: frozenset[str] = frozenset()
    if user.role == Role.MANAGER and user.team_id:
        # A manager manages the team they belong to when listed among its managers.
        team = get_team(user.team_id)
        if team is not None and rec.principal_id in (team.manager_ids or []):
            managed = frozenset({user.team_id})
    return Principal(kind=PrincipalKind.USER, id=rec.principal_id, role=Role(user.role), team_id=user.team_id,
                     managed_team_ids=managed)


def get_partner(partner_id: str) -> PartnerItem | None:
    try:
        return PartnerItem.get(f"partner#{partner_id}")
    except PartnerItem.DoesNotExist:
        return None


_partner_lock = threading.Lock()
_partners: dict[str, tuple[float, PartnerItem]] = {}


def cached_partner(partner_id: str) -> PartnerItem | None:
    """:func:`get_partner` for the hot paths (every webhook, every partner API call), cached per warm process
    for ``partner_cache_seconds`` like the signing secrets (issue 15): a burst reads the partner once.

    Read only: never write through the returned item. Writers here call :func:`forget_partners`; a change
    made elsewhere (another container, the CLI) is seen within the cache time, as a secret rotation is.
    A partner that does not exist is not cached, so a new partner is usable at once.
    """
    now = time.monotonic()
    with _partner_lock:
        hit = _partners.get(partner_id)
    if hit is not None and now - hit[0] < settings_mod.get().partner_cache_seconds:
        return hit[1]
    partner = get_partner(partner_id)
    if partner is not None:
        with _partner_lock:
            _partners[partner_id] = (now, partner)
    return partner


def forget_partners() -> None:
    """Drop cached partner records (a partner was written, or the endpoint changed)."""
    with _partner_lock:
        _partners.clear()


def get_team(team_id: str) -> TeamItem | None:
    try:
        return TeamItem.get(f"team#{team_id}")
    except TeamItem.DoesNotExist:
        return None


def get_user(user_id: str) -> UserItem | None:
    try:
        return UserItem.get(f"user#{user_id}")
    except UserItem.DoesNotExist:
        return None


def _issue_key(kind: PrincipalKind, principal_id: str, now: datetime) -> str:
    key = new_api_key()
    ApiKeyItem(f"apikey#{hash_api_key(key)}", principal_kind=kind.value, principal_id=principal_id,
               created_at=now).save(condition=ApiKeyItem.pk.does_not_exist())
    return key


def create_partner(partner_id: str, name: str, *, now: datetime, tier: str = "registered",
                   callback_url: str | None = None, secret: str | None = None,
                   team_id: str | None = None) -> tuple[str, str]:
    """Create a partner with a signing secret and an API key. Returns ``(whsec_ secret, api key)``, shown once.

    ``team_id`` is its channel team: that team's managers review its registrations.
    Raises :class:`AlreadyExistsError` if the partner id is taken.
    """
    from connectors.standard_webhooks import generate_secret

    try:
        PartnerItem(f"partner#{partner_id}", name=name, tier=tier, callback_url=callback_url, team_id=team_id,
                    created_at=now).save(condition=PartnerItem.pk.does_not_exist())
    except PutError as exc:
        if _conditional_failed(exc):
            raise AlreadyExistsError(f"partner {partner_id!r} exists") from None
        raise
    forget_partners()  # a record of an earlier partner with this id (deleted since) must not be served
    signing = secret or generate_secret()
    aws.client("secretsmanager").create_secret(
        Name=settings_mod.get().partner_secret_name(partner_id),
        SecretString=json.dumps({"secrets": [signing]}),
    )
    return signing, _issue_key(PrincipalKind.PARTNER, partner_id, now)


def create_team(team_id: str, name: str, *, now: datetime, manager_ids: list[str] | None = None,
                territory: str | None = None) -> None:
    """Create a team; an existing id raises :class:`AlreadyExistsError` (nothing is overwritten)."""
    try:
        TeamItem(f"team#{team_id}", name=name, manager_ids=manager_ids or [], territory=territory,
                 created_at=now).save(condition=TeamItem.pk.does_not_exist())
    except PutError as exc:
        if _conditional_failed(exc):
            raise AlreadyExistsError(f"team {team_id!r} exists; change it with: dealreg teams update") from None
        raise


def create_user(user_id: str, name: str, role: Role, *, now: datetime, team_id: str | None = None,
                email: str | None = None, manager_id: str | None = None) -> str:
    """Create a user and return their API key (shown once). Managers are added to their team's managers."""
    try:
        UserItem(f"user#{user_id}", name=name, role=role.value, team_id=team_id, email=email,
                 manager_id=manager_id, created_at=now).save(condition=UserItem.pk.does_not_exist())
    except PutError as exc:
        if _conditional_failed(exc):
            raise AlreadyExistsError(f"user {user_id!r} exists") from None
        raise
    if role is Role.MANAGER and team_id:
        TeamItem(f"team#{team_id}").update(actions=[TeamItem.manager_ids.set(
            TeamItem.manager_ids.append([user_id]))])
    return _issue_key(PrincipalKind.USER, user_id, now)


def issue_session_key(principal: Principal, *, now: datetime, expires_at: datetime) -> str:
    """A short-lived key for ``principal`` (a console session), kept in the sessions table; every request
    made with it resolves through :func:`principal_for_key` like any API call (a deactivated user's or
    partner's sessions stop with their keys)."""
    key = SESSION_KEY_PREFIX + secrets.token_urlsafe(32)
    SessionKeyItem(f"session#{hash_api_key(key)}", principal_kind=principal.kind.value,
                   principal_id=principal.id, created_at=now,
                   expires_at=expires_at).save(condition=SessionKeyItem.pk.does_not_exist())
    return key


def revoke_session_key(key: str) -> None:
    """Revoke a console session key (idempotent; an unknown key is left alone)."""
    from pynamodb.exceptions import UpdateError

    if not key.startswith(SESSION_KEY_PREFIX):
        raise ValueError("not a session key")
    try:
        SessionKeyItem(f"session#{hash_api_key(key)}").update(actions=[SessionKeyItem.revoked.set("yes")],
                                                              condition=SessionKeyItem.pk.exists())
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def partner_secrets(partner_id: str, *, now: datetime | None = None) -> list[str] | None:
    """A partner's signing secrets in force at ``now``, or None for an unknown partner (cached:
    ``aws.secret_json``). After a rotation the previous secret stays valid until its ``retire_at``."""
    from chalicelib import clock

    value = aws.secret_json(settings_mod.get().partner_secret_name(partner_id))
    if not isinstance(value, dict):
        return None
    return _in_force(value, (now or clock.now()))


def _in_force(value: dict, now: datetime) -> list[str]:
    retire = value.get("retire_at") or {}
    return [s for s in value.get("secrets", []) if s not in retire or datetime.fromisoformat(retire[s]) > now]


def rotate_partner_secret(partner_id: str, *, keep_previous: bool = True, grace: timedelta = timedelta(days=7),
                          now: datetime | None = None) -> str:
    """Add a new signing secret. The current one keeps working for ``grace`` (so the partner can switch),
    then it is refused; secrets whose grace has passed are dropped from the store at the next rotation."""
    from chalicelib import clock
    from connectors.standard_webhooks import generate_secret

    now = now or clock.now()
    if get_partner(partner_id) is None:
        raise NotFoundError(f"no partner {partner_id!r}")
    sm = aws.client("secretsmanager")
    name = settings_mod.get().partner_secret_name(partner_id)
    value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    current = _in_force(value, now)
    retire = {k: v for k, v in (value.get("retire_at") or {}).items() if k in current}
    fresh = generate_secret()
    kept = current[:1] if keep_previous else []
    for old in kept:
        retire[old] = min(retire.get(old, (now + grace).isoformat()), (now + grace).isoformat())
    # older ones (already retiring) keep their own deadline
    kept += [s for s in current[1:] if keep_previous and s in retire]
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(
        {"secrets": [fresh, *kept], "retire_at": {k: retire[k] for k in kept}}))
    aws.forget_secrets()
    return fresh


def stack_id(*, now: datetime) -> str:
    """This stack's identity: made once (conditional put), gone with its tables (a reset makes a new one)."""
    from chalicelib.store.models import StackItem

    try:
        return StackItem.get("meta#stack", consistent_read=True).stack_id
    except StackItem.DoesNotExist:
        pass
    try:
        StackItem("meta#stack", stack_id=secrets.token_hex(16), created_at=now).save(
            condition=StackItem.pk.does_not_exist())
    except PutError as exc:
        if not _conditional_failed(exc):
            raise
    return StackItem.get("meta#stack", consistent_read=True).stack_id


# --- admin operations (CLI now, an admin API later) -------------------------------------------------------

def _require(item, what: str, ident: str):
    if item is None:
        raise NotFoundError(f"no {what} {ident!r}")
    return item


def update_team(team_id: str, *, name: str | None = None, territory: str | None = None) -> TeamItem:
    team = _require(get_team(team_id), "team", team_id)
    actions = [a for a in (TeamItem.name.set(name) if name else None,
                           TeamItem.territory.set(territory) if territory is not None else None) if a is not None]
    if actions:
        team.update(actions=actions)
    return team


def add_team_manager(team_id: str, user_id: str) -> TeamItem:
    """Make ``user_id`` (an existing user) a manager of the team; adding twice changes nothing."""
    team = _require(get_team(team_id), "team", team_id)
    _require(get_user(user_id), "user", user_id)
    if user_id not in (team.manager_ids or []):
        team.update(actions=[TeamItem.manager_ids.set(TeamItem.manager_ids.append([user_id]))],
                    condition=TeamItem.pk.exists())
    return get_team(team_id)


def remove_team_manager(team_id: str, user_id: str) -> TeamItem:
    team = _require(get_team(team_id), "team", team_id)
    managers = list(team.manager_ids or [])
    if user_id not in managers:
        raise NotFoundError(f"{user_id!r} does not manage team {team_id!r}")
    index = managers.index(user_id)
    team.update(actions=[TeamItem.manager_ids[index].remove()],
                condition=TeamItem.manager_ids[index] == user_id)
    return get_team(team_id)


def _keys_of(kind: PrincipalKind, principal_id: str) -> list[ApiKeyItem]:
    """The API key records of one principal (a scan of the directory: an admin operation, rare)."""
    return [k for k in ApiKeyItem.scan(ApiKeyItem.pk.startswith("apikey#")
                                       & (ApiKeyItem.principal_kind == kind.value)
                                       & (ApiKeyItem.principal_id == principal_id))]


def deactivate_user(user_id: str) -> None:
    """The user's keys stop working at once (every request reads ``active``); their holdings stay until
    handed over (``dealreg holders offboard``)."""
    user = _require(get_user(user_id), "user", user_id)
    user.update(actions=[UserItem.active.set("no")])


def rotate_user_key(user_id: str, *, now: datetime) -> str:
    """Revoke every key of the user and issue a new one (shown once)."""
    _require(get_user(user_id), "user", user_id)
    for rec in _keys_of(PrincipalKind.USER, user_id):
        rec.update(actions=[ApiKeyItem.revoked.set("yes")])
    return _issue_key(PrincipalKind.USER, user_id, now)


def deactivate_partner(partner_id: str) -> None:
    """Its signed webhooks and its API key are refused from now on (intake and ``principal_for_key`` read
    ``active`` on every call)."""
    partner = _require(get_partner(partner_id), "partner", partner_id)
    partner.update(actions=[PartnerItem.active.set("no")])
    forget_partners()


def _scan(model, prefix: str) -> list:
    return sorted(model.scan(model.pk.startswith(prefix)), key=lambda i: i.pk)


def list_teams() -> list[dict]:
    return [{"id": t.pk.split("#", 1)[1], "name": t.name, "territory": t.territory,
             "manager_ids": list(t.manager_ids or [])} for t in _scan(TeamItem, "team#")]


def list_users(team_id: str | None = None) -> list[dict]:
    return [{"id": u.pk.split("#", 1)[1], "name": u.name, "role": u.role, "team_id": u.team_id,
             "manager_id": u.manager_id, "active": u.active == "yes"}
            for u in _scan(UserItem, "user#") if team_id is None or u.team_id == team_id]


def list_partners() -> list[dict]:
    return [{"id": p.pk.split("#", 1)[1], "name": p.name, "tier": p.tier, "team_id": p.team_id,
             "active": p.active == "yes", "callback_url": bool(p.callback_url)} for p in _scan(PartnerItem, "partner#")]


__all__ = ["PutError", "partner_secrets", "principal_for_key", "create_partner", "create_user", "create_team"]
