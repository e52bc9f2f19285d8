"""Console sessions: an API key is exchanged for a short-lived session key kept in a signed cookie.

The session key is an ordinary directory key record with an expiry (store.directory.issue_session_key), so
each request the console makes on the user's behalf is an API call authenticated by it: the API's own
``bearer_principal`` decides who the caller is, nothing here does. The cookie is
``<session key>.<expiry>.<HMAC-SHA256>``, HttpOnly, Secure, SameSite=Strict, scoped to the console path; the
signing key is a Secrets Manager secret (created on first use only by the local stand-in). The page never
contains the key: forms carry a CSRF token, an HMAC of the session key that cannot be turned back into it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib import clock, settings

COOKIE = "dr_session"
PRE_COOKIE = "dr_pre"  # before login: the double-submit value the login form's CSRF token is bound to
LANG_COOKIE = "dr_lang"
DEVICE_COOKIE = "dr_device"  # "a browser that signed in as this partner user before" (login throttle)
SESSION_SECONDS = 8 * 3600
DEVICE_SECONDS = 90 * 24 * 3600


class ConsoleNotConfigured(Exception):
    pass


def secret_name() -> str:
    return f"{settings.get().prefix}/console/session"


def signing_key() -> bytes:
    from chalicelib.store import aws

    value = aws.secret_json(secret_name())  # the template's ConsoleSessionSecret (the stand-in makes it too)
    if not isinstance(value, dict) or not value.get("key"):
        raise ConsoleNotConfigured(f"secret {secret_name()} is missing")
    return value["key"].encode()


def _mac(*parts: str) -> str:
    digest = hmac.new(signing_key(), "|".join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _same(expected: str, given: str) -> bool:
    """Constant-time equality of a MAC we computed and one a client sent. A value that is not ASCII (a garbled
    or forged cookie or field) is simply not equal (``compare_digest`` raises TypeError for such a str)."""
    return given.isascii() and hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))


@dataclass(frozen=True)
class Session:
    key: str  # the session key: a bearer credential for the API, never rendered
    expires: int

    @property
    def csrf(self) -> str:
        return _mac("csrf", self.key)


def start(api_key: str, *, client_ip: str) -> tuple[Session, object] | None:
    """Exchange an API key for a session; None when the key is unknown, revoked or its holder inactive. Raises
    ``TooManyAttemptsError`` (nothing looked up) while the client address must wait: a key login is counted in the
    address's throttle scope like a password login, and a success takes its attempt back."""
    from chalicelib.services import directory as admin
    from chalicelib.store import directory

    now = clock.now()
    taken = admin.key_login_attempt(client_ip, now=now)
    principal = directory.principal_for_key(api_key)
    if principal is None:
        return None
    admin.key_login_succeeded(taken)
    expires_at = now + timedelta(seconds=SESSION_SECONDS)
    key = directory.issue_session_key(principal, now=now, expires_at=expires_at)
    return Session(key, int(expires_at.timestamp())), principal


def start_password(user_id: str, password: str, *, client_ip: str,
                   device: str | None = None) -> tuple[Session, object] | None:
    """A partner user's password login (issue 18): the same session, for their partner, tied to the person
    (deactivating either ends it). None for a wrong password, an unknown or inactive login; raises
    ``TooManyAttemptsError`` when this address or user id must wait. ``device`` is the browser's device
    cookie: signed for this user, it exempts the login from the per-user throttle scope."""
    from chalicelib.services import directory as admin
    from chalicelib.store import directory

    now = clock.now()
    found = admin.password_login(user_id, password, now=now, client_ip=client_ip,
                                 known_device=device_user(device) == user_id)
    if found is None:
        return None
    principal, person = found
    expires_at = now + timedelta(seconds=SESSION_SECONDS)
    key = directory.issue_session_key(principal, now=now, expires_at=expires_at, user_id=person)
    return Session(key, int(expires_at.timestamp())), principal


def device_value(user_id: str) -> str:
    """A device cookie (OWASP's "device cookie" against online guessing): this browser signed in as
    ``user_id``; ``<user id base64>.<nonce>.<HMAC>``, set after a successful password login."""
    who = base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("=")
    nonce = secrets.token_urlsafe(12)
    return f"{who}.{nonce}.{_mac('device', who, nonce)}"


def device_user(value: str | None) -> str | None:
    """The user id a device cookie was issued for, if its signature holds."""
    if not value or not value.isascii() or value.count(".") != 2:
        return None
    who, nonce, mac = value.split(".")
    if not _same(_mac("device", who, nonce), mac):
        return None
    try:
        return base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def cookie_value(s: Session) -> str:
    return f"{s.key}.{s.expires}.{_mac('session', s.key, str(s.expires))}"


def from_cookie(value: str | None, *, now: datetime | None = None) -> Session | None:
    """The session a cookie names, if its signature holds and it has not expired (the key record is
    checked again by the API on every call, so logout and deactivation take effect at once)."""
    if not value or not value.isascii() or value.count(".") != 2:
        return None
    key, expires, mac = value.split(".")
    if not expires.isdigit() or not _same(_mac("session", key, expires), mac):
        return None
    if int(expires) <= int((now or clock.now()).timestamp()):
        return None
    return Session(key, int(expires))


def end(s: Session) -> None:
    from chalicelib.store import directory

    directory.revoke_session_key(s.key)


def pre_token(pre: str) -> str:
    return _mac("login", pre)


def new_pre() -> str:
    return secrets.token_urlsafe(24)


def check_csrf(expected: str, given: str | None) -> bool:
    return bool(given) and _same(expected, given or "")


def set_cookie(name: str, value: str, *, path: str, max_age: int) -> str:
    return f"{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"


def parse_cookies(header: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name not in out:
            out[name] = value
    return out
