"""Ownership (保有) API bodies: claim/assign/release/transfer/extend, follow-ups, and the holding view."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from schemas.common import Actor, LongText, ShortText, Strict, Timestamp
from schemas.registration import ErrorDetail, RegistrationStatus

HolderId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class HolderKind(StrEnum):
    USER = "user"
    PARTNER = "partner"


class Holder(Strict):
    """Who is to hold a registration, as in every answer (``{"kind", "id"}``); ``kind`` defaults to ``user``."""

    kind: HolderKind = HolderKind.USER
    id: HolderId


class AssignRequest(Strict):
    """A manager gives a pooled or archived registration to a holder (a fresh protection period)."""

    owner: Holder
    reason: ShortText | None = None


class TransferRequest(Strict):
    """A manager moves a held registration to another holder; its timers carry over unchanged."""

    owner: Holder = Field(description="The new holder")
    reason: ShortText


class BulkAssignRequest(Strict):
    """A manager hands many registrations to one holder (e.g. distributing the pool, or a territory).

    Pooled or archived ones are assigned (a fresh protection period); held ones are transferred (their
    timers carry over). Each is its own transaction: the answer says what happened to each.
    """

    registration_ids: list[HolderId] = Field(min_length=1, max_length=100)
    owner: Holder
    reason: ShortText


class BulkAssignOutcome(Strict):
    registration_id: str
    outcome: Literal["assigned", "transferred", "refused"]
    code: str | None = Field(default=None, description="Why it was refused (the code a single call answers)")
    message: str | None = None
    errors: list[ErrorDetail] = Field(default_factory=list, description="As a single call's answer: "
                                      "``limit_exceeded`` names the limit in ``loc`` (limit.role:rep)")
    ownership: Ownership | None = Field(default=None, description="The holding after the move")


class BulkAssignResult(Strict):
    results: list[BulkAssignOutcome]
    done: int = Field(description="How many moved")
    refused: int


class ReleaseRequest(Strict):
    reason: ShortText | None = None


class ExtendRequest(Strict):
    """Lengthen the protection period, within the configured total maximum."""

    days: int = Field(ge=1, le=3650)
    reason: ShortText


class FollowUpType(StrEnum):
    CALL = "call"
    VISIT = "visit"
    MEETING = "meeting"
    EMAIL = "email"
    DEMO = "demo"
    PROPOSAL = "proposal"
    OTHER = "other"


class FollowUpCreate(Strict):
    """A follow-up (跟进记录). Only the owner's follow-ups move the registration's activity clock."""

    type: FollowUpType
    note: LongText | None = None
    at: Timestamp | None = Field(default=None, description="When it happened; default now; a future time "
                                "counts as now")


class FollowUp(Strict):
    id: str
    registration_id: str
    type: FollowUpType
    note: str | None = None
    at: datetime
    author: Actor
    counted: bool = Field(description="True when it moved the activity clock (the author held the registration)")


class Ownership(Strict):
    """Who holds a registration and until when."""

    id: str = Field(description="The registration's id")
    status: RegistrationStatus
    version: int
    owner: Actor | None = Field(default=None, description="The holder; absent in the pool")
    in_pool: bool
    granted_at: datetime | None = None
    extension_days: int = 0
    last_activity_at: datetime | None = None
    due_at: datetime | None = Field(default=None, description="When the holding is reclaimed unless followed up")
    due_reason: Literal["protection_expired", "inactivity"] | None = None
    previous_owner: Actor | None = Field(default=None, description="Who held it before (for the claim "
                                         "cooldown)")
    cooldown_until: datetime | None = None
