"""Pure enrichment rules: id detection, id choice, name matching threshold, review flags, backoff."""
from __future__ import annotations

import pytest

from chalicelib.domain.enrichment import (
    MAX_BACKOFF_SECONDS,
    backoff_seconds,
    best_match,
    cache_key_for_name,
    detect_scheme,
    name_score,
    pick_id,
    review_event_id,
    review_flag,
)
from schemas.common import RegistryId
from schemas.company import Company, CompanyStatus
from schemas.identifiers import InvalidIdentifierError


def _company(name: str, source_id: str, status: CompanyStatus = CompanyStatus.ACTIVE) -> Company:
    return Company(source="qcc", source_id=source_id, name=name, status=status)


@pytest.mark.parametrize(("typed", "scheme", "value"), [
    ("91440300708461136T", "uscc", "91440300708461136T"),
    ("９１４４０３００７０８４６１１３６Ｔ", "uscc", "91440300708461136T"),  # full-width, as typed on a CJK IME
    ("9144 0300 7084 6113 6t", "uscc", "91440300708461136T"),
    ("9845001B2AD43E664E58", "lei", "9845001B2AD43E664E58"),
    ("00006402", "gb-coh", "00006402"),
    ("6402", "gb-coh", "00006402"),  # Companies House numbers are zero-padded to eight
    ("sc000123", "gb-coh", "SC000123"),
    ("lei:9845001b2ad43e664e58", "lei", "9845001B2AD43E664E58"),
])
def test_detect_scheme(typed: str, scheme: str, value: str) -> None:
    assert detect_scheme(typed) == (scheme, value)


@pytest.mark.parametrize(("typed", "reason"), [
    ("91440300708461136X", "check_digit"),  # right length, wrong USCC check character
    ("9845001B2AD43E664E59", "check_digit"),  # LEI with a bad MOD 97-10 check
    ("91440300708461I36T", "character"),  # I is not in the USCC alphabet
    ("123456789012", "length"),
    ("", "empty"),
    ("uscc:1234", "length"),
])
def test_detect_scheme_says_why_an_id_is_bad(typed: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifierError) as err:
        detect_scheme(typed)
    assert err.value.reason == reason


def test_pick_id_prefers_the_strongest_supported_scheme() -> None:
    ids = [RegistryId(scheme="gb-coh", value="00006402"), RegistryId(scheme="lei", value="9845001B2AD43E664E58"),
           RegistryId(scheme="uscc", value="91440300708461136T")]
    assert pick_id(ids, {"uscc", "lei", "gb-coh"}) == ("uscc", "91440300708461136T")
    assert pick_id(ids, {"lei", "gb-coh"}) == ("lei", "9845001B2AD43E664E58")
    assert pick_id(ids, {"gb-coh"}) == ("gb-coh", "00006402")
    assert pick_id(ids, set()) is None
    assert pick_id([], {"uscc"}) is None


def test_name_score_ignores_region_legal_form_and_width() -> None:
    assert name_score("深圳市腾讯计算机系统有限公司", "腾讯计算机系统有限公司") == 100
    assert name_score("Renable Pharma Limited", "RENABLE PHARMA LTD") == 100
    assert name_score("Renable Pharma", "Renable Pharma Services Limited") < 90
    assert name_score("", "Acme") == 0


def test_best_match_accepts_only_above_threshold() -> None:
    candidates = [_company("RENABLE PHARMA SERVICES LIMITED", "SC000123"), _company("RENABLE PHARMA LTD", "00006402")]
    match = best_match("Renable Pharma Limited", candidates, threshold=92)
    assert match.company is not None and match.company.source_id == "00006402" and match.score == 100
    weak = best_match("Renable Pharma Holdings", candidates, threshold=92)
    assert weak.company is None and 0 < weak.score < 92


def test_best_match_refuses_a_tie_between_different_companies() -> None:
    twins = [_company("示例科技有限公司", "A"), _company("示例科技股份有限公司", "B")]
    assert best_match("示例科技有限公司", twins, threshold=90).company is None
    # the same company listed twice is not ambiguous
    same = [_company("示例科技有限公司", "A"), _company("示例科技有限公司", "A")]
    assert best_match("示例科技", same, threshold=90).company is not None


def test_best_match_of_nothing() -> None:
    assert best_match("Acme", [], threshold=90).company is None


@pytest.mark.parametrize(("status", "flagged"), [
    (CompanyStatus.REVOKED, True), (CompanyStatus.DISSOLVED, True), (CompanyStatus.LAPSED, True),
    (CompanyStatus.RETIRED, True), (CompanyStatus.ACTIVE, False), (CompanyStatus.INACTIVE, False),
    (CompanyStatus.UNKNOWN, False),
])
def test_review_flag(status: CompanyStatus, flagged: bool) -> None:
    assert (review_flag(_company("X", "1", status)) == status) is flagged
    assert review_flag(None) is None


def test_backoff_doubles_honours_retry_after_and_is_capped() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_seconds(1, retry_after=100.2) == 101
    assert backoff_seconds(3, retry_after=5) == 120
    assert backoff_seconds(20) == MAX_BACKOFF_SECONDS
    assert backoff_seconds(1, retry_after=10**6) == MAX_BACKOFF_SECONDS


def test_name_cache_key_is_shared_by_spelling_variants() -> None:
    assert cache_key_for_name("qcc", "深圳市腾讯计算机系统有限公司") == cache_key_for_name("qcc", "腾讯计算机系统（深圳）有限公司")
    assert cache_key_for_name("qcc", "Acme") != cache_key_for_name("gleif", "Acme")


def test_review_event_id_is_stable_per_fact() -> None:
    c = _company("X", "K1", CompanyStatus.REVOKED)
    assert review_event_id("uscc:1", c) == review_event_id("uscc:1", c.model_copy()) == "uscc:1:review:qcc:K1:revoked"
    assert review_event_id("uscc:1", c) != review_event_id("uscc:1", c.model_copy(update={"status": CompanyStatus.DISSOLVED}))
