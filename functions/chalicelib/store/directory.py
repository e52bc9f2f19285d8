"""Partners, users, teams and API keys; partner signing secrets in Secrets Manager.

The storage of the admin operations (create, update, deactivate, rotate, list): conditional transactions
that ``services.directory`` (the admin API, the console and the CLI) calls with its audit entry and
idempotency claim; tests and the local demo call the create functions directly. Creating never overwrites:
an existing id raises :class:`AlreadyExistsError`; an unknown one :class:`NotFoundError`; a write on a stale
read :class:`ConflictError` (all :class:`DirectoryError`, a ``DealregError`` the HTTP edge renders).
"""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib import clock, settings as settings_mod
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.errors import DealregError
from chalicelib.store import aws
from chalicelib.store.models import ApiKeyItem, PartnerItem, SessionKeyItem, TeamItem, UserItem
from schemas.common import PrincipalKind

SESSION_KEY_PREFIX = "drs_"  # console session keys (issue 18); API keys never start with it


class DirectoryError(DealregError):
    code = "directory_error"
    status = 409


class AlreadyExistsError(DirectoryError):
    code = "already_exists"
    status = 409


class NotFoundError(DirectoryError):
    code = "not_found"
    status = 404


class ConflictError(DirectoryError):
    """Someone changed the same object between our read and our write (nothing written: read and retry)."""

    code = "conflict"
    status = 409


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
    if isinstance(rec, SessionKeyItem) and rec.expires_at <= clock.now():
        return None
    return rec


def principal_for_key(key: str) -> Principal | None:
    """The caller behind a bearer API key (or console session key), or None for an unknown, revoked,
    expired or inactive one. A console session started before its user's or partner's last deactivation
    (``not_before``) stays refused after a reactivation."""
    rec = _key_record(key)
    if rec is None:
        return None
    since = rec.created_at if isinstance(rec, SessionKeyItem) else None
    if rec.principal_kind == PrincipalKind.PARTNER:
        partner = cached_partner(rec.principal_id)
        if partner is None or partner.active != "yes" or _before(since, partner.not_before):
            return None
        person = getattr(rec, "user_id", None)
        if person is not None:  # a partner user's session (issue 18): the person must be active too
            user = get_user(person)
            if (user is None or user.active != "yes" or user.partner_id != rec.principal_id
                    or _before(since, user.not_before)):
                return None
        return Principal(kind=PrincipalKind.PARTNER, id=rec.principal_id, role=Role.PARTNER)
    try:
        user = UserItem.get(f"user#{rec.principal_id}")
    except UserItem.DoesNotExist:
        return None
    if user.active != "yes" or user.role == Role.PARTNER or _before(since, user.not_before):
        return None
    managed: frozenset[str] = frozenset()
    if user.role == Role.MANAGER and user.team_id:
        # A manager manages the team they belong to when listed among its managers.
        team = get_team(user.team_id)
        if team is not None and rec.principal_id in (team.manager_ids or []):
            managed = frozenset({user.team_id})
    return Principal(kind=PrincipalKind.USER, id=rec.principal_id, role=Role(user.role), team_id=user.team_id,
                     managed_team_ids=managed)


def _before(since: datetime | None, not_before: datetime | None) -> bool:
    return since is not None and not_before is not None and since < not_before


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
    return _cached(_partners, partner_id, get_partner)


def cached_partner_standing(partner_id: str) -> tuple[bool, str | None] | None:
    """Of :func:`cached_partner` what every webhook asks: whether the partner is active, and its channel team; None
    for an unknown partner. Read from the item's values themselves, which is what its attribute descriptors return:
    two descriptor reads cost ~10k instructions, this whole call ~2.7k (issue 15 item 2, session 9)."""
    partner = cached_partner(partner_id)
    if partner is None:
        return None
    values = partner.attribute_values
    return values.get("active") == "yes", values.get("team_id")


