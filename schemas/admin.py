"""Admin payloads (issue 18): the directory, parked notification deliveries and the rules in force."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from schemas.common import Actor, Strict


class AdminTeam(Strict):
    id: str
    name: str
    territory: str | None = None
    manager_ids: list[str] = Field(default_factory=list)


class AdminUser(Strict):
    id: str
    name: str
    role: str
    team_id: str | None = None
    manager_id: str | None = None
    active: bool


class AdminPartner(Strict):
    id: str
    name: str
    tier: str | None = None
    team_id: str | None = None
    active: bool
    callback_url: bool = Field(description="Whether a callback URL is configured (the URL itself is not shown)")


class AdminDirectory(Strict):
    """``GET /v1/admin/directory``: teams, users and partners (never keys or secrets)."""

    teams: list[AdminTeam]
    users: list[AdminUser]
    partners: list[AdminPartner]


class ParkedDelivery(Strict):
    id: str
    event_type: str
    recipient: Actor = Field(description="Who the delivery is for")
    channel: str
    attempts: int
    last_error: str | None = Field(default=None, description="A reason code, never a payload or a secret")
    parked_at: datetime | None = None
    title: str


class ParkedPage(Strict):
    """``GET /v1/admin/notifications/parked``: deliveries whose retries ran out, oldest first (up to 100)."""

    items: list[ParkedDelivery]


class Replayed(Strict):
    id: str
    state: str = "pending"


class RulesDocument(Strict):
    name: str = Field(description="ownership | dedup | routing | workflow | pipeline")
    setting: str = Field(description="The environment setting that replaces the defaults")
    configured: bool = Field(description="False when the built-in defaults are in force")
    schema_file: str | None = Field(default=None, description="Its JSON Schema under schemas/json/, when published")
    document: dict[str, Any] = Field(description="The rules in force, as validated")


class AdminRules(Strict):
    """``GET /v1/admin/rules``: every rules document in force, read-only."""

    rules: list[RulesDocument]
