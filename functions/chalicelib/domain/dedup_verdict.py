"""The holder-aware verdict on a registration (or a pre-check). Pure.

"Same company" is not enough to call 撞单: what matters is who holds the customer. For the customers the
rules say are the same (a ``block`` or ``flag`` hit), look at their *active* registrations (submitted,
pending review, approved) other than this one:

* another party holds an approved registration (``owner_id`` set) whose project overlaps -> ``conflict``
  (review it with the evidence; the holder and their manager are told);
* otherwise, this party already has an active overlapping registration -> ``duplicate``;
* otherwise -> ``may_claim`` (nobody holds it; earlier pending registrations of others are listed as
  evidence, first come first served decides at review);
* no same-customer candidate at all -> ``clear``.

A registration never matches itself: a candidate customer whose only registration is this one (its own
index entry, written when it was first judged, found again after an edit, a resubmission or an
``opportunity.updated``) is dropped before anything is decided, so it is neither evidence nor a rule hit.

Projects overlap when their product lists share a product (case-insensitive), or when either lists none
(nothing says they differ). Ownership itself (protection periods, transfers) is the ownership issue's;
this module reads only ``status`` and ``owner_id``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from chalicelib.domain.dedup_match import Match
from chalicelib.domain.dedup_rules import Action, is_duplicate_action, strongest

__all__ = ["ACTIVE_STATUSES", "Holding", "Outcome", "PartnerAnswer", "Verdict", "judge", "partner_answer",
           "projects_overlap"]

ACTIVE_STATUSES = frozenset({"submitted", "pending_review", "approved"})
HELD_STATUS = "approved"


class Outcome(StrEnum):
    CLEAR = "clear"
    MAY_CLAIM = "may_claim"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


class PartnerAnswer(StrEnum):
    """All a partner learns: the closed answer of the pre-check."""

    FREE = "free"
    YOURS = "yours"
    PROTECTED = "protected"


@dataclass(frozen=True)
class Holding:
    """What the verdict needs to know about another registration of a candidate customer."""

    id: str
    customer_key: str
    status: str
    owner_id: str | None
    partner_id: str | None
    submitter_id: str
    products: tuple[str, ...] = ()
    owner_kind: str | None = None  # user | partner, with owner_id

    @property
    def held(self) -> bool:
        return self.status == HELD_STATUS and bool(self.owner_id)

    @property
    def parties(self) -> frozenset[str]:
        """Who this registration counts as "yours" for: its holder, and the partner it came through."""
        if self.held:
            return frozenset(p for p in (self.owner_id, self.partner_id) if p)
        return frozenset(p for p in (self.partner_id or self.submitter_id, self.owner_id) if p)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    action: Action | None
    rule: str | None
    matches: tuple[Match, ...]
    duplicate_of: str | None = None
    conflict_with: tuple[str, ...] = ()
    holder_id: str | None = None
    earlier: tuple[str, ...] = field(default=())


def projects_overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    """True when the product lists share an item, or either is empty."""
    left = {p.strip().casefold() for p in a if p.strip()}
    right = {p.strip().casefold() for p in b if p.strip()}
    return not left or not right or bool(left & right)


def judge(*, parties: Iterable[str], products: Sequence[str], matches: Sequence[Match],
          holdings: Mapping[str, Sequence[Holding]], self_id: str | None = None) -> Verdict:
    """The verdict for one registration or pre-check.

    Args:
        parties: who "you" are: the submitting partner (or rep) and the owner, if any.
        products: the project's products.
        matches: scored candidates (``dedup_match.score_candidates``), refs are customer keys.
        holdings: registrations of each candidate customer, by customer key.
        self_id: this registration's id, excluded from the holdings.
    """
    parties = frozenset(p for p in parties if p)
    if self_id is not None:
        matches = [m for m in matches if not _only_itself(holdings.get(m.ref, ()), self_id)]
    best = strongest(m.hit for m in matches)
    same = [m for m in matches if m.hit is not None and is_duplicate_action(m.hit.action)]
    action, rule = (best.action, best.rule) if best else (None, None)
    found = tuple(matches)
    if not same:
        return Verdict(Outcome.CLEAR, action, rule, found)
    active = [h for m in same for h in holdings.get(m.ref, ())
              if h.id != self_id and h.status in ACTIVE_STATUSES and projects_overlap(products, h.products)]
    conflicts = [h for h in active if h.held and not (h.parties & parties)]
    if conflicts:
        return Verdict(Outcome.CONFLICT, action, rule, found, conflict_with=tuple(h.id for h in conflicts),
                       holder_id=conflicts[0].owner_id)
    mine = [h for h in active if h.parties & parties]
    if mine:
        return Verdict(Outcome.DUPLICATE, action, rule, found, duplicate_of=mine[0].id)
    return Verdict(Outcome.MAY_CLAIM, action, rule, found, earlier=tuple(h.id for h in active))


def _only_itself(registrations: Sequence[Holding], self_id: str) -> bool:
    """True when every registration of a candidate customer is the one being judged (and there is one)."""
    return bool(registrations) and all(h.id == self_id for h in registrations)


def partner_answer(verdict: Verdict) -> PartnerAnswer:
    """The closed answer a partner may see: nothing about who holds what, or why."""
    if verdict.outcome is Outcome.CONFLICT:
        return PartnerAnswer.PROTECTED
    if verdict.outcome is Outcome.DUPLICATE:
        return PartnerAnswer.YOURS
    return PartnerAnswer.FREE
