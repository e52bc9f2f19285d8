"""Directory administration (issue 18): the one place that creates, deactivates, reactivates and rotates
users, teams and partners, for the admin API (``handlers/admin.py``), the console's admin page (through that
API) and the operator CLI (``dealreg users|teams|partners``).

Every change is one transaction (``store.directory``): the object, conditioned on its absence or on the
version read, plus an audit entry (who, when, what; never a key, secret, password or code) and, for a create
with an ``Idempotency-Key``, a claim. A retry with the same key and body answers the first object again
(``replayed``) without its key or secret, which exist only in the first answer (only their hashes are kept).
Rotations honour the key the same way: a retry issues no second key or secret.

Partner users (role ``partner``) sign in to the console with a password: the admin issues a one-time code
(answered once, stored as a SHA-256 hash, 72 hours), the person sets a password with it (scrypt, per-user salt).
Attempts are throttled per (user, client address), per address and per user (``domain.login_throttle``): a
guesser is made to wait, doubling, but nobody can lock another person's login.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib import settings
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.errors import DealregError, TeamDeactivatedError, ValidationFailedError
from chalicelib.store import directory as store
from schemas.common import PrincipalKind

CLI_ACTOR = "system:cli"
THROTTLE_ACTOR = "system:login-throttle"
LOGIN_CODE_TTL = timedelta(hours=72)
PASSWORD_MIN, PASSWORD_MAX = 12, 256
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}  # 16 MiB; median 169 ms per check measured on the busy 2-core dev box


def slug(name: str) -> str:
    """An id made from a name: ASCII letters and digits of it, then 6 random hex digits."""
    base = "".join(c if c.isascii() and c.isalnum() else "-" for c in name.lower()).strip("-")
    return (base[:24].strip("-") or "p") + "-" + secrets.token_hex(3)


def _field(loc: str, kind: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(message, errors=[{"loc": loc, "type": kind}])


# --- idempotent creates ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Idem:
    """An ``Idempotency-Key`` of ``actor`` with the request body's fingerprint."""

    key: str
    fingerprint: str


def _claim_key(actor: str, idem: Idem) -> str:
    return f"admin#{actor}#{idem.key}"


def _claim(actor: str, idem: Idem | None, kind: str, ident: str | None = None) -> Any:
    """The claim a previous request with this key left, or None; 422 when the key came with another request
    (another body, another kind of change, or — for a rotation — another user or partner)."""
    if idem is None:
        return None
    from chalicelib.store.models import ClaimItem

    try:
        claim = ClaimItem.get(_claim_key(actor, idem))
    except ClaimItem.DoesNotExist:
        return None
    if (claim.fingerprint != idem.fingerprint or (claim.response or {}).get("kind") != kind
            or (ident is not None and claim.registration_id != ident)):
        raise DealregError("this Idempotency-Key was used for a different request", code="idempotency_key_reused",
                           status=422, errors=[{"loc": "header.idempotency-key", "type": "idempotency_key_reused"}])
    return claim


def _replay(actor: str, idem: Idem | None, kind: str) -> str | None:
    """The id a previous request with this key created, or None; 422 when the key came with another body."""
    claim = _claim(actor, idem, kind)
    return None if claim is None else claim.registration_id


def _claim_item(actor: str, idem: Idem, kind: str, ident: str, now: datetime, **response: Any) -> Any:
    from chalicelib.store.models import ClaimItem

    ttl = timedelta(seconds=settings.get().idempotency_ttl_seconds)
    return ClaimItem(_claim_key(actor, idem), registration_id=ident, fingerprint=idem.fingerprint,
                     response={"kind": kind, "id": ident, **response}, created_at=now, expires_at=now + ttl)


def _also(actor: str, idem: Idem | None, kind: str, ident: str, action: str, now: datetime,
          detail: dict | None = None) -> list:
    items = [store.audit_entry(actor, action, f"{kind}:{ident}", now=now, detail=detail)]
    if idem is not None:
        items.append(_claim_item(actor, idem, kind, ident, now))
    return items


