"""Reading one registration on a caller's behalf: what the caller may not see is answered exactly like what does
not exist (``NotFoundError``, 404), in one place for every route that names a registration."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import NotFoundError

NO_SUCH = "no such registration"


def readable(reg_id: str, principal: Any, *, also_visible_to: Callable[[Any], bool] | None = None) -> Any:
    """The registration if ``principal`` may read it (``domain.access.can_read``, or ``also_visible_to``)."""
    from chalicelib.domain.access import can_read
    from chalicelib.store import registrations

    reg = registrations.get(reg_id)
    if reg is None or not (can_read(principal, reg) or (also_visible_to is not None and also_visible_to(reg))):
        raise NotFoundError(NO_SUCH)
    return reg


def with_holding(reg_id: str) -> tuple[Any, Any]:
    """The registration and its ownership facts from one consistent read (no access check: the caller's)."""
    from chalicelib.store.models import RegistrationItem
    from chalicelib.store.ownership import holding_from_item
    from chalicelib.store.registrations import from_item

    try:
        item = RegistrationItem.get(reg_id, consistent_read=True)
    except RegistrationItem.DoesNotExist:
        raise NotFoundError(NO_SUCH) from None
    return from_item(item), holding_from_item(item)


def readable_with_holding(reg_id: str, principal: Any) -> tuple[Any, Any]:
    """``with_holding`` for a caller who may read the registration, else ``NotFoundError``."""
    from chalicelib.domain.access import can_read

    reg, h = with_holding(reg_id)
    if not can_read(principal, reg):
        raise NotFoundError(NO_SUCH)
    return reg, h
