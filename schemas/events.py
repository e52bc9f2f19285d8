"""The domain event catalogue: one pydantic model per event type (``schemas/json/domain_event.v2.json``).

Events are derived from the registration's audit trail by the stream consumer (one event per new audit
entry), published to one SNS topic with a ``type`` message attribute, and fanned out to one SQS queue per
downstream handler through subscription filters. ``id`` is stable for a given audit entry, so a replayed
stream record produces the same event id and consumers can deduplicate on it.

Version 2 (issue 12 item 16) follows the API's one shape: every party (``owner``, ``previous_owner``,
``holder``, ``recipients``, ``actor``, ``submitter``) is ``schemas.common.Actor`` ``{"kind", "id"}``; an
object's own id is ``id``; a ``<noun>_id`` is a reference to another object. Version 1 had ``owner_id``,
``previous_owner_id``, ``holder_id`` and ``"<kind>:<id>"`` strings.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, TypeAdapter, model_validator

from schemas.common import Actor, Number, Strict
from schemas.company import Company
from schemas.registration import RegistrationStatus, SalesStage, Source


def _v1_party(ident: object, *, partner_id: object = None) -> object:
    """A version 1 flat owner id as ``{kind, id}``: v1 consumers read a partner owner as the registration's own
    partner (a partner holds its own registration under its id), everyone else as a user."""
    if not isinstance(ident, str) or not ident:
        return None
    return {"kind": "partner" if ident == partner_id else "user", "id": ident}


def _v1_ref(ref: object) -> object:
    """A version 1 ``"<kind>:<id>"`` string as ``{kind, id}``; anything else is left to validation."""
    if isinstance(ref, str) and ":" in ref:
        kind, _, ident = ref.partition(":")
        return {"kind": kind, "id": ident}
    return ref


class RegistrationSnapshot(Strict):
    """What most consumers need to know about the registration without reading it."""

    @model_validator(mode="before")
    @classmethod
    def _from_v1(cls, data: object) -> object:
        # A message published before version 2 (in a queue or a DLQ during a deploy) still reads.
        if isinstance(data, dict) and "owner_id" in data:
            owner = _v1_party(data["owner_id"], partner_id=data.get("partner_id"))
            data = {k: v for k, v in data.items() if k != "owner_id"}
            data.setdefault("owner", owner)
        return data

    id: str
    status: RegistrationStatus
    source: Source
    submitter: Actor
    partner_id: str | None = Field(default=None, description="The partner the registration came through")
    owner: Actor | None = Field(default=None, description="Who holds it (null while nobody does)")
    team_id: str | None = None
    customer_key: str
    customer_name: str
    project_title: str
    expected_amount: Number
    currency: str
    version: int
    attribute_score: int | None = Field(None, ge=0, le=100, description="the attribute score (属性评分, issue 19) "
                                        "under the rules in force when the event was derived")
    model_probability: float | None = Field(None, ge=0, le=1, description="the published model's win probability "
                                            "(智能评分, issue 19) when the event was derived; null before a model "
                                            "is published (and on events not derived from the audit trail)")
    model_version: str | None = Field(None, description="the model version behind model_probability")


class EventBase(Strict):
    """What every domain event carries. ``id`` is stable for one fact, so consumers can deduplicate."""

    @model_validator(mode="before")
    @classmethod
    def _from_v1(cls, data: object) -> object:
        # Version 1 messages still in a queue (or parked in a DLQ) at a deploy read as version 2: the
        # "<kind>:<id>" strings and the flat previous_owner_id / holder_id become {kind, id}.
        if not isinstance(data, dict) or not {"owner", "recipients", "previous_owner_id", "holder_id"} & set(data):
            return data
        data = dict(data)
        if isinstance(data.get("owner"), str):
            data["owner"] = _v1_ref(data["owner"])
        if isinstance(data.get("recipients"), list):
            data["recipients"] = [_v1_ref(r) for r in data["recipients"]]
        partner_id = (data.get("registration") or {}).get("partner_id") if isinstance(
            data.get("registration"), dict) else None
        if "previous_owner_id" in data:
            data.setdefault("previous_owner", _v1_party(data.pop("previous_owner_id"), partner_id=partner_id))
        if "holder_id" in data:
            holder = data.pop("holder_id")
            # v1 told a partner holder through ``recipients``; a user holder was never among them
            partners = {r.get("id") for r in data.get("recipients") or [] if isinstance(r, dict)
                        and r.get("kind") == "partner"}
            data.setdefault("holder", {"kind": "partner" if holder in partners else "user", "id": holder}
                            if holder else None)
        return data

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
    reason_shared: bool | None = Field(default=None, description="Staff marked the reason for the partner")


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


class RegistrationStageChanged(_RegistrationEvent):
    """The sales stage of an approved registration moved (pipeline board, issue 18)."""

    type: Literal["registration.stage_changed"] = "registration.stage_changed"
    from_stage: SalesStage
    to_stage: SalesStage


class RegistrationClaimed(_RegistrationEvent):
    """A rep took the registration from the pool (公海); ``registration.owner`` is the new owner."""

    type: Literal["registration.claimed"] = "registration.claimed"


class RegistrationAssigned(_RegistrationEvent):
    """A manager gave a pooled or archived registration to ``registration.owner``."""

    type: Literal["registration.assigned"] = "registration.assigned"


class RegistrationTransferred(_RegistrationEvent):
    """A manager (or offboarding, 离职交接) moved a held registration to another holder; the timers carry over."""

    type: Literal["registration.transferred"] = "registration.transferred"
    previous_owner: Actor | None = Field(default=None, description="Who held it before the transfer")


class RegistrationExtended(_RegistrationEvent):
    """The protection period was extended (``reason`` says by how much)."""

    type: Literal["registration.extended"] = "registration.extended"


class RegistrationEscalated(_RegistrationEvent):
    """One approval level of several was recorded (audit action ``approval_recorded``); the next level's
    approvers decide. ``reason`` says which level ("level 1 of 2 approved: ...")."""

    type: Literal["registration.escalated"] = "registration.escalated"


class RegistrationDedupChecked(EventBase):
    """The dedup handler stored (or re-judged) its verdict on one version of a registration; the workflow's
    auto-checks run on this, never before. ``id`` is '<registration id>:dedup:<version>'."""

    type: Literal["registration.dedup_checked"] = "registration.dedup_checked"
    registration: RegistrationSnapshot
    outcome: str = Field(description="The verdict's outcome: clear | may_claim | duplicate | conflict")
    action: str | None = Field(default=None, description="The matching rule's action: block | flag | "
                               "allow_with_alert")
    rule: str | None = None


class _OwnershipNotice(EventBase):
    """An ownership timer fact for the holder and their managers (issue 4). ``subject`` is the registration."""

    owner: Actor = Field(description="The holder")
    team_id: str | None = None
    notify: list[str] = Field(default_factory=list, description="User ids to tell: the owner (if a user) "
                              "and the managers of the registration's team")
    due_at: datetime
    reason: str = Field(description="protection_expired | inactivity | over_limit")


class OwnershipReclaimed(_OwnershipNotice):
    """A holding was taken back by the scheduled reclaim. ``id`` is '<registration id>:<audit seq>:reclaimed'."""

    type: Literal["ownership.reclaimed"] = "ownership.reclaimed"
    to_status: RegistrationStatus


class OwnershipWarning(_OwnershipNotice):
    """A holding will be reclaimed in ``days_left`` days unless followed up (or extended).
    ``id`` is '<registration id>:warn:<due_at>:<days_left>'."""

    type: Literal["ownership.warning"] = "ownership.warning"
    days_left: int


class OwnershipOverLimit(EventBase):
    """A holder holds more than their limit allows (after the limit was lowered). ``owner`` is the holder;
    ``subject`` is the holder's counter key ('user:wang'); ``id`` is 'over_limit:<that key>:<day>', so the
    daily job reports once a day.
    With ``over_limit = "reclaim"`` the least recently active excess holdings were taken back (``reclaimed``)."""

    type: Literal["ownership.over_limit"] = "ownership.over_limit"
    owner: Actor = Field(description="The holder above its limit")
    team_id: str | None = Field(default=None, description="The holder's team (a partner's channel team)")
    limit: str = Field(description="The limit's name, e.g. 'role:rep' or 'holder:user:wang'")
    value: int = Field(description="The limit")
    held: int
    excess: list[str] = Field(description="Registrations above the limit, least recently active first")
    reclaimed: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list, description="The managers of the holder's team (user ids)")


class CustomerReviewFlagged(EventBase):
    """A registry says a registration's customer is dissolved, revoked (注销/吊销) or its LEI lapsed/retired
    (issue 7). ``subject`` is the customer key; ``id`` is '<customer key>:review:<source>:<source id>:<status>'."""

    type: Literal["customer.review_flagged"] = "customer.review_flagged"
    registration_id: str = Field(description="The registration whose enrichment found it")
    registration: RegistrationSnapshot | None = Field(default=None, description="That registration: its "
                                                      "submitter, owner and team's managers are told")
    company: Company
    reason: str = Field(description="The normalised status: dissolved | revoked | lapsed | retired")



class RegistrationConflictDetected(EventBase):
    """The dedup handler found that another owner holds this registration's customer (撞单, issue 3).
    ``subject`` is the new registration; ``id`` is '<registration id>:conflict'. For the holder and their
    managers (``notify``), so they can review with the evidence."""

    type: Literal["registration.conflict_detected"] = "registration.conflict_detected"
    registration: RegistrationSnapshot
    conflict_with: list[str] = Field(description="Ids of the holder's overlapping approved registrations")
    holder: Actor | None = Field(default=None, description="The holder (the owner of the first of them)")
    notify: list[str] = Field(default_factory=list, description="The holder (a user) and their managers, the "
                              "holder partner's channel team managers, the new submitter's managers (user ids)")
    recipients: list[Actor] = Field(default_factory=list, description="The holder partner, when a partner "
                                    "holds it (its callback gets a redacted copy: domain.visibility)")
    rule: str | None = Field(default=None, description="The matching rule that tied the customers")


class RegistrationReviewOverdue(EventBase):
    """A pending registration's current review level has waited longer than the review SLA (issue 5).

    ``subject`` is the registration; ``id`` is '<registration id>:overdue:<audit seq the wait started at>:
    <period>', one per wait and whole SLA period, so a rerun of the reminder schedule repeats nothing."""

    type: Literal["registration.review_overdue"] = "registration.review_overdue"
    registration: RegistrationSnapshot
    level: int = Field(description="The review level waiting (1, or 2 for a second-level approval)")
    waiting_since: datetime = Field(description="When this level started waiting")
    period: int = Field(description="Whole SLA periods overrun (1 = first reminder)")
    sla_hours: int
    approvers: list[str] = Field(default_factory=list, description="User ids who may decide this level")
    notify: list[str] = Field(default_factory=list, description="The approvers' managers (user ids)")


