"""Duplicate and conflict detection (撞单): the work behind ``handlers/duplicates.py``.

- ``judge`` (the ``dedup`` queue: registration.submitted, registration.updated): the verdict stored once as its
  own item (``dedup_verdicts``; candidates with scores, the rule that fired, the outcome) — re-judged and
  replaced for an edit or a resubmission — then the customer added to the blocking index (idempotent), then on
  ``conflict`` a ``registration.conflict_detected`` event (id '<registration id>:conflict', re-sent on
  redelivery; consumers deduplicate), and last a ``registration.dedup_checked`` event (id
  '<registration id>:dedup:<version>') that the workflow's auto-checks wait for. The registration itself is
  never written, so a failure here never loses or blocks it.
- ``assess`` + ``verdict_model``: candidates and verdict for a customer, also for the live pre-check
  (``POST /v1/duplicates/check``). Reads only; bounded (see store.dedup).
"""
from __future__ import annotations

import logging
from typing import Any, NamedTuple

from chalicelib.rules import dedup_rules

logger = logging.getLogger("dealreg.dedup")
SYSTEM_ACTOR_ID = "dedup"


class Assessment(NamedTuple):
    verdict: Any
    held: dict
    exact: list[str]
    forms: Any
    heads: Any = None  # store.dedup.Heads when judging for the index (``index_as``), for index_customer


def assess(name: str, registry_ids, website, emails, phones, products, parties, self_id=None,
           index_as: str | None = None) -> Assessment:
    """Candidates -> scores and rules -> holdings -> verdict.

    ``index_as``: the customer key this name is indexed under next (``judge``): the index heads the indexing
    reads are read with the candidates' heads, in one consistent BatchGetItem (``store.dedup.judging_heads``).
    """
    from chalicelib.domain import dedup_keys, dedup_match, dedup_verdict
    from chalicelib.store import dedup as store

    forms = dedup_keys.name_forms(name)
    exact = dedup_keys.exact_keys(name, registry_ids, website) + dedup_keys.contact_keys(emails, phones)
    heads = store.judging_heads(index_as, forms, exact) if index_as is not None else None
    found = store.candidates(forms, exact, heads=heads)
    rules = dedup_rules()
    matches = dedup_match.score_candidates(forms, exact, ((c.ref, c.name, c.keys, None) for c in found), rules)
    same = [m.ref for m in matches if m.hit is not None and m.hit.action.value in ("block", "flag")]
    held = store.holdings(same)
    verdict = dedup_verdict.judge(parties=parties, products=products, matches=matches, holdings=held,
                                  self_id=self_id)
    return Assessment(verdict, held, exact, forms, heads)


def verdict_model(verdict, held, *, registration_id=None, first_claim=None, now=None):
    from chalicelib.domain.dedup_verdict import ACTIVE_STATUSES
    from schemas.dedup import DedupVerdict, DuplicateCandidate

    candidates = []
    for m in verdict.matches:
        fields = [f.value for f in m.hit.fields] if m.hit else []
        candidates.append(DuplicateCandidate(
            customer_key=m.ref, name=m.name, score=m.score, rule=m.hit.rule if m.hit else None,
            action=m.hit.action.value if m.hit else None, matched_fields=fields,
            registration_ids=[h.id for h in held.get(m.ref, ()) if h.status in ACTIVE_STATUSES
                              and h.id != registration_id]))
    return DedupVerdict(
        registration_id=registration_id, outcome=verdict.outcome.value,
        duplicate=verdict.outcome.value in ("duplicate", "conflict"), conflict=verdict.outcome.value == "conflict",
        action=verdict.action.value if verdict.action else None, rule=verdict.rule,
        duplicate_of=verdict.duplicate_of, conflict_with=list(verdict.conflict_with), holder=_holder(verdict, held),
        earlier=list(verdict.earlier), first_claim=first_claim, candidates=candidates, computed_at=now)


def _holder(verdict, held):
    """The verdict's holder as {kind, id} (the kind from the holding that made it a conflict)."""
    from schemas.common import Actor

    if not verdict.holder_id:
        return None
    kinds = [h.owner_kind for hs in held.values() for h in hs
             if h.id in verdict.conflict_with and h.owner_id == verdict.holder_id and h.owner_kind]
    return Actor(kind=kinds[0] if kinds else "user", id=verdict.holder_id)


def _parties(reg) -> list[str]:
    return [p for p in (reg.partner_id or reg.submitter.id, reg.owner_id) if p]


