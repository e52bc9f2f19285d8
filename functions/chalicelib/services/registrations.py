"""Reading one registration on a caller's behalf: what the caller may not see is answered exactly like what does
not exist (``NotFoundError``, 404), in one place for every route that names a registration. And the one check of
who may open a new one (:func:`ensure_team_open`: not a member of a deactivated team), for every submission path."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import DealregError, NotFoundError

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

class TeamInactiveError(DealregError):
    """The submitter belongs to a deactivated team: it opens no new registrations (as an inactive partner group's
    users cannot in Salesforce PRM); what its members already hold stays theirs until handed over."""

    status = 403
    code = "team_inactive"
    errors = [{"loc": "submitter.team_id", "type": "team_inactive"}]


def ensure_team_open(reg: Any, *, replay: Callable[[], dict | None] = lambda: None) -> dict | None:
    """None when ``reg``'s team (the submitter's, or a partner's channel team) takes new registrations. For a
    deactivated team: the first answer when this request is a retry of one accepted before (``replay()``: the
    idempotency key's claim; retries keep their meaning), else ``TeamInactiveError`` (403, nothing stored).
    One read of the team per warm process and ``partner_cache_seconds`` (``store.directory.cached_team``)."""
    from chalicelib.store import directory

    if not reg.team_id:
        return None
    team = directory.cached_team(reg.team_id)
    if not directory.is_deactivated(team):
        return None
    first = replay()
    if first is not None:
        return first
    raise TeamInactiveError(f"团队 {reg.team_id} 已停用，其成员不能提交新的报备。 / team {reg.team_id} is deactivated: "
                            "its members cannot submit new registrations.")