class TenderSummary(Strict):
    """What an alert needs to show about a tender (the full record is at ``GET /v1/tenders/{id}``)."""

    id: str
    title: str
    status: str
    source: str
    buyer: str | None = None
    url: str | None = None
    published: datetime | None = None
    deadline: datetime | None = None
    value: Number | None = None
    currency: str | None = None


class ScoringModelTraining(EventBase):
    """The daily model check (issue 19) found training due and, when it could, trained with the pure-Python
    trainer: ``outcome`` is ``due`` (not trained), ``published`` (the new version beat the current one on the
    same holdout) or ``refused`` (it did not, or too few closed registrations: ``detail``). For the active admins
    (``notify``); ``id`` is 'scoring:model_training:<day>', so the job reports once a day."""

    type: Literal["scoring.model_training"] = "scoring.model_training"
    outcome: Literal["due", "published", "refused"]
    reasons: list[str] = Field(description="Why training was due")
    version: str | None = Field(default=None, description="The version trained by this run")
    current: str | None = Field(default=None, description="The version published before this run")
    detail: str | None = Field(default=None, description="Why the new version was not published")
    auc: float | None = Field(default=None, description="The new version's holdout ROC AUC")
    brier: float | None = Field(default=None, description="The new version's holdout Brier score")
    current_auc: float | None = Field(default=None, description="The current version's ROC AUC on that holdout")
    notify: list[str] = Field(default_factory=list, description="The active admins (user ids)")


