"""``make smoke`` (``bench.cold_start --check``) posts examples/opportunity.json with the envelope time of now: the
file's fixed 2026-11-27 would be refused (422 ``stale_timestamp``, more than a year old) from 2027-11-28 and the
smoke, one of ``make test``'s last steps, would fail because the calendar moved."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from types import SimpleNamespace

from chalicelib import clock


def test_the_smokes_webhook_carries_the_envelope_time_of_the_clock_it_runs_on():
    from bench.cold_start import World

    clock.set_clock(clock.FrozenClock(datetime(2031, 7, 9, 15, 4, 5, 678, tzinfo=UTC)))
    try:
        event = World.webhook(SimpleNamespace(sent=0, partner="bench", secret="whsec_" + "QUFB" * 8), 7)
    finally:
        clock.set_clock(clock.SystemClock())
    raw = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"].encode()
    body = json.loads(raw)
    assert body["timestamp"] == "2031-07-09T15:04:05Z"
    assert body["data"]["external_ref"] == "BENCH-7"
