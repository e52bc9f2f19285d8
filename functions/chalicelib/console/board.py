"""The board's cards (商机看板卡片) from the API's registration list: one card per approved registration, in its
stage's column, with customer, amount, owner, days in stage and protection time left. Pure.

The columns' counts and amounts come from the aggregates (``GET /v1/pipeline/board``); the cards are a bounded
page of ``GET /v1/registrations?status=approved`` (the API's access rules and redaction apply), filtered here by
partner, owner, region and industry (the team filter is the API's).
"""
from __future__ import annotations

from datetime import datetime

FILTERS = ("team", "partner", "owner", "region", "industry")
MAX_CARDS = 60  # cards shown (each reads its holding for the protection countdown)


def stage_since(reg: dict) -> str | None:
    """When the registration entered its current stage: its last stage move, else its last approval."""
    for line in reversed(reg.get("audit") or []):
        if line.get("action") == "stage_changed" or line.get("to_status") == "approved":
            return line.get("at")
    return None


def _days_since(at: str | None, now: datetime) -> int | None:
    if not at:
        return None
    return max(int((now - datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds() // 86400), 0)


def _owner(reg: dict) -> str | None:
    """The owner's id: API answers name the owner as ``{kind, id}`` (issue 12 item 16)."""
    owner = reg.get("owner")
    return owner.get("id") if isinstance(owner, dict) else None


def matches(reg: dict, filters: dict[str, str]) -> bool:
    """True when ``reg`` passes the partner/owner/region/industry filters (exact id; substring for places)."""
    c = reg.get("customer") or {}
    if filters.get("partner") and reg.get("partner_id") != filters["partner"]:
        return False
    if filters.get("owner") and _owner(reg) != filters["owner"]:
        return False
    for key in ("region", "industry"):
        wanted = (filters.get(key) or "").strip().casefold()
        if wanted and wanted not in (c.get(key) or "").casefold():
            return False
    return True


def cards(items: list[dict], filters: dict[str, str], now: datetime) -> list[dict]:
    """Card rows of the approved registrations that pass the filters, longest in stage first."""
    out = []
    for reg in items:
        if reg.get("status") != "approved" or not matches(reg, filters):
            continue
        money = (reg.get("project") or {}).get("expected_amount") or {}
        out.append({"id": reg["id"], "customer": (reg.get("customer") or {}).get("name"),
                    "amount": f"{money.get('amount', '')} {money.get('currency', '')}".strip(),
                    "owner": _owner(reg), "stage": reg.get("sales_stage"),
                    "days_in_stage": _days_since(stage_since(reg), now), "partner": reg.get("partner_id")})
    out.sort(key=lambda r: -(r["days_in_stage"] or 0))
    return out[:MAX_CARDS]


def protection_left(due_at: str | None, now: datetime) -> int | None:
    """Whole days until the holding's due time (0 when due), None when it has none."""
    if not due_at:
        return None
    left = (datetime.fromisoformat(due_at.replace("Z", "+00:00")) - now).total_seconds()
    return max(int(left // 86400), 0)