def _create(actor: str, idem: Idem | None, kind: str, write) -> tuple[str | None, Any]:
    """Run ``write()`` (which makes the object with the claim); on a claim already taken, the earlier id."""
    done = _replay(actor, idem, kind)
    if done is not None:
        return done, None
    try:
        return None, write()
    except store.ClaimTaken:
        done = _replay(actor, idem, kind)
        if done is None:  # the claim expired in between: very unlikely; the client may retry
            raise store.ConflictError("the same request is being made concurrently; retry") from None
        return done, None


# --- teams, users, partners --------------------------------------------------------------------------------------

def create_team(actor: str, body: Any, *, now: datetime, idem: Idem | None = None) -> dict:
    team_id = body.id or slug(body.name)
    replayed, _ = _create(actor, idem, "team", lambda: store.create_team(
        team_id, body.name, now=now, territory=body.territory,
        also=_also(actor, idem, "team", team_id, "team.created", now, {"name": body.name})))
    return {"id": replayed or team_id, "replayed": replayed is not None}


def _open_team(team_id: str | None) -> None:
    """A new member's team must exist and be active (422 on ``body.team_id``)."""
    if not team_id:
        return
    team = store.get_team(team_id)
    if team is None:
        raise _field("body.team_id", "not_found", f"no team {team_id!r}")
    if store.is_deactivated(team):
        raise TeamDeactivatedError(f"team {team_id!r} is deactivated", loc="body.team_id")


def create_user(actor: str, body: Any, *, now: datetime, idem: Idem | None = None) -> dict:
    """A rep, manager or admin with an API key (answered once), or a partner user with a one-time login code."""
    role = Role(body.role)
    _open_team(body.team_id)
    if body.manager_id and store.get_user(body.manager_id) is None:
        raise _field("body.manager_id", "not_found", f"no user {body.manager_id!r}")
    if body.partner_id and store.get_partner(body.partner_id) is None:
        raise _field("body.partner_id", "not_found", f"no partner {body.partner_id!r}")
    user_id = body.id or slug(body.name)
    code = _new_code() if role is Role.PARTNER else None
    expires = now + LOGIN_CODE_TTL

    def write() -> str | None:
        return store.create_user(
            user_id, body.name, role, now=now, team_id=body.team_id, email=body.email, manager_id=body.manager_id,
            partner_id=body.partner_id, login_code_hash=_hash(code) if code else None,
            login_code_expires=expires if code else None, also=_also(actor, idem, "user", user_id, "user.created", now,
                                                   {"role": role.value, "team_id": body.team_id,
                                                    "partner_id": body.partner_id}))

    replayed, key = _create(actor, idem, "user", write)
    if replayed is not None:
        return {"id": replayed, "role": role.value, "replayed": True}
    out: dict[str, Any] = {"id": user_id, "role": role.value, "replayed": False}
    if key:
        out["api_key"] = key
    if code:
        out.update(login_code=code, login_code_expires_at=expires)
    return out


def create_partner(actor: str, body: Any, *, now: datetime, idem: Idem | None = None) -> dict:
    _open_team(body.team_id)
    if body.callback_url:
        check_callback_url(body.callback_url, loc="body.callback_url")
    partner_id = body.id or slug(body.name)
    replayed, made = _create(actor, idem, "partner", lambda: store.create_partner(
        partner_id, body.name, now=now, tier=body.tier, callback_url=body.callback_url, team_id=body.team_id,
        also=_also(actor, idem, "partner", partner_id, "partner.created", now,
                   {"tier": body.tier, "team_id": body.team_id})))
    if replayed is not None:
        return {"id": replayed, "replayed": True}
    secret, key = made
    return {"id": partner_id, "replayed": False, "webhook_secret": secret, "api_key": key}


