"""Password-login throttling (pure rules): brute force made slow without letting a third party lock anyone out.

A login attempt is counted in three *scopes*, each with its own allowance (``settings``: ``DEALREG_LOGIN_*``):

- ``pair`` — this user id from this client address: a few attempts free, then each next attempt waits twice as
  long as the one before (``base``, ``2 × base`` … up to ``cap``). A successful login resets it.
- ``ip`` — this client address, whatever user ids it tries (one address guessing many users' passwords).
- ``user`` — this user id from every address: a much higher allowance (many addresses guessing one user's
  password). A browser that signed in as this user before (a valid device cookie, the console's "known place")
  is not held back by it, so attackers spread over many addresses cannot keep the user out either.

Attempts are counted before the password is checked (so concurrent guesses cannot slip past the count); a
successful login takes its attempt back from ``ip`` and ``user``. A scope forgets its count after ``reset``
seconds without an attempt. A client address is counted as :func:`address_key` gives it (IPv6 by its /64).
Nothing here locks a login: a refusal names the seconds to wait (HTTP 429,
``Retry-After``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

SCOPES = ("pair", "ip", "user")


@dataclass(frozen=True)
class Allowance:
    free: int  # attempts without any wait within the reset period
    base_seconds: float  # the wait after the first attempt past ``free``; it doubles with each further attempt
    cap_seconds: float  # the longest wait
    reset_seconds: float  # a scope with no attempt for this long starts again from zero


@dataclass(frozen=True)
class Count:
    """A scope's stored state: attempts counted, the last one's time, and when the next one is allowed."""

    attempts: int = 0
    last_at: datetime | None = None
    next_at: datetime | None = None


def address_key(client_ip: str) -> str:
    """The client address as the throttle counts it: an IPv6 client holds a whole /64 (SLAAC, privacy
    addresses), so IPv6 is counted by its /64 network; an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is the
    plain IPv4 address it carries. Anything unparsable (``unknown``) is kept as it is."""
    import ipaddress

    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


def wait_after(attempts: int, allowance: Allowance) -> float:
    """Seconds to wait after the ``attempts``-th attempt before the next one: 0 before the ``free``-th, then
    ``base``, ``2 × base``, ``4 × base`` … up to ``cap``."""
    from chalicelib.domain.backoff import backoff_seconds

    over = attempts - allowance.free
    if over < 0:
        return 0.0
    return backoff_seconds(over + 1, base=allowance.base_seconds, cap=allowance.cap_seconds)


def live(count: Count, now: datetime, allowance: Allowance) -> Count:
    """The count as it stands at ``now``: zero once ``reset_seconds`` passed since the last attempt."""
    if count.last_at is None or (now - count.last_at).total_seconds() >= allowance.reset_seconds:
        return Count()
    return count


def retry_after(count: Count, now: datetime, allowance: Allowance) -> int:
    """Whole seconds until this scope allows an attempt (0: now)."""
    current = live(count, now, allowance)
    if current.next_at is None or current.next_at <= now:
        return 0
    return max(1, math.ceil((current.next_at - now).total_seconds()))


def take(count: Count, now: datetime, allowance: Allowance) -> Count:
    """The state after one more attempt at ``now`` (call only when :func:`retry_after` is 0)."""
    attempts = live(count, now, allowance).attempts + 1
    return Count(attempts, now, now + timedelta(seconds=wait_after(attempts, allowance)))


def starts_throttling(count: Count, allowance: Allowance) -> bool:
    """True for the attempt that used the last free one: from now on the scope makes callers wait (the moment
    that is audited, once per scope and reset period)."""
    return count.attempts == allowance.free