def _cached(cache: dict[str, tuple[float, Any]], key: str, read: Callable[[str], Any]) -> Any:
    """``read(key)`` through ``cache`` for ``partner_cache_seconds``; an absent record is not cached."""
    now = time.monotonic()
    with _partner_lock:
        hit = cache.get(key)
    if hit is not None and now - hit[0] < settings_mod.get().partner_cache_seconds:
        return hit[1]
    item = read(key)
    if item is not None:
        with _partner_lock:
            cache[key] = (now, item)
    return item


def forget_partners() -> None:
    """Drop cached partner and team records (a partner or team was written, or the endpoint changed)."""
    with _partner_lock:
        _partners.clear()
        _teams.clear()


_teams: dict[str, tuple[float, TeamItem]] = {}


def cached_team(team_id: str) -> TeamItem | None:
    """:func:`get_team` for the submission paths (is the submitter's team open?), cached per warm process for
    ``partner_cache_seconds`` like a partner's record, so a burst of submissions reads the team once. Writers
    here drop it (:func:`forget_partners`); a change made elsewhere is seen within the cache time. Read only."""
    return _cached(_teams, team_id, get_team)


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


# --- writes ------------------------------------------------------------------------------------------------------
# Every create and change is one DynamoDB transaction: the object (conditioned on its absence, or on the
# ``version`` read), its API key items, and what the caller adds in ``also`` (the audit entry and an
# idempotency claim, each a put conditioned on its own absence). Either all of it is written or nothing.

Also = Sequence[Any]  # model instances to put in the same transaction, each only if its key is new


def _version_is(model: Any, version: int) -> Any:
    return model.version == version if version else (model.version.does_not_exist() | (model.version == 0))


