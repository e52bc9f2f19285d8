"""The pool (公海) as the console lists it: registrations reclaimed with no holder, newest first.

A thin read of the registrations store's status index until the API has its own pool listing; only the
fields a rep needs to decide whether to claim are passed to the page (no contacts, no background).
Claiming goes through the API (``POST /v1/registrations/{id}/claim``) like everything else.
"""
from __future__ import annotations

from chalicelib.domain.ownership import POOL


SCAN_PAGES = 4  # filters look at the newest 400 pooled registrations at most: a bounded read per page view


def page(*, limit: int = 50, q: str = "", region: str = "", industry: str = "") -> list[dict]:
    """The newest pooled registrations matching the filters (substring, case-insensitive)."""
    from chalicelib.store import registrations

    wanted = [(f, v.strip().casefold()) for f, v in (("customer", q), ("region", region), ("industry", industry))
              if v and v.strip()]
    out: list[dict] = []
    cursor = None
    for _ in range(SCAN_PAGES):
        items, cursor = registrations.list_page("by_status", POOL.value, status=None, limit=100, cursor=cursor)
        for r in items:
            if r.owner_id is not None:
                continue
            row = {"id": r.id, "customer": r.customer.name, "region": r.customer.region,
                   "industry": r.customer.industry,
                   "amount": f"{r.project.expected_amount.amount} {r.project.expected_amount.currency}",
                   "updated_at": r.updated_at.isoformat()}
            if all(v in (row[f] or "").casefold() for f, v in wanted):
                out.append(row)
                if len(out) == limit:
                    return out
        if not cursor:
            break
    return out

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
