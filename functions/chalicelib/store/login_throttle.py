"""Stored password-login attempt counts (``domain.login_throttle``), one item per scope in the sessions table.

Every count changes by a write conditioned on the count that was read (absent, or ``attempts`` and ``last_at``
as read): of two concurrent attempts one wins, the other reads again, so none is lost and none slips past.
"""
from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.login_throttle import Count, address_key
from chalicelib.store.models import LoginThrottleItem


def key(scope: str, *, user_id: str, ip: str) -> str:
    """The item of ``scope``; the address as ``address_key`` counts it (IPv6 by its /64)."""
    # The address goes first: it never contains "#", so a user id containing one cannot forge another key.
    ip = address_key(ip)
    return {"pair": f"throttle#pair#{ip}#{user_id}", "ip": f"throttle#ip#{ip}", "user": f"throttle#user#{user_id}"}[scope]


def read(pk: str) -> Count:
    try:
        item = LoginThrottleItem.get(pk, consistent_read=True)
    except LoginThrottleItem.DoesNotExist:
        return Count()
    return Count(int(item.attempts or 0), item.last_at, item.next_at)


def _as_read(read_count: Count):
    if read_count.last_at is None:
        return LoginThrottleItem.pk.does_not_exist() | LoginThrottleItem.last_at.does_not_exist()
    return (LoginThrottleItem.attempts == read_count.attempts) & (LoginThrottleItem.last_at == read_count.last_at)


def write(pk: str, *, read_count: Count, new: Count, keep_for: timedelta) -> bool:
    """Store ``new`` if the item is still as ``read_count`` says; False (nothing written) if another attempt
    changed it in between."""
    from pynamodb.exceptions import UpdateError

    assert new.last_at is not None
    actions = [LoginThrottleItem.attempts.set(new.attempts), LoginThrottleItem.last_at.set(new.last_at),
               LoginThrottleItem.expires_at.set(new.last_at + keep_for)]
    actions.append(LoginThrottleItem.next_at.set(new.next_at) if new.next_at is not None
                   else LoginThrottleItem.next_at.remove())
    try:
        LoginThrottleItem(pk).update(actions=actions, condition=_as_read(read_count))
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def give_back(pk: str, *, reset: bool) -> None:
    """A successful login: ``reset`` forgets the scope (this user from this address: whoever else guessed from
    here, the password was just proven from here), otherwise its attempt is taken back by an atomic ADD of -1
    (while above zero), which never loses a concurrent attempt's count."""
    from pynamodb.exceptions import UpdateError

    if reset:
        actions = [LoginThrottleItem.attempts.set(0), LoginThrottleItem.next_at.remove()]
        condition = LoginThrottleItem.pk.exists()
    else:
        actions = [LoginThrottleItem.attempts.add(-1)]
        condition = LoginThrottleItem.attempts > 0
    try:
        LoginThrottleItem(pk).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