def _transact(ops: list[tuple[str, Any, Any, Any]], also: Also) -> None:
    """Run ``ops`` (``("put", item, condition, what)`` or ``("update", item, (actions, condition), what)``)
    plus ``also`` in one transaction. A failed condition raises ``AlreadyExistsError`` (a put of a new object),
    ``ConflictError`` (an update on a stale read) or :class:`ClaimTaken` (an ``also`` item exists)."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from chalicelib.store import models

    plan = list(ops) + [("put", item, item.__class__._hash_key_attribute().does_not_exist(), ("claim", item))
                        for item in also]
    try:
        with TransactWrite(connection=models.connection()) as tx:
            for op, item, arg, _ in plan:
                if op == "put":
                    tx.save(item, condition=arg)
                else:
                    actions, condition = arg
                    tx.update(item, actions=actions, condition=condition)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        failed = [(step, r) for step, r in zip(plan, reasons, strict=False)
                  if r is not None and r.code == "ConditionalCheckFailed"]
        # a taken claim first: a retried create finds both its claim and its object there
        failed.sort(key=lambda pair: not isinstance(pair[0][3], tuple))
        for (op, _item, _, what), _reason in failed:
            if isinstance(what, tuple):
                raise ClaimTaken(what[1]) from None
            if op == "put":
                raise AlreadyExistsError(f"{what} exists") from None
            raise ConflictError(f"{what} changed or is missing; read it again and retry") from None
        raise


class ClaimTaken(DirectoryError):
    """An ``also`` item (an idempotency claim) is already there: the same request was made before."""

    def __init__(self, item: Any) -> None:
        super().__init__("already done")
        self.item = item


def _key_op(kind: PrincipalKind, principal_id: str, now: datetime) -> tuple[str, tuple]:
    key = new_api_key()
    item = ApiKeyItem(f"apikey#{hash_api_key(key)}", principal_kind=kind.value, principal_id=principal_id,
                      created_at=now)
    return key, ("put", item, ApiKeyItem.pk.does_not_exist(), "api key")


def create_partner(partner_id: str, name: str, *, now: datetime, tier: str = "registered",
                   callback_url: str | None = None, secret: str | None = None,
                   team_id: str | None = None, also: Also = ()) -> tuple[str, str]:
    """Create a partner with a signing secret and an API key. Returns ``(whsec_ secret, api key)``, shown once.

    ``team_id`` is its channel team: that team's managers review its registrations.
    Raises :class:`AlreadyExistsError` if the partner id is taken. The secret is written after the
    transaction; should that fail, ``rotate_partner_secret`` makes one (it creates a missing secret).
    """
    from connectors.standard_webhooks import generate_secret

    item = PartnerItem(f"partner#{partner_id}", name=name, tier=tier, callback_url=callback_url, team_id=team_id,
                       created_at=now, version=1)
    key, key_op = _key_op(PrincipalKind.PARTNER, partner_id, now)
    _transact([("put", item, PartnerItem.pk.does_not_exist(), f"partner {partner_id!r}"), key_op], also)
    forget_partners()  # a record of an earlier partner with this id (deleted since) must not be served
    signing = secret or generate_secret()
    _put_secret(partner_id, {"secrets": [signing]}, create=True)
    return signing, key


def _put_secret(partner_id: str, value: dict, *, create: bool = False) -> None:
    sm = aws.client("secretsmanager")
    name = settings_mod.get().partner_secret_name(partner_id)
    text = json.dumps(value)
    if create:
        try:
            sm.create_secret(Name=name, SecretString=text)
            return
        except sm.exceptions.ResourceExistsException:
            pass  # left by an earlier partner of this id, or a half-done create: replace its value
    sm.put_secret_value(SecretId=name, SecretString=text)


def create_team(team_id: str, name: str, *, now: datetime, manager_ids: list[str] | None = None,
                territory: str | None = None, also: Also = ()) -> None:
    """Create a team; an existing id raises :class:`AlreadyExistsError` (nothing is overwritten)."""
    item = TeamItem(f"team#{team_id}", name=name, manager_ids=manager_ids or [], territory=territory, created_at=now)
    try:
        _transact([("put", item, TeamItem.pk.does_not_exist(), f"team {team_id!r}")], also)
    except AlreadyExistsError:
        raise AlreadyExistsError(f"team {team_id!r} exists; change it with: dealreg teams update") from None


def create_user(user_id: str, name: str, role: Role, *, now: datetime, team_id: str | None = None,
                email: str | None = None, manager_id: str | None = None, partner_id: str | None = None,
                login_code_hash: str | None = None, login_code_expires: datetime | None = None,
                also: Also = ()) -> str | None:
    """Create a user and return their API key (shown once); a partner user (role partner, of ``partner_id``)
    gets no API key: they sign in to the console with a password set from a one-time code. Managers are added
    to their team's managers in the same transaction (the team must exist)."""
    item = UserItem(f"user#{user_id}", name=name, role=role.value, team_id=team_id, email=email,
                    manager_id=manager_id, partner_id=partner_id, created_at=now, version=1,
                    login_code_hash=login_code_hash, login_code_expires=login_code_expires)
    ops: list[tuple[str, Any, Any, Any]] = [("put", item, UserItem.pk.does_not_exist(), f"user {user_id!r}")]
    key = None
    if role is not Role.PARTNER:
        key, key_op = _key_op(PrincipalKind.USER, user_id, now)
        ops.append(key_op)
    if role is Role.MANAGER and team_id:
        ops.append(("update", TeamItem(f"team#{team_id}"),
                    ([TeamItem.manager_ids.set(TeamItem.manager_ids.append([user_id]))], TeamItem.pk.exists()),
                    f"team {team_id!r}"))
    _transact(ops, also)
    return key


def set_active(kind: str, ident: str, active: bool, *, now: datetime, also: Also = ()) -> bool:
    """Deactivate or reactivate a user, partner or team (``kind`` user | partner | team), conditioned on the
    version read. A user's or partner's deactivation also sets ``not_before``: their console sessions end for
    good. Returns False (nothing written) when it already was so. Raises :class:`NotFoundError`,
    :class:`ConflictError` (a concurrent change)."""
    model: Any = {"user": UserItem, "partner": PartnerItem, "team": TeamItem}[kind]
    getter = {"user": get_user, "partner": get_partner, "team": get_team}[kind]
    item = _require(getter(ident), kind, ident)
    if (item.active == "yes") == active:
        return False
    version = int(item.version or 0)
    actions = [model.active.set("yes" if active else "no"), model.version.set(version + 1)]
    if not active and kind != "team":
        actions.append(model.not_before.set(now))
    _transact([("update", item, (actions, _version_is(model, version)), f"{kind} {ident!r}")], also)
    if kind in ("partner", "team"):
        forget_partners()
    return True


