"""The auto-checks before review: required fields, eligibility and the dedup verdict (pure)."""
from __future__ import annotations

import copy
from datetime import date

import pytest
from pydantic import ValidationError

from chalicelib.domain.auto_checks import (
    DEDUP_UNAVAILABLE,
    add_months,
    dedup_finding,
    eligibility_problems,
    load_rules,
    missing_fields,
    run_checks,
)
from schemas.dedup import DedupVerdict
from schemas.registration import RegistrationCreate
from schemas.workflow import WorkflowRules
from tests.functional.helpers import EXAMPLE

TODAY = date(2026, 11, 27)


def _payload(**changes) -> RegistrationCreate:
    data = copy.deepcopy(EXAMPLE["data"])
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = data
        for part in path:
            node = node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return RegistrationCreate.model_validate(data)


def _verdict(outcome: str, action: str | None = None, **kw) -> DedupVerdict:
    return DedupVerdict(outcome=outcome, duplicate=outcome in ("duplicate", "conflict"),
                        conflict=outcome == "conflict", action=action, **kw)


def test_blank_rules_are_the_defaults_and_unknown_keys_are_refused():
    assert load_rules("") == load_rules(None) == WorkflowRules()
    assert load_rules('{"max_resubmits": 5}').max_resubmits == 5
    with pytest.raises(ValidationError):
        load_rules('{"max_resubmit": 5}')
    with pytest.raises(ValidationError):
        load_rules('{"required_fields": ["Customer Name"]}')


def test_default_rules_pass_a_complete_registration_with_a_clear_verdict():
    report = run_checks(_payload(), _verdict("clear"), WorkflowRules(), today=TODAY)
    assert report.outcome == "pass"
    assert report.summary() == "auto-checks passed: required: complete; eligibility: eligible; dedup: clear"


def test_required_fields_follow_dotted_paths_and_lists_need_one_filled_element():
    payload = _payload(customer__website=None)
    paths = ["customer.website", "customer.region", "contacts.email", "contacts.title", "competitors.notes",
             "project.products"]
    # contacts: one has an email and a title; competitors: none has notes
    assert missing_fields(payload, paths) == ["customer.website", "competitors.notes"]
    assert missing_fields(_payload(project__products=[]), ["project.products"]) == ["project.products"]


@pytest.mark.parametrize("start, months, expected", [
    (date(2026, 11, 27), 3, date(2027, 2, 27)),
    (date(2027, 1, 31), 1, date(2027, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 12, 15), 12, date(2027, 12, 15)),
])
def test_add_months_clamps_to_the_end_of_the_month(start, months, expected):
    assert add_months(start, months) == expected


def test_eligibility_minimum_amount_is_per_currency():
    rules = WorkflowRules.model_validate({"eligibility": {"min_expected_amount": {"CNY": "5000000", "USD": "10"}}})
    assert eligibility_problems(_payload(), rules, TODAY) == [
        "expected amount 3800000.00 CNY is below the minimum 5000000 CNY"]
    at_floor = _payload(project__expected_amount={"amount": "5000000.00", "currency": "CNY"})
    assert eligibility_problems(at_floor, rules, TODAY) == []
    euros = _payload(project__expected_amount={"amount": "1.00", "currency": "EUR"})
    assert eligibility_problems(euros, rules, TODAY) == []  # EUR is not restricted


def test_close_date_must_lie_within_the_window():
    rules = WorkflowRules.model_validate({"eligibility": {"max_close_months": 4}})
    assert eligibility_problems(_payload(), rules, date(2026, 12, 1)) == []  # 2027-03-31 <= 2027-04-01
    [late] = eligibility_problems(_payload(), rules, TODAY)
    assert late == "expected close date 2027-03-31 is more than 4 months ahead (after 2027-03-27)"
    [past] = eligibility_problems(_payload(), rules, date(2027, 4, 1))
    assert past == "expected close date 2027-03-31 is in the past"