def check_callback_url(url: str, *, loc: str) -> None:
    """A partner callback URL is checked as any notification channel URL (https, SSRF guard)."""
    from chalicelib.services.notification_channels import check_channel_url
    from connectors.errors import ConnectorError

    try:
        check_channel_url("webhook", url, local=settings.get().local, resolve=True)
    except ConnectorError as exc:
        raise _field(loc, "url_refused", f"refused: webhook URL ({exc.reason})") from None


def set_active(actor: str, kind: str, ident: str, active: bool, *, now: datetime) -> dict:
    """Deactivate or reactivate a user, partner or team. A deactivated user's API key and console sessions stop
    at once; a deactivated partner's webhooks, API key and its users' sessions too (other warm API processes
    within ``DEALREG_PARTNER_CACHE_SECONDS``). Sessions started before a deactivation stay ended after a
    reactivation. A deactivated team takes no new members (users, partners: 422 ``team_deactivated``), its members
    and partners can be given no new holdings (assign, transfer: ``services.ownership.resolve_recipient``, 422
    ``team_deactivated``) nor take one or open one (claim, submissions: ``services.registrations.ensure_team_open``,
    403 ``team_inactive``), and its
    managers are no longer asked to review (``store.routing.team_manager_ids``: the route's other approvers or
    its fallback decide); its members stay active and keep what they hold."""
    action = f"{kind}.{'reactivated' if active else 'deactivated'}"
    changed = store.set_active(kind, ident, active, now=now, also=[store.audit_entry(actor, action, f"{kind}:{ident}",
                                                                                      now=now)])
    return {"id": ident, "active": active, "changed": changed}


def update_team(actor: str, team_id: str, body: Any, *, now: datetime) -> dict:
    """Rename a team, change its territory, add or remove a manager (``schemas.admin.TeamUpdate``): one write
    conditioned on the version read, audited (``team.updated`` with the changed fields)."""
    detail = {k: v for k, v in body.model_dump().items() if v is not None}
    if body.add_manager is not None and store.get_user(body.add_manager) is None:
        raise _field("body.add_manager", "not_found", f"no user {body.add_manager!r}")
    team = store.get_team(team_id)
    if team is None:
        raise store.NotFoundError(f"no team {team_id!r}")
    if body.remove_manager is not None and body.remove_manager not in (team.manager_ids or []):
        raise _field("body.remove_manager", "not_a_manager", f"{body.remove_manager!r} does not manage {team_id!r}")
    team = store.update_team(team_id, name=body.name, territory=body.territory, add_manager=body.add_manager,
                             remove_manager=body.remove_manager,
                             also=[store.audit_entry(actor, "team.updated", f"team:{team_id}", now=now, detail=detail)])
    return {"id": team_id, "name": team.name, "territory": team.territory,
            "manager_ids": list(team.manager_ids or []), "active": team.active != "no"}


def rotate_user_key(actor: str, user_id: str, *, now: datetime, idem: Idem | None = None) -> dict:
    """A new API key, every earlier one revoked. With ``idem`` the claim is written in the same transaction:
    a retry answers ``replayed`` (no key: it is shown once) and issues nothing."""
    kind = "user.rotate_key"
    also = [store.audit_entry(actor, "user.key_rotated", f"user:{user_id}", now=now)]
    if _claim(actor, idem, kind, user_id) is not None:
        return {"id": user_id, "replayed": True}
    if idem is not None:
        also.append(_claim_item(actor, idem, kind, user_id, now, done=True))
    try:
        key = store.rotate_user_key(user_id, now=now, also=also)
    except store.ClaimTaken:  # the same request finished concurrently
        _claim(actor, idem, kind, user_id)  # 422 if it was another request after all
        return {"id": user_id, "replayed": True}
    return {"id": user_id, "api_key": key, "replayed": False}