def rotate_user_key(user_id: str, *, now: datetime, also: Also = ()) -> str:
    """Revoke every key of the user and issue a new one (shown once), in one transaction conditioned on the
    user's version (a concurrent rotation or deactivation answers :class:`ConflictError`)."""
    user = _require(get_user(user_id), "user", user_id)
    if user.role == Role.PARTNER:
        raise DirectoryError("a partner user signs in with a password: issue a login code instead",
                             code="no_api_key", status=409)
    version = int(user.version or 0)
    key, key_op = _key_op(PrincipalKind.USER, user_id, now)
    ops: list[tuple[str, Any, Any, Any]] = [
        ("update", user, ([UserItem.version.set(version + 1)], _version_is(UserItem, version)), f"user {user_id!r}"),
        key_op]
    ops += [("update", rec, ([ApiKeyItem.revoked.set("yes")], ApiKeyItem.pk.exists()), "api key")
            for rec in _keys_of(PrincipalKind.USER, user_id) if rec.revoked == "no"]
    _transact(ops, also)
    return key


ROTATION_LEASE = timedelta(seconds=60)


def rotate_partner_secret(partner_id: str, *, keep_previous: bool = True, grace: timedelta = timedelta(days=7),
                          now: datetime | None = None, also: Also = (), claim: Any = None) -> str:
    """Add a new signing secret. The current one keeps working for ``grace`` (so the partner can switch; a
    Standard Webhooks sender may sign with both), then it is refused; secrets whose grace has passed are
    dropped from the store at the next rotation.

    Secrets Manager has no conditional write, so a rotation first takes a lease on the partner item (a
    conditional update: ``rotating_until`` absent or past, on the version read), rewrites the secret, then
    releases the lease with the audit entry in one transaction. A concurrent rotation answers
    :class:`ConflictError` instead of overwriting the other's new secret. An idempotency ``claim`` (a new
    ClaimItem with ``response.done`` false) is put with the lease (:class:`ClaimTaken` if it exists: nothing is
    issued) and marked done with the release."""
    from connectors.standard_webhooks import generate_secret

    now = now or clock.now()
    partner = _require(get_partner(partner_id), "partner", partner_id)
    version = int(partner.version or 0)
    free = PartnerItem.rotating_until.does_not_exist() | (PartnerItem.rotating_until < now)
    _transact([("update", partner, ([PartnerItem.rotating_until.set(now + ROTATION_LEASE),
                                     PartnerItem.version.set(version + 1)], _version_is(PartnerItem, version) & free),
                f"partner {partner_id!r}")], [claim] if claim is not None else ())
    sm = aws.client("secretsmanager")
    name = settings_mod.get().partner_secret_name(partner_id)
    try:
        value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    except sm.exceptions.ResourceNotFoundException:
        value = {"secrets": []}  # a create that failed before its secret was written
    current = _in_force(value, now)
    retire = {k: v for k, v in (value.get("retire_at") or {}).items() if k in current}
    fresh = generate_secret()
    kept = current[:1] if keep_previous else []
    for old in kept:
        retire[old] = min(retire.get(old, (now + grace).isoformat()), (now + grace).isoformat())
    # older ones (already retiring) keep their own deadline
    kept += [s for s in current[1:] if keep_previous and s in retire]
    _put_secret(partner_id, {"secrets": [fresh, *kept], "retire_at": {k: retire[k] for k in kept}},
                create=not value["secrets"])
    aws.forget_secrets()
    done = PartnerItem(f"partner#{partner_id}")
    ops: list[tuple[str, Any, Any, Any]] = [
        ("update", done, ([PartnerItem.rotating_until.remove(), PartnerItem.version.set(version + 2)],
                          PartnerItem.version == version + 1), f"partner {partner_id!r}")]
    if claim is not None:
        from chalicelib.store.models import ClaimItem

        ops.append(("update", claim, ([ClaimItem.response.set({**claim.response, "done": True})],
                                      ClaimItem.key.exists()), "idempotency claim"))
    _transact(ops, also)
    return fresh


