"""Approval workflow (issue 5): the auto-check configuration and the decision/edit request bodies."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from schemas.common import Actor, CurrencyCode, Money, Number, ShortText, Strict, Timestamp
from schemas.dedup import DedupOutcome
from schemas.ownership import Holder
from schemas.registration import RegistrationCreate, RegistrationStatus, SalesStage

FieldPath = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z_]+(\.[a-z_]+)*$")]


class EligibilityRules(Strict):
    """Who may register at all. Every field left blank means "no restriction"."""

    min_expected_amount: dict[CurrencyCode, Annotated[Number, Field(ge=0)]] = Field(
        default_factory=dict, description='Smallest expected amount per currency, e.g. {"CNY": "100000"}; '
                                          "a currency not listed is not restricted")
    max_close_months: int | None = Field(
        default=None, ge=1, le=120, description="The expected close date must lie between today and this many "
                                                "months ahead")
    allowed_industries: list[ShortText] = Field(
        default_factory=list, description="customer.industry must be one of these (case-insensitive)")
    allowed_regions: list[ShortText] = Field(
        default_factory=list, description="customer.region must start with one of these (广东省 admits "
                                          "广东省深圳市), or customer.country must equal one")


class DedupPolicy(Strict):
    """What the dedup verdict does to a registration before review."""

    reject_on: list[DedupOutcome] = Field(
        default_factory=lambda: [DedupOutcome.DUPLICATE],
        description="Outcomes that auto-reject when the matching rule's action is block (default: your own "
                    "duplicate). Any other outcome goes to review; a conflict with the evidence")


class WorkflowRules(Strict):
    """``DEALREG_WORKFLOW_RULES``: the auto-checks run before review, and the workflow's bounds.

    The defaults check nothing beyond intake validation except the dedup verdict, so a fresh deployment
    puts every registration in front of a reviewer.
    """

    required_fields: list[FieldPath] = Field(
        default_factory=list,
        description="Dotted paths into the registration that must be filled, e.g. customer.region, "
                    "customer.registry_ids, contacts.email (a list path is filled when any element has it)")
    eligibility: EligibilityRules = Field(default_factory=EligibilityRules)
    on_ineligible: Literal["reject", "review"] = Field(
        "reject", description="A missing required field or failed eligibility check: auto-reject, or flag to review")
    dedup: DedupPolicy = Field(default_factory=DedupPolicy)
    flag_attribute_score_below: int | None = Field(
        None, ge=1, le=100, description="Flag to review a registration whose attribute score (属性评分, issue 19) is "
                                        "below this; unset = no score check")
    flag_model_score_below: int | None = Field(
        None, ge=1, le=100, description="Flag to review a registration whose model win probability × 100 (智能评分, "
                                        "issue 19) is below this; no check while no model is published")
    max_resubmits: int = Field(2, ge=0, le=20, description="How often a rejected registration may be resubmitted")
    dedup_wait_minutes: int = Field(
        30, ge=1, le=24 * 60, description="After this long without a dedup verdict a submitted registration "
                                          "goes to review marked 'dedup verdict unavailable'")


# --- request bodies ------------------------------------------------------------------------------------------

class ApproveRequest(Strict):
    """Approve (or record this level's approval). The owner defaults to the submitter (the rep, or the
    partner for partner submissions); name another holder to give it to them instead."""

    reason: ShortText | None = None
    owner: Holder | None = None


class RejectRequest(Strict):
    reason: ShortText = Field(description="Why; staff always see it, a partner submitter only when shared")
    share_reason: bool = Field(default=False, description="Let a partner submitter read the reason. Off by "
                               "default: a reason may name another party (who holds the customer)")


class EscalateRequest(Strict):
    """``POST /v1/registrations/{id}/escalate``: refer the waiting review level up instead of deciding it."""

    reason: ShortText = Field(description="Why the decision goes up (the higher level's approvers read it)")
    level: int | None = Field(default=None, ge=2, le=2, description="The approver level to refer to; the "
                              "workflow defines two levels, so only 2 (the default: the next level)")


class WithdrawRequest(Strict):
    reason: ShortText | None = None


class ResubmitRequest(Strict):
    """Send a rejected registration back through the checks (fix it first with PATCH)."""

    reason: ShortText | None = None


class CloseWonRequest(Strict):
    amount: Money = Field(description="The contracted amount")
    reason: ShortText | None = None


class CloseLostRequest(Strict):
    reason: ShortText = Field(description="Why the deal was lost, e.g. the competitor who won")


class RegistrationPatch(Strict):
    """``PATCH /v1/registrations/{id}``: a JSON merge patch (RFC 7386) of the registration as submitted.

    Objects merge key by key, ``null`` removes a key, lists are replaced whole. The result is validated
    exactly like a new registration. ``external_ref`` cannot change (it is how the submitter finds it).
    """

    customer: dict[str, Any] | None = None
    contacts: list[dict[str, Any]] | None = None
    project: dict[str, Any] | None = None
    competitors: list[dict[str, Any]] | None = None
    sales_stage: SalesStage | None = None


class OpportunityUpdated(Strict):
    """``POST /v1/partners/{partner_id}/opportunities`` with ``type: opportunity.updated``: the opportunity
    as it now is (all of it, as at registration). Found by ``data.external_ref``, which cannot change."""

    type: Literal["opportunity.updated"]
    timestamp: Timestamp
    data: RegistrationCreate


class Decision(Strict):
    """The answer of a workflow route: where the registration stands now."""

    id: str
    status: RegistrationStatus
    version: int
    owner: Actor | None = Field(default=None, description="The holder ({kind, id}), once approved")
    levels_required: int | None = Field(default=None, description="Approval levels this registration needs")
    levels_done: int | None = Field(default=None, description="Approval levels recorded so far")
