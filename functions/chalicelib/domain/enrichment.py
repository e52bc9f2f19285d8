"""Enrichment rules: which id to look up, which name match to accept, what to flag, how long to wait.

Pure functions (no AWS, no HTTP); the handler (``handlers/enrichment.py``) and the look-up API
(``handlers/companies.py``) call them with the registry answers and the time.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chalicelib.domain import names
from chalicelib.domain.backoff import backoff_seconds as backoff
from schemas.common import RegistryId
from schemas.company import Company, CompanyStatus
from schemas.identifiers import InvalidIdentifierError, validate

# Strongest first: a USCC or LEI names exactly one legal entity; a UK company number too, within the UK.
ID_PRIORITY = ("uscc", "lei", "gb-coh")
# Schemes that can be recognised from the value alone, in the order they are tried (lengths differ:
# 18, 20 and 8 characters, so at most one validator accepts a value).
DETECTABLE = ("uscc", "lei", "gb-coh")
MIN_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 15 * 60


@dataclass(frozen=True)
class NameMatch:
    """The outcome of matching a typed name against a registry's ranked candidates.

    ``company`` is set only when the best candidate clears the threshold and no other candidate
    (a different company) scores the same: an ambiguous match is no match.
    """

    company: Company | None
    score: float


def detect_scheme(value: str) -> tuple[str, str]:
    """Work out which identifier ``value`` is, and normalise it.

    ``"uscc:9144…"``-style prefixes are honoured; otherwise USCC, LEI and UK company number are tried.

    Args:
        value: As typed by a user.

    Returns:
        ``(scheme, normalised value)``.

    Raises:
        InvalidIdentifierError: With the reason of the most plausible scheme (by length) when none
            accepts the value.
    """
    scheme, sep, rest = value.partition(":")
    if sep and scheme.strip().lower() in DETECTABLE:
        scheme = scheme.strip().lower()
        return scheme, validate(scheme, rest)
    errors: dict[str, InvalidIdentifierError] = {}
    for candidate in DETECTABLE:
        try:
            return candidate, validate(candidate, value)
        except InvalidIdentifierError as exc:
            errors[candidate] = exc
    # Prefer an error that is not about length: it is the scheme the value was meant to be.
    for refusal in errors.values():
        if refusal.reason not in ("length", "empty"):
            raise refusal
    raise errors[DETECTABLE[0]]


def pick_id(registry_ids: Iterable[RegistryId], supported: Iterable[str]) -> tuple[str, str] | None:
    """The strongest of a customer's ids that some enabled registry can look up, or ``None``."""
    have = {str(rid.scheme): rid.value for rid in registry_ids}
    usable = set(supported)
    for scheme in ID_PRIORITY:
        if scheme in have and scheme in usable:
            return scheme, have[scheme]
    return None


def name_score(typed: str, registered: str) -> float:
    """0-100 similarity of two company names after normalisation (legal forms, regions, case, width).

    ``rapidfuzz.fuzz.ratio`` on ``names.normalise(...).core``: a plain edit-distance ratio, so "Acme" vs
    "Acme Services" stays well below a 90+ threshold while "深圳市腾讯计算机系统有限公司" vs
    "腾讯计算机系统有限公司" scores 100.
    """
    from rapidfuzz import fuzz

    left, right = names.normalise(typed).core, names.normalise(registered).core
    if not left or not right:
        return 0.0
    return float(fuzz.ratio(left, right))


def best_match(typed: str, candidates: Sequence[Company], threshold: float) -> NameMatch:
    """Accept the best-scoring candidate only if it reaches ``threshold`` and is unambiguous.

    Args:
        typed: The customer name as registered with us.
        candidates: A registry's ranked search results.
        threshold: Minimum score (0-100) to accept.

    Returns:
        The match (``company`` is ``None`` below the threshold or on a tie between different companies).
    """
    scored = sorted(((name_score(typed, c.name), i, c) for i, c in enumerate(candidates)),
                    key=lambda t: (-t[0], t[1]))
    if not scored:
        return NameMatch(None, 0.0)
    best_score, _, best = scored[0]
    tie = any(score == best_score and c.source_id != best.source_id for score, _, c in scored[1:])
    if best_score < threshold or tie:
        return NameMatch(None, best_score)
    return NameMatch(best, best_score)


def review_flag(company: Company | None) -> CompanyStatus | None:
    """The status to flag for review (注销/吊销, GLEIF lapsed/retired), or ``None``."""
    if company is not None and company.needs_review:
        return company.status
    return None


def backoff_seconds(attempt: int, retry_after: float | None = None) -> int:
    """How long to hide a message before the next try: doubling from 30 s, capped at 15 min.

    A provider's ``Retry-After`` is honoured when it asks for longer (up to the cap).

    Args:
        attempt: 1 for the first delivery.
        retry_after: Seconds the provider asked for, if any.
    """
    wait = backoff(attempt, base=MIN_BACKOFF_SECONDS, cap=MAX_BACKOFF_SECONDS, retry_after=retry_after)
    return min(math.ceil(wait), MAX_BACKOFF_SECONDS)  # whole seconds (VisibilityTimeout), never shorter


def cache_key_for_id(provider: str, scheme: str, value: str) -> str:
    """Cache key of an id look-up at one provider."""
    return f"{provider}#id#{scheme}:{value}"


def cache_key_for_name(provider: str, name: str) -> str:
    """Cache key of a name search at one provider: the normalised name, so spelling variants share it."""
    return f"{provider}#name#{names.name_key(name) or name.strip().casefold()}"


def review_event_id(customer_key: str, company: Company) -> str:
    """Stable id of the review-flag event: one fact per customer, company and status."""
    return f"{customer_key}:review:{company.source}:{company.source_id}:{company.status.value}"
