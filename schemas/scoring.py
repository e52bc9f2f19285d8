"""Scoring (issue 19): the attribute and behaviour rules documents and the score answer of the API."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import Number, Strict

# Fields an attribute rule may test (the scoring record of a registration, chalicelib.domain.scoring_model).
AttributeField = Literal[
    "customer.industry", "customer.region", "customer.country", "customer.revenue_band", "customer.employee_band",
    "customer.prior_revenue_band", "customer.capital_band", "project.product", "project.amount", "project.currency",
    "close_horizon_days", "source", "sales_stage", "competitors.status", "contacts.count", "contacts.decision_roles",
]
NUMERIC_FIELDS = frozenset({"customer.revenue_band", "customer.employee_band", "customer.prior_revenue_band",
                            "customer.capital_band",
                            "project.amount", "close_horizon_days", "contacts.count", "contacts.decision_roles"})


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    zh: str = Field(alias="zh-CN", min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class Condition(BaseModel):
    """One test on one field; every test given must hold. ``min`` is inclusive, ``max`` exclusive."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    field: AttributeField
    in_: tuple[str, ...] | None = Field(default=None, alias="in", description="the value is one of these")
    prefix: tuple[str, ...] | None = Field(default=None, description="the value starts with one of these "
                                                                     "(e.g. region 广东)")
    min: float | None = None
    max: float | None = None
    currency: str | None = Field(default=None, description="project.amount only: the rule applies to this currency")
    present: bool | None = Field(default=None, description="true: the field has a value; false: it has none")

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if all(v is None for v in (self.in_, self.prefix, self.min, self.max, self.present)):
            raise ValueError("a condition needs at least one of in, prefix, min, max, present")
        numeric = self.field in NUMERIC_FIELDS
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError(f"min/max apply to numeric fields only, not {self.field}")
        if (self.in_ or self.prefix) and numeric:
            raise ValueError(f"in/prefix apply to text fields only, not {self.field}")
        if self.currency and self.field != "project.amount":
            raise ValueError("currency applies to project.amount only")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError("min must be below max")
        return self


class AttributeRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(pattern=r"^[a-z0-9_.-]{1,64}$")
    points: int = Field(ge=-100, le=100)
    when: tuple[Condition, ...] = Field(min_length=1, max_length=10, description="all must hold")
    label: Label


class AttributeRules(BaseModel):
    """属性评分: the score is ``base`` plus the points of every rule that holds, clamped to 0–100
    (``DEALREG_ATTRIBUTE_RULES``; JSON Schema ``schemas/json/attribute_rules.v1.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    version: Literal[1] = 1
    base: int = Field(0, ge=0, le=100)
    rules: tuple[AttributeRule, ...] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _unique(self) -> AttributeRules:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self


def _points(points: dict[str, float]) -> dict[str, float]:
    return points


class BehaviourRules(BaseModel):
    """行为积分: points per thing that happens to a registration, decaying with age (half-life), clamped to
    0–100 (``DEALREG_BEHAVIOUR_RULES``; JSON Schema ``schemas/json/behaviour_rules.v1.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    version: Literal[1] = 1
    half_life_days: float = Field(30.0, gt=0, le=3650)
    follow_ups: dict[str, float] = Field(
        default_factory=lambda: _points({"call": 3, "email": 1, "visit": 8, "meeting": 6, "demo": 10, "proposal": 12,
                                         "other": 1}),
        description="points per logged follow-up, by type (call, visit, meeting, email, demo, proposal, other)")
    audit_actions: dict[str, float] = Field(
        default_factory=lambda: _points({"updated": 2, "approval_recorded": 3, "claimed": 5, "extended": 2,
                                         "assigned": 2, "transferred": 0}),
        description="points per audit-trail action (a partner update is 'updated')")
    to_status: dict[str, float] = Field(
        default_factory=lambda: _points({"approved": 10, "rejected": -20, "withdrawn": -30, "reclaimed": -15,
                                         "expired": -20, "pending_review": 2}),
        description="points when the registration moves to a status")
    stage_forward: float = Field(6.0, description="points per sales-stage step forward (a pipeline stage move, "
                                                  "POST /v1/registrations/{id}/stage)")
    stage_back: float = Field(-8.0, description="points per sales-stage step back (a pipeline stage move)")
    cap: float = Field(100.0, gt=0, description="points at which the behaviour score reads 100")


class ScoreFactor(Strict):
    source: Literal["attribute", "behaviour", "model"]
    key: str = Field(description="rule id, action or model feature")
    effect: float = Field(description="points (attribute, behaviour) or log-odds (model) this factor adds")
    zh_CN: str = Field(alias="zh-CN")
    en: str


class ModelScore(Strict):
    probability: float = Field(ge=0, le=1, description="calibrated win probability")
    score: int = Field(ge=0, le=100)
    model_version: str
    factors: list[ScoreFactor]


class CustomerRfm(Strict):
    """The customer's RFM from won registrations: quintile scores 1–5 (5 best) and the values behind them."""

    r: int = Field(ge=1, le=5, description="recency: days since the latest win, fewer is better")
    f: int = Field(ge=1, le=5, description="frequency: number of won registrations")
    m: int = Field(ge=1, le=5, description="monetary: won amount, ranked among customers of the same currency")
    segment: str = Field(description="'RFM' digits, e.g. '545'")
    recency_days: int
    frequency: int
    monetary: Number = Field(description="the won amount in ``currency``")
    currency: str


class RegistrationScores(Strict):
    """Every score of one registration, each with why ("factors", zh-CN and en)."""

    id: str = Field(description="The registration's id")
    attribute: int = Field(ge=0, le=100)
    attribute_factors: list[ScoreFactor]
    behaviour: int = Field(ge=0, le=100)
    behaviour_points: float
    behaviour_factors: list[ScoreFactor]
    model: ModelScore | None = Field(description="null until a model version is published")
    rfm: CustomerRfm | None = Field(default=None, description="the customer's RFM; null before its first win")
    computed_at: datetime


class RankedRegistration(Strict):
    id: str
    status: str
    customer_name: str
    project_title: str
    expected_amount: Number
    currency: str
    score: int = Field(ge=0, le=100, description="model win probability × 100 when a model is published, "
                                                 "else the attribute score")


class PoolRanking(Strict):
    """The pool (公海: reclaimed, unowned registrations), highest score first."""

    basis: Literal["model", "attribute"]
    items: list[RankedRegistration]
    truncated: bool = Field(description="true when the pool held more than the bounded read (500) and only the "
                                        "newest were ranked")


class RankedPage(Strict):
    """Registrations the caller may list, highest score first, optionally at or above ``min_score``."""

    basis: Literal["model", "attribute"]
    items: list[RankedRegistration]
    truncated: bool = Field(description="true when more than the bounded read (500 newest) matched the listing")