def test_industries_and_regions_are_only_restricted_when_listed():
    rules = WorkflowRules.model_validate({"eligibility": {"allowed_industries": ["互联网", "Finance"],
                                                          "allowed_regions": ["广东省", "HK"]}})
    assert eligibility_problems(_payload(), rules, TODAY) == []
    assert eligibility_problems(_payload(customer__industry="finance"), rules, TODAY) == []
    problems = eligibility_problems(_payload(customer__industry=None, customer__region="北京市海淀区"), rules, TODAY)
    assert problems == ["industry (none) is not among the allowed industries",
                        "region 北京市海淀区 is not among the allowed regions"]
    # a country code in the list admits the customer's country
    assert eligibility_problems(_payload(customer__region=None, customer__country="HK"), rules, TODAY) == []


def test_dedup_block_rejects_your_duplicate_but_a_conflict_goes_to_review():
    rules = WorkflowRules()
    dup = dedup_finding(_verdict("duplicate", "block", rule="same_registry_id", duplicate_of="reg_a"), rules)
    assert (dup.outcome, dup.detail) == ("reject", "duplicate of reg_a (rule same_registry_id)")
    conflict = dedup_finding(_verdict("conflict", "block", rule="same_registry_id", conflict_with=["reg_b"],
                                      holder={"kind": "user", "id": "wang"}), rules)
    # the evidence (who holds it, where) is staff-only; the detail the submitter reads names nobody
    assert (conflict.outcome, conflict.evidence) == ("review", "conflict held by wang in reg_b (rule same_registry_id)")
    assert "wang" not in conflict.detail and "reg_b" not in conflict.detail and "protected" in conflict.detail
    flagged_dup = dedup_finding(_verdict("duplicate", "flag", rule="similar_name", duplicate_of="reg_a"), rules)
    assert flagged_dup.outcome == "review"
    earlier = dedup_finding(_verdict("may_claim", "block", earlier=["reg_c"], rule="same_name"), rules)
    assert earlier.outcome == "review" and "earlier reg_c" in earlier.evidence and "reg_c" not in earlier.detail
    assert dedup_finding(_verdict("clear", "allow_with_alert"), rules).outcome == "pass"
    assert dedup_finding(_verdict("clear", "flag", rule="x"), rules).outcome == "review"


def test_a_deployment_can_reject_conflicts_too():
    rules = WorkflowRules.model_validate({"dedup": {"reject_on": ["duplicate", "conflict"]}})
    finding = dedup_finding(_verdict("conflict", "block", conflict_with=["reg_b"], rule="r"), rules)
    assert (finding.outcome, finding.evidence) == ("reject", "conflict of reg_b (rule r)")
    assert "reg_b" not in finding.detail


def test_a_missing_verdict_goes_to_review_marked_unavailable():
    report = run_checks(_payload(), None, WorkflowRules(), today=TODAY)
    assert report.outcome == "review"
    assert report.summary() == f"auto-checks flagged for review: dedup: {DEDUP_UNAVAILABLE}"


def test_a_rejection_names_every_failed_check_and_review_mode_flags_instead():
    doc = {"required_fields": ["customer.address"], "eligibility": {"allowed_regions": ["北京市"]}}
    report = run_checks(_payload(), _verdict("clear"), WorkflowRules.model_validate(doc), today=TODAY)
    assert report.outcome == "reject"
    assert report.summary() == ("auto-checks rejected: required: missing customer.address; "
                                "eligibility: region 广东省深圳市 is not among the allowed regions")
    lenient = WorkflowRules.model_validate({**doc, "on_ineligible": "review"})
    assert run_checks(_payload(), _verdict("clear"), lenient, today=TODAY).outcome == "review"


def test_the_summary_is_bounded_for_the_audit_trail():
    verdict = _verdict("conflict", "flag", conflict_with=[f"reg_{i:040d}" for i in range(100)], rule="r")
    evidence = run_checks(_payload(), verdict, WorkflowRules(), today=TODAY).evidence()
    assert len(evidence) == 1000 and evidence.endswith("…")