def rotate_partner_secret(actor: str, partner_id: str, *, grace_hours: float, now: datetime,
                          idem: Idem | None = None) -> dict:
    """A new signing secret (see ``store.rotate_partner_secret``). With ``idem`` the claim is written with the
    rotation's lease, before a secret is made, so a retry can never issue a second one; it is marked done with
    the lease's release. A retry answers ``replayed`` (no secret) once done, 409 while the first is running or
    if it stopped midway (then rotate with a new key)."""
    kind = "partner.rotate_secret"
    until = now + timedelta(hours=grace_hours) if grace_hours > 0 else None
    claim = _claim(actor, idem, kind, partner_id)
    if claim is None:
        new = None if idem is None else _claim_item(actor, idem, kind, partner_id, now, done=False,
                                                     previous_valid_until=until.isoformat() if until else None)
        try:
            fresh = _rotate_secret(actor, partner_id, grace_hours, now, new)
            return {"id": partner_id, "webhook_secret": fresh, "previous_valid_until": until, "replayed": False}
        except store.ClaimTaken:  # the same key, concurrently
            claim = _claim(actor, idem, kind, partner_id)
    answer = (claim.response or {}) if claim is not None else {}
    if not answer.get("done"):
        raise store.ConflictError("the first request with this Idempotency-Key has not finished; retry later "
                                  "(if it stopped midway, rotate with a new key)")
    first_until = answer.get("previous_valid_until")
    return {"id": partner_id, "replayed": True,
            "previous_valid_until": datetime.fromisoformat(first_until) if first_until else None}


def _rotate_secret(actor: str, partner_id: str, grace_hours: float, now: datetime, claim: Any) -> str:
    grace = timedelta(hours=grace_hours)
    until = now + grace if grace_hours > 0 else None
    return store.rotate_partner_secret(partner_id, keep_previous=grace_hours > 0, grace=grace, now=now, claim=claim,
                                       also=[store.audit_entry(
                                           actor, "partner.secret_rotated", f"partner:{partner_id}", now=now,
                                           detail={"previous_valid_until": until.isoformat() if until else None})])


def audit(limit: int = 100) -> list[dict]:
    out = []
    for entry in store.audit_trail(limit):
        actor_kind, _, actor_id = entry["actor"].partition(":")
        kind, _, ident = entry["target"].partition(":")
        out.append({"at": entry["at"], "actor": {"kind": actor_kind, "id": actor_id}, "action": entry["action"],
                    "object": {"kind": kind, "id": ident}, "detail": entry["detail"]})
    return out


# --- partner users' console logins -------------------------------------------------------------------------------

def _new_code() -> str:
    return "drc_" + secrets.token_urlsafe(16)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _scrypt(password: str, salt: bytes) -> str:
    return hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT).hex()


def issue_login_code(actor: str, user_id: str, *, now: datetime) -> dict:
    """A new one-time code for a partner user (replaces any earlier code; the password stays until reset)."""
    user = store.get_user(user_id)
    if user is None:
        raise store.NotFoundError(f"no user {user_id!r}")
    if user.role != Role.PARTNER:
        raise DealregError("staff sign in with their API key; rotate it instead", code="not_a_partner_user",
                           status=409)
    code, expires = _new_code(), now + LOGIN_CODE_TTL
    store.set_login_code(user_id, _hash(code), expires, version=int(user.version or 0),
                         also=[store.audit_entry(actor, "user.login_code_issued", f"user:{user_id}", now=now)])
    return {"id": user_id, "login_code": code, "expires_at": expires}


def password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN:
        return "password_too_short"
    if len(password) > PASSWORD_MAX:
        return "password_too_long"
    return None


