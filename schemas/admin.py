"""Admin payloads (issue 18): the directory, parked notification deliveries and the rules in force."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from schemas.common import Actor, Ref, ShortText, Strict, _clean_line


class AdminTeam(Strict):
    id: str
    name: str
    territory: str | None = None
    manager_ids: list[str] = Field(default_factory=list)
    active: bool = Field(default=True, description="A deactivated team takes no new members, holdings or reviews")


class AdminUser(Strict):
    id: str
    name: str
    role: str
    team_id: str | None = None
    manager_id: str | None = None
    partner_id: str | None = Field(default=None, description="A partner user's partner (role partner)")
    active: bool
    has_password: bool = Field(default=False, description="A partner user has set their console password")


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


class SkippedDelivery(Strict):
    id: str
    event_type: str
    recipient: Actor = Field(description="Who the delivery was for")
    channel: str
    reason: str | None = Field(default=None, description="partner_inactive | partner_unknown | user_inactive")
    skipped_at: datetime | None = None
    title: str


class SkippedPage(Strict):
    """``GET /v1/admin/notifications/skipped``: deliveries not sent because their recipient was deactivated,
    newest first (up to 100). Final: never retried and not replayable (after a reactivation, new events are
    delivered again)."""

    items: list[SkippedDelivery]


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


# --- directory writes (issue 18) ------------------------------------------------------------------------------

DirectoryId = Field(default=None, min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                    description="Lower-case letters, digits, '-' and '_'; made from the name when absent")
Url = Annotated[str, BeforeValidator(_clean_line), StringConstraints(strip_whitespace=True, min_length=1,
                                                                     max_length=2048)]


class TeamCreate(Strict):
    """``POST /v1/admin/teams``."""

    id: str | None = DirectoryId
    name: ShortText
    territory: ShortText | None = None


class TeamUpdate(Strict):
    """``PATCH /v1/admin/teams/{team_id}``: rename, change the territory, add or remove one manager (at least one)."""

    name: ShortText | None = None
    territory: ShortText | None = None
    add_manager: Ref | None = Field(default=None, description="An existing user id to make a manager of the team")
    remove_manager: Ref | None = Field(default=None, description="A user id no longer to manage the team")

    @model_validator(mode="after")
    def _something(self) -> TeamUpdate:
        if self.name is None and self.territory is None and self.add_manager is None and self.remove_manager is None:
            raise ValueError("name, territory, add_manager or remove_manager is needed")
        return self


class UserCreate(Strict):
    """``POST /v1/admin/users``: a rep, manager or admin (answered with an API key once), or a partner user
    (role ``partner`` with ``partner_id``: answered with a one-time code to set a console password)."""

    id: str | None = DirectoryId
    name: ShortText
    role: Literal["rep", "manager", "admin", "partner"]
    team_id: Ref | None = Field(default=None, description="Staff: their team (must exist)")
    email: Ref | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    manager_id: Ref | None = Field(default=None, description="Staff: their manager (a user id)")
    partner_id: Ref | None = Field(default=None, description="Partner users: their partner")

    @model_validator(mode="after")
    def _partner_fields(self) -> UserCreate:
        if self.role == "partner" and not self.partner_id:
            raise ValueError("a partner user needs partner_id")
        if self.role != "partner" and self.partner_id:
            raise ValueError("partner_id is only for role partner")
        if self.role == "partner" and (self.team_id or self.manager_id):
            raise ValueError("a partner user has no team or manager")
        return self


class PartnerCreate(Strict):
    """``POST /v1/admin/partners``: answered with its ``whsec_`` signing secret and API key once."""

    id: str | None = DirectoryId
    name: ShortText
    tier: Ref = "registered"
    team_id: Ref | None = Field(default=None, description="Its channel team (must exist)")
    callback_url: Url | None = Field(default=None, description="https; checked like any channel URL")


class SecretRotate(Strict):
    """``POST /v1/admin/partners/{partner_id}/rotate-secret``."""

    grace_hours: float = Field(default=168.0, ge=0, le=720,
                               description="How long the previous secret stays valid (0: refused at once)")


class TeamCreated(Strict):
    id: str
    replayed: bool = Field(default=False, description="True when an Idempotency-Key retry found it already made")


class UserCreated(Strict):
    id: str
    role: str
    replayed: bool = Field(default=False, description="True for an Idempotency-Key retry: the key or code is "
                                                      "not shown again (rotate it, or issue a new code)")
    api_key: str | None = Field(default=None, description="Staff: shown once, only its hash is stored")
    login_code: str | None = Field(default=None, description="Partner users: one-time code to set a password")
    login_code_expires_at: datetime | None = None


class PartnerCreated(Strict):
    id: str
    replayed: bool = False
    webhook_secret: str | None = Field(default=None, description="Shown once (absent on a replay)")
    api_key: str | None = Field(default=None, description="Shown once (absent on a replay)")


class ActiveState(Strict):
    id: str
    active: bool
    changed: bool = Field(description="False when it already was so (nothing written)")


class KeyRotated(Strict):
    id: str
    replayed: bool = Field(default=False, description="True: a retry with the same Idempotency-Key; nothing issued")
    api_key: str | None = Field(default=None, description="Shown once; every earlier key of the user is revoked "
                                                           "(absent on a replay)")


class SecretRotated(Strict):
    id: str
    replayed: bool = Field(default=False, description="True: a retry with the same Idempotency-Key; nothing issued")
    webhook_secret: str | None = Field(default=None, description="Shown once (absent on a replay)")
    previous_valid_until: datetime | None = Field(default=None, description="The previous secret is accepted "
                                                                            "until then (null: not at all)")


class LoginCode(Strict):
    id: str
    login_code: str = Field(description="Shown once; the partner user sets a password with it at "
                                        "/console/password")
    expires_at: datetime


class DirectoryObject(Strict):
    kind: Literal["user", "partner", "team"]
    id: str


class AuditEntry(Strict):
    at: datetime
    actor: Actor
    action: str
    object: DirectoryObject
    detail: dict[str, Any] = Field(default_factory=dict, description="What changed (never a key or secret)")


class DirectoryAudit(Strict):
    """``GET /v1/admin/audit``: the newest directory changes first (up to 100)."""

    items: list[AuditEntry]
