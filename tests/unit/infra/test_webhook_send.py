"""``dealreg webhook send`` stamps the envelope with a recent time unless told otherwise (the README tour sends
``examples/opportunity.json``, whose fixed 2026-11-27 the intake refuses as more than a year old from 2027-11-28)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "opportunity.json"
AT = datetime(2031, 7, 9, 15, 4, 5, tzinfo=UTC).timestamp()  # any day; the command reads time.time()


def test_the_stamp_is_the_start_of_today_by_default_or_now_or_the_files_or_given():
    from infra.cli import envelope_stamp

    assert envelope_stamp("today", AT) == "2031-07-09T00:00:00Z"
    assert envelope_stamp("now", AT + 0.9) == "2031-07-09T15:04:05Z"
    assert envelope_stamp("file", AT) is None
    assert envelope_stamp("2030-01-02T03:04:05+08:00", AT) == "2030-01-02T03:04:05+08:00"


def test_only_the_top_level_timestamp_changes_and_every_other_byte_is_kept():
    from infra.cli import with_envelope_stamp

    raw = EXAMPLE.read_bytes()
    stamped = with_envelope_stamp(raw, "2031-07-09T00:00:00Z")
    assert stamped is not None
    assert json.loads(stamped) == {**json.loads(raw), "timestamp": "2031-07-09T00:00:00Z"}
    old = json.dumps(json.loads(raw)["timestamp"]).encode()
    assert stamped == raw.replace(old, b'"2031-07-09T00:00:00Z"', 1)
    # what a re-serialisation would change stays as written: spacing, a number's text, a nested timestamp
    odd = b'{ "data" : {"timestamp": 1, "n": 1e-400} ,\n "timestamp":17, "type":"x"}'
    assert with_envelope_stamp(odd, "T") == b'{ "data" : {"timestamp": 1, "n": 1e-400} ,\n "timestamp":"T", "type":"x"}'


@pytest.mark.parametrize("raw", [b'[{"timestamp": "x"}]', b'{"data": {"timestamp": "x"}}', b'{"timestamp": 1, "timestamp": 2}',
                                 b'{"timestamp": "x"', b'{"timestamp" "x"}', b'{}', b'{"timestamp": "x"} trailing',
                                 b'\xff{"timestamp": "x"}', b'not json'])
def test_a_body_without_exactly_one_top_level_timestamp_is_not_touched(raw):
    from infra.cli import with_envelope_stamp

    assert with_envelope_stamp(raw, "T") is None


@pytest.fixture
def receiver():
    """A loopback HTTP server that answers 202 and keeps what it was sent."""
    from tests.functional.notification_receivers import Receiver

    server = Receiver(final_status=202, reply=b"{}")
    yield server
    server.close()


def test_the_example_is_sent_stamped_today_signed_as_sent_and_a_replay_sends_the_same_bytes(receiver, monkeypatch, capsys):
    from connectors.standard_webhooks import verify
    from infra import cli

    monkeypatch.setattr(cli.time, "time", lambda: AT)
    send = ["webhook", "send", str(EXAMPLE), "--partner", "demo", "--secret", "whsec_" + "QUFB" * 8, "--url", receiver.url,
            "--webhook-id", "msg_tour_1"]
    assert cli.main(send) == 0 and cli.main(send) == 0
    assert capsys.readouterr().out.startswith("HTTP 202 webhook-id=msg_tour_1")
    first, second = receiver.requests
    headers, body = first.headers, first.body
    assert json.loads(body)["timestamp"] == "2031-07-09T00:00:00Z" and second.body == body
    verify(["whsec_" + "QUFB" * 8], headers, body, now=int(AT))  # raises unless the signature covers what was sent
    assert cli.main([*send, "--timestamp", "file"]) == 0
    assert receiver.requests[-1].body == EXAMPLE.read_bytes()
