"""What a viewer may see: the one place every outward view passes through. Pure.

A partner is an outside company competing with other partners and with the vendor's own reps, so a partner
never learns who else holds or registered a customer: no other party's ids, names, registration ids, owner
kinds or the dates of their holding — nor the vendor's org structure: no team id (not even its own channel team's)
in a registration, an event or a refusal. It learns ``protected`` / ``yours`` / ``free`` and what it did itself.
Staff (reps, managers, admins: ``Role``) see what their read access allows (``domain.access.can_read``),
including the dedup evidence kept in audit lines' ``evidence``.

Every outward view is built here:

- :func:`registration` — reads and list items (audit reasons, check reports, owner, actors);
- :func:`verdict` — the dedup verdict and the pre-check;
- :func:`ownership` — the holding view;
- :func:`event` — each notification and partner callback, per recipient (``domain.notifications``);
- :func:`refusal` — error messages that could name a holder.

Free text written by staff (a reject reason, an approval note, a lost reason, an extension reason) is the one
thing this module cannot check: a manager may write the competitor's name in it. So the rule is by author, not
by content: a partner reads a reason only when it wrote it itself, when the system wrote it (our own texts, which
name nobody), or when staff marked it for the partner (``share_reason`` on a rejection: the audit line's
``shared``, the event's ``reason_shared``). Every other reason is withheld (``null``) from partners.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

REDACTED = "redacted"
# Audit actions that move a holding between others; a partner who is not the new holder sees the move
# happened (its registration is no longer its own) but not by or to whom, nor why. Decisions on its own
# registration (approved, rejected: by its reviewers, its own contacts) keep their actor and reason.
OWNERSHIP_ACTIONS = frozenset({"claimed", "assigned", "transferred", "offboarded", "extended", "released",
                               "reclaimed"})
# Event fields that only ever name staff or other parties.
_STAFF_ONLY_EVENT_FIELDS = ("notify", "approvers", "recipients", "evidence", "previous_owner")
# The vendor's model of a deal's chances (issue 19) is the vendor's own assessment, not the partner's.
_STAFF_ONLY_SCORES = ("model_probability", "model_version")


@dataclass(frozen=True)
class Viewer:
    """Who looks: ``kind`` is ``partner`` or ``user``; staff are users (any role)."""

    kind: str
    id: str

    @property
    def is_partner(self) -> bool:
        return self.kind == "partner"

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def of(cls, principal: Any) -> Viewer:
        kind = getattr(principal.kind, "value", principal.kind)
        return cls(str(kind), principal.id)

    @classmethod
    def from_ref(cls, ref: str) -> Viewer:
        kind, _, ident = ref.partition(":")
        return cls(kind, ident)


def _is_self_or_system(viewer: Viewer, kind: Any, ident: Any) -> bool:
    kind = getattr(kind, "value", kind)
    return kind == "system" or (kind == viewer.kind and ident == viewer.id)


def _is_viewer(viewer: Viewer, party: Any) -> bool:
    """``party`` (schemas.common.Actor or None) is the viewer itself."""
    return party is not None and getattr(party.kind, "value", party.kind) == viewer.kind and party.id == viewer.id


def _is_viewer_party(viewer: Viewer, party: Any) -> bool:
    """``party`` (an event's ``{kind, id}`` dict) is the viewer itself."""
    return isinstance(party, Mapping) and party.get("kind") == viewer.kind and party.get("id") == viewer.id


def reason_for(viewer: Viewer, actor_kind: Any, actor_id: Any, reason: Any, *, shared: Any) -> Any:
    """A free-text reason as ``viewer`` may read it: staff always; a partner its own, the system's, and those
    staff marked shared; else None."""
    if reason is None or not viewer.is_partner or shared or _is_self_or_system(viewer, actor_kind, actor_id):
        return reason
    return None


def opaque(value: str) -> str:
    """A stable stand-in for an id the viewer may not see (so receivers can still deduplicate on it)."""
    return "ref_" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:24]


# --- registrations -------------------------------------------------------------------------------------------

def registration(viewer: Viewer, reg: Any) -> Any:
    """``reg`` (schemas.registration.Registration) as ``viewer`` may see it. The caller has checked read
    access; this decides which parts of a readable registration are shown."""
    if not viewer.is_partner:
        return reg
    from schemas.common import Actor, PrincipalKind

    audit = []
    for line in reg.audit:
        own = _is_self_or_system(viewer, line.actor.kind, line.actor.id)
        move = line.action in OWNERSHIP_ACTIONS and not own
        hide_actor = move or (not own and line.actor.id == reg.owner_id)  # the holder, if not the viewer
        audit.append(line.model_copy(update={
            "evidence": None,
            "actor": Actor(kind=PrincipalKind.USER, id=REDACTED) if hide_actor else line.actor,
            "reason": None if move else reason_for(viewer, line.actor.kind, line.actor.id, line.reason,
                                                   shared=line.shared),
        }))
    own = reg.owner_id == viewer.id and reg.owner_kind in (None, "partner")
    return reg.model_copy(update={"owner": reg.owner if own else None, "audit": audit, "team_id": None})


def pooled(reg: Any) -> Any:
    """A registration in the pool (公海) as a rep browsing the pool sees it: the customer and the project,
    nothing of the previous owner (contacts, competitors, background, external ref, submitter, audit)."""
    from schemas.common import Actor, PrincipalKind

    project = reg.project.model_copy(update={"background": None})
    return reg.model_copy(update={
        "contacts": [], "competitors": [], "external_ref": None, "partner_id": None, "owner": None,
        "submitter": Actor(kind=PrincipalKind.USER, id=REDACTED), "project": project, "audit": [],
        "first_claim": None,
    })


