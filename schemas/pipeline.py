"""Pipeline (销售阶段) payloads: the configured stages and a stage move (issue 18)."""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.common import Money, Number, ShortText, Strict
from schemas.registration import SalesStage


class Stage(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: SalesStage
    name_zh: str = Field(min_length=1, max_length=40)
    name_en: str = Field(min_length=1, max_length=40)
    probability: Number = Field(ge=0, le=1, description="Win probability, for the weighted forecast")
    checklist: tuple[str, ...] = Field(default=(), max_length=20, description="标准化阶段任务 for this stage")


class PipelineRules(Strict):
    """``DEALREG_PIPELINE_STAGES``: the stages in pipeline order (``GET /v1/pipeline/stages`` answers it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: tuple[Stage, ...] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def _distinct(cls, stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
        keys = [s.key for s in stages]
        if len(set(keys)) != len(keys):
            raise ValueError("each stage appears once")
        return stages

    def stage(self, key: SalesStage) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)


class StageMoveRequest(Strict):
    """``POST /v1/registrations/{id}/stage``: move an approved registration to another stage."""

    stage: SalesStage
    reason: ShortText | None = None


class StageMoveResult(Strict):
    id: str
    sales_stage: SalesStage
    version: int


class BoardColumn(Strict):
    stage: SalesStage
    name_zh: str
    name_en: str
    probability: Number
    count: int = Field(ge=0)
    amounts: list[Money] = Field(description="Sum of expected amounts, one per currency")
    weighted: list[Money] = Field(description="the forecast: amounts x the stage's win probability, or with "
                                  "weighting=model each registration's amount x the model's win probability")


class Board(Strict):
    """``GET /v1/pipeline/board``: approved registrations by stage, from the stream-kept aggregates."""

    team: str | None = Field(default=None, description="The team; absent for all teams")
    columns: list[BoardColumn]
    cells_read: int = Field(description="Aggregate items read to answer (stages x currencies, at most)")
    weighting: Literal["stage", "model"] = Field("stage", description="what weights the forecast (issue 19)")
    model_version: str | None = Field(default=None, description="weighting=model: the model version used")
    registrations_read: int | None = Field(default=None, description="weighting=model: approved registrations "
                                           "read and scored (the newest 2000 at most)")
    truncated: bool | None = Field(default=None, description="weighting=model: true when there were more than "
                                   "the newest 2000")


class CockpitDay(Strict):
    day: str = Field(description="UTC day, YYYY-MM-DD")
    new: int = Field(ge=0, description="Registrations created that day")


class CockpitWeek(Strict):
    week: str = Field(description="The ISO week's Monday (UTC), YYYY-MM-DD")
    new: int = Field(ge=0, description="Registrations created that week")
    approved: int = Field(ge=0, description="Of those, how many were ever approved (cohort)")
    won: int = Field(ge=0, description="Of those, how many were won")
    lost: int = Field(ge=0, description="Of those, how many were lost")
    conflict: int = Field(ge=0, description="Registrations the automatic check found protected by another holder")
    reclaimed: int = Field(ge=0, description="Reclaims to the pool (回收) that week")


class CockpitConversion(Strict):
    """Of the registrations created in the window (cohort): submitted → approved → won."""

    submitted: int = Field(ge=0)
    approved: int = Field(ge=0)
    won: int = Field(ge=0)
    lost: int = Field(ge=0)
    approval_rate: Decimal | None = Field(default=None, description="approved / submitted")
    won_of_approved: Decimal | None = Field(default=None, description="won / approved")
    win_rate: Decimal | None = Field(default=None, description="won / (won + lost)")


class CockpitStage(Strict):
    stage: str = Field(description="A sales stage key, or `review` (pending_review until the decision)")
    name_zh: str
    name_en: str
    stays: int = Field(ge=0, description="Completed stays in the stage")
    avg_days: Decimal | None = Field(default=None, description="Average days of a completed stay")
    p90_days: Decimal | None = Field(default=None, description="90th percentile in days, as the upper bound of its bucket "
                                     "(1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 365)")


class CockpitForecastMonth(Strict):
    month: str = Field(description="Month of expected close, YYYY-MM")
    overdue: bool = Field(default=False, description="The month is before the current one (UTC): these deals are "
                          "still open (approved) although their expected close has passed — overdue, not forecast")
    amounts: list[Money] = Field(description="Expected amounts of open (approved) registrations, per currency")
    weighted: list[Money] = Field(description="Each amount x its stage's win probability, per currency")


class CockpitPartner(Strict):
    partner_id: str
    submitted: int = Field(ge=0)
    approved: int = Field(ge=0)
    won: int = Field(ge=0)


class Cockpit(Strict):
    """``GET /v1/pipeline/cockpit``: the 驾驶舱 figures from the stream-kept aggregates (bounded reads)."""

    team: str | None = Field(default=None, description="The team; absent for all teams")
    today: str = Field(description="UTC day the window ends on")
    days: list[CockpitDay]
    weeks: list[CockpitWeek]
    conversion: CockpitConversion
    stages: list[CockpitStage] = Field(description="`review` first, then the configured stages in order")
    bottleneck: str | None = Field(default=None, description="The stage with the longest average stay (停留时间)")
    forecast: list[CockpitForecastMonth] = Field(description="By month of expected close, oldest first: "
                                                 "past_months overdue months, then months from the current one")
    top_partners: list[CockpitPartner] = Field(description="Partners with the most registrations (all time)")
    cells_read: int = Field(description="Aggregate items read to answer; bounded by the window, not by the "
                            "number of registrations")


class BoardQuery(BaseModel):
    """``GET /v1/pipeline/board`` query parameters."""

    model_config = ConfigDict(extra="ignore")

    team: str | None = Field(default=None, description="A team id (managers: one they manage; default their only "
                             "team); admins: absent = all teams")
    weighting: Literal["stage", "model"] = Field(default="stage", description="What weights the forecast: the "
                                                 "stage's win probability or the published model's (issue 19)")


class CockpitQuery(BaseModel):
    """``GET /v1/pipeline/cockpit`` query parameters."""

    model_config = ConfigDict(extra="ignore")

    team: str | None = Field(default=None, description="A team id (managers: one they manage; default their only "
                             "team); admins: absent = all teams")
    weeks: int = Field(default=12, ge=1, le=26, description="Weeks of trend (new, conversion, conflicts, reclaims)")
    months: int = Field(default=6, ge=1, le=24, description="Months of weighted forecast by expected close, from "
                        "the current month")
    past_months: int = Field(default=3, ge=0, le=24, description="Months before the current one shown first in the "
                             "forecast: open deals whose expected close month has passed, marked overdue")