class TenderAlert(EventBase):
    """A new tender matched a rep's subscriptions. ``id`` is '<rep id>#<tender id>': one per rep per tender.

    ``subject`` is the tender id. Delivered by the notification outbox when it exists.
    """

    type: Literal["tender.alert"] = "tender.alert"
    rep_id: str
    subscription_ids: list[str]
    delivery: Literal["immediate", "daily_digest"]
    tender: TenderSummary


DomainEvent = Annotated[
    RegistrationSubmitted | RegistrationUpdated | RegistrationReviewRequested | RegistrationApproved | RegistrationRejected | RegistrationWithdrawn | RegistrationWon | RegistrationLost | RegistrationExpired | RegistrationReclaimed | RegistrationClaimed | RegistrationAssigned | RegistrationTransferred | RegistrationExtended | OwnershipReclaimed | OwnershipWarning | OwnershipOverLimit | CustomerReviewFlagged | RegistrationConflictDetected | TenderAlert | RegistrationReviewOverdue | RegistrationEscalated | RegistrationDedupChecked | RegistrationStageChanged | ScoringModelTraining,
    Field(discriminator="type"),
]
"""Any domain event; parse a message body with :func:`parse_event` (or ``EVENT_ADAPTER.validate_json(body)``)."""

# Built on first use (issue 15): building the union builds every event model (~15-25 ms CPU in a cold function)
EVENT_ADAPTER: TypeAdapter[DomainEvent] = TypeAdapter(DomainEvent, config=ConfigDict(defer_build=True))


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


def parse_event(body: str | bytes) -> EventBase:
    """The event in a message body, validated by its own type's model only, so a cold queue function builds the
    models of the events it receives rather than the whole catalogue (issue 15). Same result as
    ``EVENT_ADAPTER.validate_json(body)``; raises ``ValueError`` (pydantic's ``ValidationError`` is one) when the
    body is not JSON, names no known ``type`` or does not fit that type's model."""
    data = json.loads(body)
    kind = data.get("type") if isinstance(data, dict) else None
    model = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"no known event type: {kind!r}")
    return model.model_validate_json(body)
