"""Auto-checks before review: required fields, eligibility, and the dedup verdict. Pure: today is passed in.

:func:`run_checks` turns a registration's payload, its dedup verdict (or None when it never came) and the
deployment's :class:`~schemas.workflow.WorkflowRules` into a :class:`CheckReport`: ``reject`` (with the
reasons), ``review`` (with what the reviewer should look at) or ``pass`` (review as usual). The report's
:meth:`CheckReport.summary` is the audit reason of the move it causes, so the registration's own audit
trail shows what was checked and what was found.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from schemas.dedup import DedupOutcome, DedupVerdict, RuleAction
from schemas.registration import RegistrationCreate
from schemas.workflow import WorkflowRules

Outcome = Literal["pass", "review", "reject"]
DEDUP_UNAVAILABLE = "dedup verdict unavailable"
_REASON_MAX = 1000  # the audit reason stays readable; the verdict endpoint has the full evidence


def load_rules(raw: str | None) -> WorkflowRules:
    """Rules from ``DEALREG_WORKFLOW_RULES`` (a JSON object); blank = the defaults."""
    return WorkflowRules.model_validate_json(raw) if raw and raw.strip() else WorkflowRules()


@dataclass(frozen=True)
class Finding:
    check: str  # required | eligibility | dedup
    outcome: Outcome
    detail: str  # what the submitter may read (domain.visibility): never another party's identity
    evidence: str | None = None  # staff only: who else holds or registered the customer


@dataclass(frozen=True)
class CheckReport:
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def outcome(self) -> Outcome:
        outcomes = {f.outcome for f in self.findings}
        return "reject" if "reject" in outcomes else "review" if "review" in outcomes else "pass"

    def summary(self) -> str:
        """One line for the audit trail: the findings that matter for this outcome (all, if it passed)."""
        shown = [f for f in self.findings if f.outcome == self.outcome] or list(self.findings)
        text = "auto-checks " + {"pass": "passed", "review": "flagged for review", "reject": "rejected"}[self.outcome]
        if shown:
            text += ": " + "; ".join(f"{f.check}: {f.detail}" for f in shown)
        return _clip(text)

    def evidence(self) -> str | None:
        """Staff-only evidence of the findings :meth:`summary` shows (the audit line's ``evidence``)."""
        shown = [f for f in self.findings if f.outcome == self.outcome] or list(self.findings)
        parts = [f"{f.check}: {f.evidence}" for f in shown if f.evidence]
        return _clip("; ".join(parts)) if parts else None


def _clip(text: str) -> str:
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "…"


# --- required fields -----------------------------------------------------------------------------------------

def _filled(value: Any, parts: list[str]) -> bool:
    if not parts:
        return value not in (None, "", [], {})
    if isinstance(value, list):
        return any(_filled(v, parts) for v in value)  # contacts.email: some contact has one
    if isinstance(value, dict):
        return _filled(value.get(parts[0]), parts[1:])
    return False


def missing_fields(payload: RegistrationCreate, paths: list[str]) -> list[str]:
    """The configured paths that are empty in ``payload`` (in the configured order)."""
    data = payload.model_dump(mode="json")
    return [p for p in paths if not _filled(data, p.split("."))]


# --- eligibility ---------------------------------------------------------------------------------------------

def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def eligibility_problems(payload: RegistrationCreate, rules: WorkflowRules, today: date) -> list[str]:
    """Why ``payload`` is not eligible under ``rules`` (empty: eligible)."""
    e = rules.eligibility
    out = []
    money = payload.project.expected_amount
    floor = e.min_expected_amount.get(money.currency)
    if floor is not None and money.amount < floor:
        out.append(f"expected amount {money.amount} {money.currency} is below the minimum {floor} {money.currency}")
    if e.max_close_months is not None:
        close = payload.project.expected_close_date
        latest = add_months(today, e.max_close_months)
        if close < today:
            out.append(f"expected close date {close} is in the past")
        elif close > latest:
            out.append(f"expected close date {close} is more than {e.max_close_months} months ahead (after {latest})")
    customer = payload.customer
    if e.allowed_industries:
        allowed = {i.casefold() for i in e.allowed_industries}
        if not customer.industry or customer.industry.casefold() not in allowed:
            out.append(f"industry {customer.industry or '(none)'} is not among the allowed industries")
    if e.allowed_regions:
        region = customer.region or ""
        region_ok = bool(region) and any(region.startswith(r) for r in e.allowed_regions)
        country_ok = bool(customer.country) and customer.country in e.allowed_regions
        if not (region_ok or country_ok):
            out.append(f"region {customer.region or customer.country or '(none)'} is not among the allowed regions")
    return out


# --- dedup verdict -------------------------------------------------------------------------------------------

def dedup_finding(verdict: DedupVerdict | None, rules: WorkflowRules) -> Finding:
    """What the dedup verdict means for this registration.

    A ``block`` rule rejects the outcomes listed in ``rules.dedup.reject_on`` (your own duplicate, by
    default); a conflict (another owner holds the customer) goes to review with the evidence; a ``flag``
    rule, or earlier registrations of the same customer that nobody holds yet, go to review too.
    """
    if verdict is None:
        return Finding("dedup", "review", DEDUP_UNAVAILABLE)
    rule = f" (rule {verdict.rule})" if verdict.rule else ""
    outcome = verdict.outcome
    protected = "conflict: the customer is protected by another holder"
    if verdict.action is RuleAction.BLOCK and outcome in rules.dedup.reject_on:
        if outcome is DedupOutcome.DUPLICATE:  # your own earlier registration
            return Finding("dedup", "reject", f"duplicate of {verdict.duplicate_of or 'your earlier registration'}"
                                              f"{rule}")
        ref = verdict.duplicate_of or ", ".join(verdict.conflict_with) or ", ".join(verdict.earlier)
        public = protected if outcome is DedupOutcome.CONFLICT else f"{outcome.value} of an earlier registration"
        return Finding("dedup", "reject", public + rule,
                       evidence=f"{outcome.value} of {ref or 'an earlier registration'}{rule}")
    if outcome is DedupOutcome.CONFLICT:
        holder = f" held by {verdict.holder.id}" if verdict.holder else ""
        return Finding("dedup", "review", protected + rule,
                       evidence=f"conflict{holder} in {', '.join(verdict.conflict_with)}{rule}")
    if outcome is DedupOutcome.DUPLICATE:
        return Finding("dedup", "review", f"duplicate of {verdict.duplicate_of}{rule}")
    if outcome is DedupOutcome.MAY_CLAIM:
        earlier = f"earlier {', '.join(verdict.earlier)}{rule}" if verdict.earlier else None
        return Finding("dedup", "review", f"same customer registered before, nobody holds it{rule}",
                       evidence=earlier)
    if verdict.action is RuleAction.FLAG:
        return Finding("dedup", "review", f"flagged{rule}")
    return Finding("dedup", "pass", "clear")


def run_checks(payload: RegistrationCreate, verdict: DedupVerdict | None, rules: WorkflowRules,
               *, today: date, attribute_score: int | None = None, model_score: int | None = None) -> CheckReport:
    """Every auto-check, in a fixed order (required fields, eligibility, dedup, score when configured).

    Args:
        payload: the registration as submitted (or last edited).
        verdict: its dedup verdict for this version, or None when it never arrived.
        rules: the deployment's workflow rules.
        today: the date the checks are run on (close-date window).
        attribute_score: the registration's attribute score (checked when ``flag_attribute_score_below`` is set).
        model_score: the model's win probability × 100 (checked when ``flag_model_score_below`` is set; None
            while no model is published).
    """
    bad: Outcome = "reject" if rules.on_ineligible == "reject" else "review"
    findings = []
    missing = missing_fields(payload, rules.required_fields)
    findings.append(Finding("required", bad, "missing " + ", ".join(missing)) if missing
                    else Finding("required", "pass", "complete"))
    problems = eligibility_problems(payload, rules, today)
    findings.append(Finding("eligibility", bad, "; ".join(problems)) if problems
                    else Finding("eligibility", "pass", "eligible"))
    findings.append(dedup_finding(verdict, rules))
    floor = rules.flag_attribute_score_below
    if floor is not None and attribute_score is not None:
        findings.append(Finding("score", "review", f"attribute score {attribute_score} is below {floor}")
                        if attribute_score < floor else Finding("score", "pass", f"attribute score {attribute_score}"))
    floor = rules.flag_model_score_below
    if floor is not None and model_score is not None:
        findings.append(Finding("model_score", "review", f"model win probability {model_score}% is below {floor}%")
                        if model_score < floor else Finding("model_score", "pass", f"model win probability {model_score}%"))
    return CheckReport(tuple(findings))