# --- partner users' console passwords (issue 18) ------------------------------------------------------------------

def set_login_code(user_id: str, code_hash: str, expires: datetime, *, version: int, also: Also = ()) -> None:
    """Store a one-time set-password code's hash (a new code replaces any earlier one)."""
    user = UserItem(f"user#{user_id}")
    _transact([("update", user, ([UserItem.login_code_hash.set(code_hash), UserItem.login_code_expires.set(expires),
                                  UserItem.version.set(version + 1)], _version_is(UserItem, version)),
                f"user {user_id!r}")], also)


def set_password(user_id: str, password_hash: str, salt: str, *, version: int, code_hash: str,
                 also: Also = ()) -> None:
    """Store the password and spend the code: conditioned on the code still being the one checked, so a
    code is used once even by two concurrent requests."""
    user = UserItem(f"user#{user_id}")
    _transact([("update", user, ([UserItem.password_hash.set(password_hash), UserItem.password_salt.set(salt),
                                  UserItem.login_code_hash.remove(), UserItem.login_code_expires.remove(),
                                  UserItem.version.set(version + 1)],
                                 _version_is(UserItem, version) & (UserItem.login_code_hash == code_hash)),
                f"user {user_id!r}")], also)


def audit_entry(actor: str, action: str, target: str, *, now: datetime, detail: dict | None = None) -> Any:
    """A directory audit item for ``also`` (who, what, which object, when; never a secret)."""
    from chalicelib.store.models import DirectoryAuditItem

    return DirectoryAuditItem(f"audit#{now.isoformat()}#{secrets.token_hex(4)}", actor=actor, action=action,
                              target=target, detail=detail or None, created_at=now)


def audit_trail(limit: int = 100) -> list[dict]:
    """The newest directory audit entries (a scan: an admin read, rare)."""
    from chalicelib.store.models import DirectoryAuditItem

    items = sorted(DirectoryAuditItem.scan(DirectoryAuditItem.pk.startswith("audit#")), key=lambda i: i.pk,
                   reverse=True)[:limit]
    return [{"at": i.created_at, "actor": i.actor, "action": i.action, "target": i.target,
             "detail": i.detail or {}} for i in items]