def set_password(user_id: str, code: str, password: str, *, now: datetime, client_ip: str) -> bool:
    """Set a partner user's password with their one-time code; False for a wrong, used or expired code.
    Raises ``ValidationFailedError`` for a password too short, ``TooManyAttemptsError`` (429) when this
    address or user id must wait (attempts are counted as logins are)."""
    problem = password_problem(password)
    if problem:
        raise _field("form.password", problem, f"the password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    user_id = user_id if 0 < len(user_id) <= 64 else ""
    taken = _take_attempt(user_id, client_ip, now, known_device=False)
    user = store.get_user(user_id) if user_id else None
    if user is None or user.role != Role.PARTNER:
        return False
    given = _hash(code)
    if (not user.login_code_hash or not hmac.compare_digest(user.login_code_hash, given)
            or user.login_code_expires is None or user.login_code_expires <= now):
        return False
    salt = secrets.token_bytes(16)
    try:
        store.set_password(user_id, _scrypt(password, salt), salt.hex(), version=int(user.version or 0),
                           code_hash=given, also=[store.audit_entry(f"user:{user_id}", "user.password_set",
                                                                    f"user:{user_id}", now=now)])
    except store.ConflictError:
        return False  # the code was spent (or replaced) concurrently
    _give_back(taken)
    return True


# --- login throttling (domain.login_throttle; counts in store.login_throttle) ----------------------------------

def _allowances() -> dict:
    from chalicelib.domain.login_throttle import Allowance

    s = settings.get()
    free = {"pair": s.login_free_per_user_ip, "ip": s.login_free_per_ip, "user": s.login_free_per_user}
    return {scope: Allowance(n, s.login_wait_base_seconds, s.login_wait_cap_seconds, s.login_reset_seconds)
            for scope, n in free.items()}


# Which throttle items lately said "wait", until when (``time.monotonic()``): only the order in which the scopes are
# read comes from here, never a decision, so a throttled attempt is usually refused after one read. Per process,
# bounded (forgotten when full).
_waiting: dict[str, float] = {}
_WAITING_MAX = 4096


def _remember_wait(pk: str, seconds: int) -> None:
    import time

    if len(_waiting) >= _WAITING_MAX:
        _waiting.clear()
    _waiting[pk] = time.monotonic() + seconds


def _throttled_first(scopes: list[str], keys: dict[str, str]) -> list[str]:
    """``scopes`` with those whose item said wait lately (in this process) first, else in their usual order."""
    import time

    now = time.monotonic()
    return sorted(scopes, key=lambda scope: _waiting.get(keys[scope], 0.0) <= now)


def _take_attempt(user_id: str, client_ip: str, now: datetime, *, known_device: bool,
                  only: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """Count one login attempt in each scope (or in the scopes ``only`` names), or refuse it
    (``TooManyAttemptsError``, nothing counted) when a scope says wait. A browser known to have signed in as this
    user (``known_device``) skips the per-user scope. The scopes are read one at a time, one that said wait lately
    first, and the first that says wait refuses the attempt: a refusal usually costs one read (its ``Retry-After`` is
    that scope's wait; a retry then meets any other scope still waiting, so nothing is ever checked early). Each
    count is a write conditioned on the count read; a lost race reads again. Returns the ``(scope, key)`` pairs
    counted, for :func:`_give_back` after a success. When a later scope refuses, the scopes already counted lose
    exactly this attempt again (:func:`_roll_back`), nothing more."""
    from chalicelib.domain import login_throttle as rules
    from chalicelib.domain.errors import TooManyAttemptsError
    from chalicelib.store import login_throttle as counts

    allowances = _allowances()
    scopes = [scope for scope in (only or rules.SCOPES) if not (scope == "user" and known_device)]
    keys = {scope: counts.key(scope, user_id=user_id, ip=client_ip) for scope in scopes}
    read = {}
    for scope in _throttled_first(scopes, keys):
        read[scope] = counts.read(keys[scope])
        wait = rules.retry_after(read[scope], now, allowances[scope])
        if wait:
            _remember_wait(keys[scope], wait)
            raise TooManyAttemptsError(wait, scope)  # refused before anything is counted or checked
    taken = []
    for scope in scopes:
        allowance = allowances[scope]
        keep = timedelta(seconds=allowance.reset_seconds + allowance.cap_seconds)
        current = read[scope]
        for _ in range(8):
            new = rules.take(current, now, allowance)
            if counts.write(keys[scope], read_count=current, new=new, keep_for=keep):
                break
            current = counts.read(keys[scope])  # another attempt counted in between: count after it
            wait = rules.retry_after(current, now, allowance)
            if wait:
                _roll_back(taken)
                _remember_wait(keys[scope], wait)
                raise TooManyAttemptsError(wait, scope)
        else:
            _roll_back(taken)
            raise TooManyAttemptsError(1, scope)  # heavily contended: the caller may retry in a second
        taken.append((scope, keys[scope]))
        if rules.starts_throttling(new, allowance):
            _audit_throttling(scope, user_id, client_ip, now, rules.wait_after(new.attempts, allowance))
    return taken


def key_login_attempt(client_ip: str, *, now: datetime) -> list[tuple[str, str]]:
    """Count a console login with an API key in the client address's scope (the same count and allowance as
    password logins from that address: a key names no user before it is checked), or refuse it
    (``TooManyAttemptsError``) before the key is looked up. Give it back (:func:`key_login_succeeded`) on success."""
    return _take_attempt("", client_ip, now, known_device=True, only=("ip",))


def key_login_succeeded(taken: list[tuple[str, str]]) -> None:
    _give_back(taken)


def _roll_back(taken: list[tuple[str, str]]) -> None:
    """A refused attempt: undo only its own +1 in each scope it counted (an atomic ADD of -1), the (user, address)
    scope included. Never a reset: a refusal proves nothing, and racing from one address must not erase that
    pair's count or its wait."""
    from chalicelib.store import login_throttle as counts

    for _, pk in taken:
        counts.give_back(pk, reset=False)


def _give_back(taken: list[tuple[str, str]]) -> None:
    """After a success: this user's own address starts again; the address and user scopes get the attempt back."""
    from chalicelib.store import login_throttle as counts

    for scope, pk in taken:
        counts.give_back(pk, reset=scope == "pair")


def _audit_throttling(scope: str, user_id: str, client_ip: str, now: datetime, wait: float) -> None:
    """One audit entry when a scope starts making callers wait (once per scope and reset period): by the system,
    about the user id being tried (for the address scope, the one tried when the address began to wait)."""
    target = f"user:{user_id}" if user_id else f"ip:{client_ip}"  # an API-key login names no user
    entry = store.audit_entry(THROTTLE_ACTOR, "login.throttled", target, now=now,
                              detail={"scope": scope, "client_ip": client_ip, "user_id": user_id or None,
                                      "wait_seconds": wait})
    entry.save(condition=entry.__class__.pk.does_not_exist())


_DUMMY_SALT = secrets.token_bytes(16)


def password_login(user_id: str, password: str, *, now: datetime, client_ip: str,
                   known_device: bool = False) -> tuple[Principal, str] | None:
    """The partner principal a partner user signs in as, with their user id; None for a wrong password, an
    unknown or inactive user, an inactive partner (all answered alike, at the same scrypt cost). Raises
    ``TooManyAttemptsError`` (429, nothing checked) when this address or user id must wait first; a success
    takes its attempt back and resets the (user, address) count."""
    user_id = user_id if 0 < len(user_id) <= 64 else ""
    taken = _take_attempt(user_id, client_ip, now, known_device=known_device)
    user = store.get_user(user_id) if user_id else None
    usable = (user is not None and user.role == Role.PARTNER and user.active == "yes" and user.password_hash
              and user.password_salt and len(password) <= PASSWORD_MAX)
    if not usable:
        _scrypt(password[:PASSWORD_MAX], _DUMMY_SALT)  # the same cost as a real check
        return None
    assert user is not None
    if not hmac.compare_digest(_scrypt(password, bytes.fromhex(user.password_salt)), user.password_hash):
        return None
    _give_back(taken)
    partner = store.get_partner(user.partner_id or "")
    if partner is None or partner.active != "yes":
        return None
    return Principal(kind=PrincipalKind.PARTNER, id=user.partner_id, role=Role.PARTNER), user_id