def decision(viewer: Viewer, answer: Any) -> Any:
    """A workflow route's answer (schemas.workflow.Decision)."""
    if viewer.is_partner and answer.owner is not None and not _is_viewer(viewer, answer.owner):
        return answer.model_copy(update={"owner": None})
    return answer


# --- dedup ---------------------------------------------------------------------------------------------------

ClosedAnswer = Literal["free", "yours", "protected"]
_CLOSED: dict[str, ClosedAnswer] = {"conflict": "protected", "duplicate": "yours"}


def closed_answer(outcome: str) -> ClosedAnswer:
    """The only dedup fact a partner learns."""
    return _CLOSED.get(outcome, "free")


def verdict(viewer: Viewer, verdict_model: Any) -> Any:
    """schemas.dedup.DedupAnswer for ``viewer``: partners the closed answer only, staff with the evidence."""
    from schemas.dedup import DedupAnswer

    answer = closed_answer(verdict_model.outcome.value)
    if viewer.is_partner:
        return DedupAnswer(answer=answer)
    return DedupAnswer(answer=answer, verdict=verdict_model)


# --- ownership -----------------------------------------------------------------------------------------------

def ownership(viewer: Viewer, view: Any) -> Any:
    """schemas.ownership.Ownership: a partner sees its own holding in full; someone else's only as held or
    pooled, without who, since when or until when."""
    if not viewer.is_partner or _is_viewer(viewer, view.owner):
        if viewer.is_partner and view.previous_owner is not None and not _is_viewer(viewer, view.previous_owner):
            return view.model_copy(update={"previous_owner": None})
        return view
    return view.model_copy(update={
        "owner": None, "granted_at": None, "extension_days": 0, "last_activity_at": None, "due_at": None,
        "due_reason": None, "cooldown_until": None,
        "previous_owner": view.previous_owner if _is_viewer(viewer, view.previous_owner) else None,
    })


# --- events (notifications and partner callbacks) ------------------------------------------------------------

def event(viewer: Viewer, evt: Mapping[str, Any]) -> dict[str, Any]:
    """One event (a JSON-like dict) as ``viewer`` receives it. Staff get it whole; a partner gets its own
    registration's facts and, about anyone else's registration (a conflict with its holding), only the
    customer and project it already holds, under opaque ids."""
    out = dict(evt)
    if not viewer.is_partner:
        return out
    for name in (*_STAFF_ONLY_EVENT_FIELDS, "team_id"):  # a team id is the vendor's org structure
        out.pop(name, None)
    actor = out.get("actor") or {}
    reg = out.get("registration")
    if not _is_self_or_system(viewer, actor.get("kind"), actor.get("id")):
        move = str(out.get("type", "")).split(".")[-1] in OWNERSHIP_ACTIONS
        foreign = not isinstance(reg, Mapping) or reg.get("partner_id") != viewer.id
        holder = isinstance(reg, Mapping) and isinstance(reg.get("owner"), Mapping) and (
            (actor.get("kind"), actor.get("id")) == (reg["owner"].get("kind"), reg["owner"].get("id")))
        if move or foreign or holder:
            out["actor"] = {"kind": "user", "id": REDACTED}
        if move or reason_for(viewer, actor.get("kind"), actor.get("id"), out.get("reason"),
                              shared=out.get("reason_shared")) is None:
            out.pop("reason", None)
    if isinstance(reg, Mapping):
        reg = dict(reg)
        for name in (*_STAFF_ONLY_SCORES, "team_id"):
            reg.pop(name, None)
        if reg.get("partner_id") != viewer.id:
            # someone else's registration (e.g. a conflict with this partner's holding)
            hidden = str(reg.get("id") or "")
            for name in ("submitter", "partner_id", "owner", "team_id", "customer_key", "version",
                         "project_title", "expected_amount", "currency"):
                reg.pop(name, None)
            reg["id"] = opaque(hidden) if hidden else REDACTED
            reg["source"] = None
            if out.get("subject") == hidden:
                out["subject"] = reg["id"]
            if hidden and hidden in str(out.get("id", "")):
                out["id"] = opaque(str(out["id"]))
            reg = {k: v for k, v in reg.items() if v is not None}
        elif reg.get("owner") is not None and not _is_viewer_party(viewer, reg.get("owner")):
            reg.pop("owner", None)
        out["registration"] = reg
    if out.get("holder") is not None and not _is_viewer_party(viewer, out.get("holder")):
        out.pop("holder", None)
        out.pop("conflict_with", None)
    if out.get("owner") is not None and not _is_viewer_party(viewer, out.get("owner")):
        out.pop("owner", None)
    return out


# --- error messages ------------------------------------------------------------------------------------------

GENERIC_REFUSALS = {
    "wrong_status": "the registration is not in a state that allows this",
    "cooldown": "you may not claim this registration yet",
    "forbidden": "you may not do this",
    "conflict": "the registration changed meanwhile; read it again",
    "unknown_holder": "unknown holder",
    "team_deactivated": "the team named is deactivated; name another",
}


def refusal(viewer: Viewer, code: str, message: str) -> str:
    """An error message for ``viewer``: staff get the full text; a partner gets a fixed text per code for
    refusals whose text may name a holder (limits name only the partner's own limit)."""
    if not viewer.is_partner or code not in GENERIC_REFUSALS:
        return message
    return GENERIC_REFUSALS[code]