def issue_session_key(principal: Principal, *, now: datetime, expires_at: datetime,
                      user_id: str | None = None) -> str:
    """A short-lived key for ``principal`` (a console session), kept in the sessions table; every request
    made with it resolves through :func:`principal_for_key` like any API call (a deactivated user's or
    partner's sessions stop with their keys)."""
    key = SESSION_KEY_PREFIX + secrets.token_urlsafe(32)
    SessionKeyItem(f"session#{hash_api_key(key)}", principal_kind=principal.kind.value,
                   principal_id=principal.id, created_at=now, user_id=user_id,
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
    value = aws.secret_json(settings_mod.get().partner_secret_name(partner_id))
    if not isinstance(value, dict):
        return None
    return _in_force(value, (now or clock.now()))


def _in_force(value: dict, now: datetime) -> list[str]:
    retire = value.get("retire_at") or {}
    return [s for s in value.get("secrets", []) if s not in retire or datetime.fromisoformat(retire[s]) > now]


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


def update_team(team_id: str, *, name: str | None = None, territory: str | None = None,
                add_manager: str | None = None, remove_manager: str | None = None, also: Also = ()) -> TeamItem:
    """Rename a team, change its territory, add or remove a manager: one transaction conditioned on the
    version read, with ``also`` (the audit entry). A manager added must be an existing user; adding one twice
    changes nothing; removing one who does not manage the team is :class:`NotFoundError`."""
    team = _require(get_team(team_id), "team", team_id)
    managers = list(team.manager_ids or [])
    if add_manager is not None:
        _require(get_user(add_manager), "user", add_manager)
        if add_manager not in managers:
            managers.append(add_manager)
    if remove_manager is not None:
        if remove_manager not in managers:
            raise NotFoundError(f"{remove_manager!r} does not manage team {team_id!r}")
        managers.remove(remove_manager)
    actions = [a for a in (TeamItem.name.set(name) if name else None,
                           TeamItem.territory.set(territory) if territory is not None else None,
                           TeamItem.manager_ids.set(managers) if managers != list(team.manager_ids or []) else None)
               if a is not None]
    if not actions:
        return team
    version = int(team.version or 0)
    _transact([("update", team, (actions + [TeamItem.version.set(version + 1)], _version_is(TeamItem, version)),
                f"team {team_id!r}")], also)
    return _require(get_team(team_id), "team", team_id)


def add_team_manager(team_id: str, user_id: str, *, also: Also = ()) -> TeamItem:
    """Make ``user_id`` (an existing user) a manager of the team; adding twice changes nothing."""
    return update_team(team_id, add_manager=user_id, also=also)


def remove_team_manager(team_id: str, user_id: str, *, also: Also = ()) -> TeamItem:
    return update_team(team_id, remove_manager=user_id, also=also)


def _keys_of(kind: PrincipalKind, principal_id: str) -> list[ApiKeyItem]:
    """The API key records of one principal (a scan of the directory: an admin operation, rare)."""
    return [k for k in ApiKeyItem.scan(ApiKeyItem.pk.startswith("apikey#")
                                       & (ApiKeyItem.principal_kind == kind.value)
                                       & (ApiKeyItem.principal_id == principal_id))]


def deactivate_user(user_id: str) -> None:
    """The user's keys and console sessions stop working at once (every request reads ``active``); their
    holdings stay until handed over (``dealreg holders offboard``)."""
    set_active("user", user_id, False, now=clock.now())


def deactivate_partner(partner_id: str) -> None:
    """Its signed webhooks, its API key and its users' sessions are refused from now on (intake and
    ``principal_for_key`` read ``active``; other warm processes within ``partner_cache_seconds``)."""
    set_active("partner", partner_id, False, now=clock.now())


def _scan(model, prefix: str) -> list:
    return sorted(model.scan(model.pk.startswith(prefix)), key=lambda i: i.pk)


def list_teams() -> list[dict]:
    return [{"id": t.pk.split("#", 1)[1], "name": t.name, "territory": t.territory,
             "manager_ids": list(t.manager_ids or []), "active": t.active != "no"} for t in _scan(TeamItem, "team#")]


def is_deactivated(team: TeamItem | None) -> bool:
    """The one test of a deactivated team: it exists and was deactivated (no team, or an unknown one, is not)."""
    return team is not None and team.active == "no"


def team_active(team_id: str | None) -> bool:
    """False only for a team that exists and is deactivated (:func:`is_deactivated`)."""
    return not is_deactivated(get_team(team_id) if team_id else None)


def list_users(team_id: str | None = None) -> list[dict]:
    return [{"id": u.pk.split("#", 1)[1], "name": u.name, "role": u.role, "team_id": u.team_id,
             "manager_id": u.manager_id, "partner_id": u.partner_id, "active": u.active == "yes",
             "has_password": bool(u.password_hash)}
            for u in _scan(UserItem, "user#") if team_id is None or u.team_id == team_id]


def list_partners() -> list[dict]:
    return [{"id": p.pk.split("#", 1)[1], "name": p.name, "tier": p.tier, "team_id": p.team_id,
             "active": p.active == "yes", "callback_url": bool(p.callback_url)} for p in _scan(PartnerItem, "partner#")]


__all__ = ["PutError", "partner_secrets", "principal_for_key", "create_partner", "create_user", "create_team"]
