"""Notification outbox payloads: the caller's notifications (``GET /v1/notifications``) and the local
development inbox (``GET /v1/dev/inbox``).

Partners receive domain events at their callback as Standard Webhooks deliveries whose body is
``{"type", "timestamp", "data"}`` with ``data`` one of the ``domain_event.v2.json`` events.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Actor, Strict


class InboxEntry(Strict):
    """One message the ``local`` channel delivered (local mode only)."""

    id: str = Field(description="The delivery id (stable per event, recipient and channel)")
    event_id: str
    event_type: str
    recipient: Actor
    locale: str
    title: str
    text: str
    link: str | None = None
    sent_at: datetime


class InboxPage(Strict):
    items: list[InboxEntry]


class InboxQuery(BaseModel):
    """``GET /v1/dev/inbox`` query parameters."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=50, ge=1, le=200, description="At most this many messages, newest first")



class Notification(Strict):
    """One notification of the caller: one per event it was told of (whatever channels carried it)."""

    id: str = Field(description="Its id (the delivery id of the event's first channel to the caller)")
    event_id: str
    event_type: str
    locale: str
    title: str
    text: str
    link: str | None = None
    created_at: datetime
    read_at: datetime | None = Field(default=None, description="When the caller marked it read; null while unread")
    event: dict[str, Any] | None = Field(default=None, description="The event as the caller may see it: for a "
                                         "partner, redacted exactly as its callbacks are (domain.visibility)")


class NotificationPage(Strict):
    items: list[Notification]
    next_cursor: str | None = Field(default=None, description="Pass as ``cursor`` for the next page; null at the end")


class NotificationQuery(BaseModel):
    """``GET /v1/notifications`` query parameters."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=25, ge=1, le=100, description="At most this many, newest first")
    cursor: str | None = Field(default=None, max_length=1024, description="``next_cursor`` of the page before")
