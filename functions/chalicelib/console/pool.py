"""The pool (公海) as the console lists it: rows of the API's ``GET /v1/pool`` answer, and the caller's holding room.

Only the fields a rep needs to decide whether to claim are passed to the page (the API's pool view already
leaves out contacts and background). Claiming goes through the API (``POST /v1/registrations/{id}/claim``).
"""
from __future__ import annotations


def rows(items: list[dict], *, q: str = "") -> list[dict]:
    """The page rows of the API's pool items, keeping those whose customer name contains ``q`` (case-insensitive)."""
    wanted = q.strip().casefold()
    out = []
    for r in items:
        c, money = r.get("customer") or {}, (r.get("project") or {}).get("expected_amount") or {}
        if wanted and wanted not in (c.get("name") or "").casefold():
            continue
        out.append({"id": r["id"], "customer": c.get("name"), "region": c.get("region"), "industry": c.get("industry"),
                    "amount": f"{money.get('amount', '')} {money.get('currency', '')}".strip(),
                    "updated_at": r.get("updated_at")})
    return out


def holding(principal) -> dict | None:
    """The caller's own stock against their holding limit (持有上限), for the countdown strip."""
    from chalicelib.domain import ownership as dom
    from chalicelib.store import ownership as store

    ref = dom.holder_of(principal)
    prof = store.profile(ref)
    if prof is None:
        return None
    from chalicelib.rules import ownership_rules

    limit = dom.holding_limit(ownership_rules(), prof)
    from chalicelib.store.holders import held_count

    held = held_count(ref)
    return {"held": held, "limit": limit.value, "room": max(limit.value - held, 0)}
