"""Who may see and list which registrations. Pure."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from chalicelib.domain.errors import DealregError
from schemas.common import Actor, PrincipalKind
from schemas.registration import Registration


class Role(StrEnum):
    PARTNER = "partner"
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a partner system or a user."""

    kind: PrincipalKind
    id: str
    role: Role
    team_id: str | None = None
    managed_team_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor(self) -> Actor:
        return Actor(kind=self.kind, id=self.id)


class ListForbiddenError(DealregError):
    status = 403
    code = "forbidden"


def can_read(p: Principal, reg: Registration) -> bool:
    if p.role is Role.ADMIN:
        return True
    if p.role is Role.PARTNER:
        return reg.partner_id == p.id
    if reg.submitter.id == p.id or reg.owner_id == p.id:
        return True
    return p.role is Role.MANAGER and reg.team_id is not None and reg.team_id in p.managed_team_ids


@dataclass(frozen=True)
class ListPlan:
    """Which index to query with which hash key; the caller applies ``status`` as a filter."""

    index: str
    key: str


def list_plan(p: Principal, *, owner: str | None, status: str | None, team: str | None) -> ListPlan:
    """Choose an index that returns only what ``p`` may see, so isolation never depends on a filter."""
    if p.role is Role.PARTNER:
        if owner or team:
            raise ListForbiddenError("partners list their own registrations only")
        return ListPlan("by_submitter", p.id)
    if owner:
        if p.role is Role.ADMIN or owner == p.id:
            return ListPlan("by_owner", owner)
        raise ListForbiddenError("you may list only your own holdings")
    if team:
        if p.role is Role.ADMIN or team in p.managed_team_ids:
            return ListPlan("by_team", team)
        raise ListForbiddenError("you do not manage this team")
    if p.role is Role.ADMIN:  # everything: by status when asked, else the whole table
        return ListPlan("by_status", status) if status else ListPlan("all", "")
    if p.role is Role.MANAGER and len(p.managed_team_ids) == 1:
        return ListPlan("by_team", next(iter(p.managed_team_ids)))
    return ListPlan("by_submitter", p.id)
