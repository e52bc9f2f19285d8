"""Pipeline (销售阶段) payloads: the configured stages and a stage move (issue 18)."""
from __future__ import annotations


from pydantic import ConfigDict, Field, field_validator

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
    weighted: list[Money] = Field(description="amounts x the stage's win probability (forecast)")


class Board(Strict):
    """``GET /v1/pipeline/board``: approved registrations by stage, from the stream-kept aggregates."""

    team: str | None = Field(default=None, description="The team; absent for all teams")
    columns: list[BoardColumn]
    cells_read: int = Field(description="Aggregate items read to answer (stages x currencies, at most)")