def judge(evt) -> None:
    """Judge the registration a ``registration.submitted``/``.updated`` event names, store the verdict, index
    its customer, and announce ``conflict_detected`` (on a conflict) and ``dedup_checked``."""
    from chalicelib import clock
    from chalicelib.store import dedup as store, dedup_verdicts
    from schemas.dedup import DedupVerdict

    rejudge = _rejudge(evt)
    named = getattr(evt, "registration", None)  # the snapshot: its customer's registry facts are read with it
    reg, stored, facts = dedup_verdicts.read_for_judging(evt.subject, verdict=not rejudge,
                                                         customer_key=named.customer_key if named else None)
    if reg is None:
        return
    now = clock.now()
    if rejudge and reg.status.value not in ("submitted", "pending_review"):
        return  # an edit of a rejected registration is judged when it is resubmitted
    customer = reg.customer
    ids = [(r.scheme.value, r.value) for r in customer.registry_ids]
    emails = [c.email for c in reg.contacts]
    phones = [c.phone for c in reg.contacts]
    if stored is None:
        verdict, held, exact, forms, heads = assess(customer.name, ids, customer.website, emails, phones,
                                                     reg.project.products, _parties(reg), self_id=reg.id,
                                                     index_as=reg.customer_key)
        model = verdict_model(verdict, held, registration_id=reg.id, first_claim=reg.first_claim, now=now)
        dumped = model.model_dump(mode="json")
        # A newer judgement replaces an older one (never the reverse: see dedup_verdicts.replace_verdict); a
        # first one is stored once. When ours was not stored, announce what was.
        saved = (dedup_verdicts.replace_verdict if rejudge else dedup_verdicts.save_verdict)(
            reg.id, model.outcome.value, dumped, now=now)
        stored, judged = (dumped, model) if saved else (dedup_verdicts.get_verdict(reg.id), None)
    else:
        from chalicelib.domain import dedup_keys

        heads, judged = None, None
        forms = dedup_keys.name_forms(customer.name)
        exact = dedup_keys.exact_keys(customer.name, ids, customer.website) + dedup_keys.contact_keys(emails, phones)
    # Indexed after judging, so the registration's own customer name is a candidate only when an earlier
    # registration indexed it.
    store.index_customer(reg.customer_key, customer.name, forms, exact, now=now, heads=heads)
    if judged is None:
        judged = DedupVerdict.model_validate(stored)
    if judged.conflict:
        _announce_conflict(reg, judged, now, facts)
    _announce_checked(reg, judged, now, facts)


def _rejudge(evt) -> bool:
    """Edits and resubmissions are judged again (the customer, or who holds it, may have changed); a first
    submission is judged once and its stored verdict reused on redelivery."""
    return evt.type == "registration.updated" or (
        evt.type == "registration.submitted" and evt.from_status is not None and evt.from_status.value == "rejected")


def _announce_checked(reg, verdict, now, facts=None) -> None:
    """Tell the workflow that this version of the registration has its verdict; its auto-checks wait for
    this. The id is stable per registration version, so a redelivery re-sends the same event."""
    from chalicelib.domain.events import snapshot
    from chalicelib.store.publisher import publish
    from chalicelib.store.scoring import attribute_scorer
    from schemas.common import Actor, PrincipalKind
    from schemas.events import RegistrationDedupChecked

    publish([RegistrationDedupChecked(
        id=f"{reg.id}:dedup:{reg.version}", occurred_at=verdict.computed_at or now, subject=reg.id,
        actor=Actor(kind=PrincipalKind.SYSTEM, id=SYSTEM_ACTOR_ID), registration=snapshot(reg, attribute_of=attribute_scorer(facts)),
        outcome=verdict.outcome.value, action=verdict.action.value if verdict.action else None, rule=verdict.rule,
    )])


def _announce_conflict(reg, verdict, now, facts=None) -> None:
    from chalicelib.domain.events import snapshot
    from chalicelib.store import directory
    from chalicelib.store.publisher import publish
    from chalicelib.store.routing import team_manager_ids as team_managers  # none for a deactivated team
    from chalicelib.store.scoring import attribute_scorer
    from schemas.common import Actor, PrincipalKind
    from schemas.events import RegistrationConflictDetected

    notify: list[str] = []
    recipients: list[Actor] = []

    holder = verdict.holder
    if holder is not None:
        user = directory.get_user(holder.id) if holder.kind.value == "user" else None
        partner = directory.get_partner(holder.id) if holder.kind.value == "partner" else None
        if user is not None:
            notify.append(holder.id)
            if user.manager_id:
                notify.append(user.manager_id)
            notify.extend(team_managers(user.team_id))
        elif partner is not None:  # a partner holds it: its callback and its channel team's managers
            recipients.append(holder)
            notify.extend(team_managers(partner.team_id))
    # ... and the new submitter's manager (a rep's manager, or a partner's channel team managers)
    submitter = directory.get_user(reg.submitter.id) if reg.submitter.kind.value == "user" else None
    if submitter is not None and submitter.manager_id:
        notify.append(submitter.manager_id)
    elif reg.submitter.kind.value == "partner":
        notify.extend(team_managers(reg.team_id))
    publish([RegistrationConflictDetected(
        id=f"{reg.id}:conflict", occurred_at=verdict.computed_at or now, subject=reg.id,
        actor=Actor(kind=PrincipalKind.SYSTEM, id=SYSTEM_ACTOR_ID),
        registration=snapshot(reg, attribute_of=attribute_scorer(facts)),
        conflict_with=verdict.conflict_with, holder=holder, notify=list(dict.fromkeys(notify)),
        recipients=recipients, rule=verdict.rule,
    )])


def _answer(verdict_outcome: str) -> str:
    from chalicelib.domain.visibility import closed_answer

    return closed_answer(verdict_outcome)
