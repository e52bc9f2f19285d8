"""Inbound partner webhook bodies (Standard Webhooks envelope: type, timestamp, data)."""
from __future__ import annotations

from typing import Literal

from schemas.common import Strict, Timestamp
from schemas.registration import RegistrationCreate


class OpportunityRegistered(Strict):
    """``POST /v1/partners/{partner_id}/opportunities`` body, signed per Standard Webhooks."""

    type: Literal["opportunity.registered"]
    timestamp: Timestamp
    data: RegistrationCreate
