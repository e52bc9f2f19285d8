"""The pool (公海) as the console lists it: registrations reclaimed with no holder, newest first.

A thin read of the registrations store's status index until the API has its own pool listing; only the
fields a rep needs to decide whether to claim are passed to the page (no contacts, no background).
Claiming goes through the API (``POST /v1/registrations/{id}/claim``) like everything else.
"""
from __future__ import annotations

from chalicelib.domain.ownership import POOL


def page(*, limit: int = 50) -> list[dict]:
    from chalicelib.store import registrations

    items, _ = registrations.list_page("by_status", POOL.value, status=None, limit=limit, cursor=None)
    return [{"id": r.id, "customer": r.customer.name, "region": r.customer.region, "industry": r.customer.industry,
             "amount": f"{r.project.expected_amount.amount} {r.project.expected_amount.currency}",
             "updated_at": r.updated_at.isoformat()} for r in items if r.owner_id is None]


def holding(principal) -> dict | None:
    """The caller's own stock against their holding limit (持有上限), for the countdown strip."""
    from chalicelib.domain import ownership as dom
    from chalicelib.store import ownership as store

    ref = dom.holder_of(principal)
    prof = store.profile(ref)
    if prof is None:
        return None
    limit = dom.holding_limit(store.rules(), prof)
    held = store.held_count(ref)
    return {"held": held, "limit": limit.value, "room": max(limit.value - held, 0)}
