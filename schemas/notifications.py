"""Notification outbox payloads: the local development inbox (``GET /v1/dev/inbox``).

Partners receive domain events at their callback as Standard Webhooks deliveries whose body is
``{"type", "timestamp", "data"}`` with ``data`` one of the ``domain_event.v2.json`` events.
"""
from __future__ import annotations

from datetime import datetime

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

