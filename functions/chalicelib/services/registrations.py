"""Reading one registration on a caller's behalf: what the caller may not see is answered exactly like what does
not exist (``NotFoundError``, 404), in one place for every route that names a registration. And the one check of
who may open a new one (:func:`ensure_team_open`: not a member of a deactivated team, judged by the caller's current
team), for every submission path."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import NotFoundError, TeamInactiveError

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


# --- who may open a new registration ------------------------------------------------------------------------------

def current_team_id(principal: Any) -> str | None:
    """The caller's team as it is *now*: a user's (their record is read with their key, every request), a partner's
    channel team (``store.directory.cached_partner``) — never the team a registration was stamped with when it was
    submitted (a rep may have moved since)."""
    from chalicelib.domain.access import Role
    from chalicelib.store import directory

    if principal.role is Role.PARTNER:
        partner = directory.cached_partner(principal.id)
        return partner.team_id if partner is not None else None
    return principal.team_id


def ensure_team_open(team_id: str | None, *, replay: Callable[[], dict | None] = lambda: None,
                     loc: str = "submitter.team_id", fresh: bool = False) -> dict | None:
    """The one check of who may open or take something new — a registration (both intake routes, a tender turned
    into one, a rejected one sent back to review) or a pooled one (a claim): None when ``team_id``, the caller's
    *current* team (:func:`current_team_id`; for a new registration the team it is stamped with now), takes new
    ones. For a deactivated team: the first answer when this request is a retry of one accepted before
    (``replay()``: the idempotency key's claim; retries keep their meaning), else ``TeamInactiveError`` (403 at
    ``loc``, nothing stored). The intake routes (the hot path) read the team once per warm process and
    ``partner_cache_seconds`` (``store.directory.cached_team``: a deactivation made in another container is seen
    within that time); the others (``fresh``: a claim, a resubmit, a tender turned into a registration) read it
    every time, so they see a deactivation at once."""
    from chalicelib.store import directory

    team = (directory.get_team(team_id) if fresh else directory.cached_team(team_id)) if team_id else None
    if not directory.is_deactivated(team):
        return None
    first = replay()
    if first is not None:
        return first
    raise TeamInactiveError(loc)
