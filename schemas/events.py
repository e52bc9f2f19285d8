"""The domain event catalogue: one pydantic model per event type.

Events are derived from the registration's audit trail by the stream consumer (one event per new audit
entry), published to one SNS topic with a ``type`` message attribute, and fanned out to one SQS queue per
downstream handler through subscription filters. ``id`` is stable for a given audit entry, so a replayed
stream record produces the same event id and consumers can deduplicate on it.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Union

from pydantic import Field, TypeAdapter

from schemas.common import Actor, Strict
from schemas.registration import RegistrationStatus, Source


class RegistrationSnapshot(Strict):
    """What most consumers need to know about the registration without reading it."""

    id: str
    status: RegistrationStatus
    source: Source
    submitter: Actor
    partner_id: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    customer_key: str
    customer_name: str
    project_title: str
    expected_amount: Decimal
    currency: str
    version: int


class EventBase(Strict):
    """What every domain event carries. ``id`` is stable for one fact, so consumers can deduplicate."""

    id: str
    occurred_at: datetime
    subject: str = Field(description="The id of the entity the event is about")
    actor: Actor


class _RegistrationEvent(EventBase):
    """A registration's audit entry, announced. ``id`` is '<registration id>:<audit seq>'."""

    registration: RegistrationSnapshot
    from_status: RegistrationStatus | None = None
    to_status: RegistrationStatus | None = None
    reason: str | None = None


class RegistrationSubmitted(_RegistrationEvent):
    type: Literal["registration.submitted"] = "registration.submitted"


class RegistrationUpdated(_RegistrationEvent):
    type: Literal["registration.updated"] = "registration.updated"


class RegistrationReviewRequested(_RegistrationEvent):
    type: Literal["registration.review_requested"] = "registration.review_requested"


class RegistrationApproved(_RegistrationEvent):
    type: Literal["registration.approved"] = "registration.approved"


class RegistrationRejected(_RegistrationEvent):
    type: Literal["registration.rejected"] = "registration.rejected"


class RegistrationWithdrawn(_RegistrationEvent):
    type: Literal["registration.withdrawn"] = "registration.withdrawn"


class RegistrationWon(_RegistrationEvent):
    type: Literal["registration.won"] = "registration.won"


class RegistrationLost(_RegistrationEvent):
    type: Literal["registration.lost"] = "registration.lost"


class RegistrationExpired(_RegistrationEvent):
    type: Literal["registration.expired"] = "registration.expired"


class RegistrationReclaimed(_RegistrationEvent):
    type: Literal["registration.reclaimed"] = "registration.reclaimed"


DomainEvent = Annotated[
    Union[
        RegistrationSubmitted,
        RegistrationUpdated,
        RegistrationReviewRequested,
        RegistrationApproved,
        RegistrationRejected,
        RegistrationWithdrawn,
        RegistrationWon,
        RegistrationLost,
        RegistrationExpired,
        RegistrationReclaimed,
    ],
    Field(discriminator="type"),
]
"""Any domain event; parse with ``EVENT_ADAPTER.validate_json(body)``."""

EVENT_ADAPTER: TypeAdapter[DomainEvent] = TypeAdapter(DomainEvent)

def _concrete(cls: type[EventBase]) -> list[type[EventBase]]:
    out = []
    for sub in cls.__subclasses__():
        if "type" in sub.model_fields:
            out.append(sub)
        out.extend(_concrete(sub))
    return out


EVENT_TYPES: dict[str, type[EventBase]] = {model.model_fields["type"].default: model for model in _concrete(EventBase)}
"""Every event type of the catalogue. A new event: subclass EventBase with a ``type`` Literal and add it
to the ``DomainEvent`` union above."""
