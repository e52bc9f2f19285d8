"""Standard Webhooks v1 symmetric signatures (HMAC-SHA256): sign, verify, make secrets.

Follows the Standard Webhooks spec v1.0.0 (standard-webhooks/standard-webhooks,
``spec/standard-webhooks.md``): signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``,
the key is the base64-decoded secret without its ``whsec_`` prefix, and ``webhook-signature`` is a
space-separated list of ``<version>,<base64 signature>`` entries so that a sender can sign with an old
and a new secret while rotating. Only ``v1`` (symmetric) entries are checked; ``v1a`` (ed25519) entries
are skipped.

Stdlib only: this module sits on the partner-intake Lambda's cold-start path.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
import secrets as _secrets
from collections.abc import Mapping, Sequence

from connectors.errors import ConfigInvalidError, SignatureInvalidError

SECRET_PREFIX = "whsec_"
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
DEFAULT_TOLERANCE = 300  # seconds; the spec's recommended replay window

# ASCII digits only: str.isdigit() would also accept e.g. Arabic-Indic digits, which int() then parses.
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
# Base64 alphabet without padding; padding is normalised separately because senders drop it.
_B64_RE = re.compile(r"[A-Za-z0-9+/]*")
_MAX_SIGNATURE_ENTRIES = 16  # a rotation needs 2; bound the work an attacker can make us do


def generate_secret() -> str:
    """Make a new signing secret.

    Returns:
        ``whsec_`` + base64 of 32 random bytes (inside the spec's 24..64-byte range).
    """
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Sign one webhook delivery.

    Args:
        secret: The signing secret, with or without the ``whsec_`` prefix.
        msg_id: The ``webhook-id`` value.
        timestamp: The ``webhook-timestamp`` value, unix seconds.
        body: The exact raw body bytes that will be sent.

    Returns:
        The ``webhook-signature`` header value, ``"v1,<base64 signature>"``.

    Raises:
        ConfigInvalidError: The secret is empty or not base64.
        ValueError: ``msg_id`` is empty or contains ``.``, or ``timestamp`` is not a non-negative int.
    """
    if not msg_id or "." in msg_id:
        # The spec asks that ids carry no '.', otherwise id/timestamp/body boundaries become ambiguous.
        raise ValueError("msg_id must be non-empty and contain no '.'")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative int (unix seconds)")
    return "v1," + _signature(decode_secret(secret), msg_id, str(timestamp), body)


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    """Check a delivery's Standard Webhooks signature; return quietly when it is genuine.

    Args:
        secrets: Every currently valid secret for this sender (two during a rotation).
        headers: Request headers; names are matched case-insensitively.
        body: The raw request body, exactly as received (never re-serialised JSON).
        now: Current unix time in seconds (injected so tests and replays are deterministic).
        tolerance: Allowed clock difference in seconds, both into the past and the future.

    Raises:
        ConfigInvalidError: ``secrets`` is empty or one of them is not a usable base64 secret.
        SignatureInvalidError: With ``reason`` ``missing_header``, ``malformed_header``,
            ``stale_timestamp``, ``future_timestamp`` or ``no_matching_signature``.
    """
    if isinstance(secrets, str):
        # A bare str is a Sequence of characters; treating it as such would be a silent bug.
        raise TypeError("secrets must be a sequence of secrets, not a str")
    # Decode secrets first: a broken secret is our misconfiguration and must surface on every call,
    # not only on the requests that happen to get past the header checks.
    keys = [_key(s) for s in secrets]
    if not keys:
        raise ConfigInvalidError("no webhook secrets configured", reason="no_secrets")

    lowered = {str(k).lower(): v for k, v in headers.items()}
    msg_id = lowered.get(HEADER_ID)
    ts_text = lowered.get(HEADER_TIMESTAMP)
    sig_header = lowered.get(HEADER_SIGNATURE)
    if not msg_id or not ts_text or not sig_header:
        raise SignatureInvalidError("missing_header")
    if "." in msg_id:
        raise SignatureInvalidError("malformed_header")

    ts_text = ts_text.strip()
    if not _TIMESTAMP_RE.fullmatch(ts_text):
        raise SignatureInvalidError("malformed_header")
    timestamp = int(ts_text)
    if timestamp < now - tolerance:
        raise SignatureInvalidError("stale_timestamp")
    if timestamp > now + tolerance:
        raise SignatureInvalidError("future_timestamp")

    entries = sig_header.split()[:_MAX_SIGNATURE_ENTRIES]
    if not any("," in entry for entry in entries):
        raise SignatureInvalidError("malformed_header")
    # Entries of other versions (v1a ed25519, future ones) are skipped: we only hold symmetric secrets.
    offered = [_as_bytes(entry[3:]) for entry in entries if entry.startswith("v1,")]

    expected = [_signature(key, msg_id, ts_text, body).encode("ascii") for key in keys]
    matched = False
    # Compare every pair without an early exit, so timing reveals neither which entry nor which
    # secret matched.
    for candidate in offered:
        for exp in expected:
            matched |= hmac.compare_digest(candidate, exp)
    if not matched:
        raise SignatureInvalidError("no_matching_signature")


def _as_bytes(value: str) -> bytes:
    # compare_digest refuses non-ASCII str; errors="replace" keeps junk comparable (and never equal to
    # a real base64 signature).
    return value.encode("utf-8", errors="replace")


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """``base64(HMAC-SHA256(key, "{msg_id}.{timestamp}." + body))``, the spec's signature text.

    The key's HMAC object is made once per key (:func:`_keyed`) and copied per message: ``hmac.digest`` sets
    OpenSSL's HMAC up anew on every call (issue 15 item 2). The body is fed where it lies instead of copied behind
    its prefix, and the base64 encoder itself writes the text (tests/unit/connectors/test_standard_webhooks.py
    compares all of it with ``hmac.new``)."""
    mac = _keyed(key).copy()
    mac.update(f"{msg_id}.{timestamp}.".encode())
    mac.update(body)
    return binascii.b2a_base64(mac.digest(), newline=False).decode("ascii")


@functools.lru_cache(maxsize=64)
def _keyed(key: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed with ``key``, fed nothing. Never updated: :func:`_signature` copies it."""
    return hmac.new(key, digestmod="sha256")


def decode_secret(secret: str) -> bytes:
    """Turn a ``whsec_`` secret (prefix, padding optional) into HMAC key bytes.

    Raises:
        ConfigInvalidError: The secret is empty or not standard base64; the message never contains it.
    """
    if not isinstance(secret, str):
        raise ConfigInvalidError("webhook secret must be a str", reason="secret_invalid")
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    # Senders publish secrets both padded and unpadded (upstream tests accept both), so strip and
    # re-add padding before a strict decode.
    core = raw.rstrip("=")
    if not core or not _B64_RE.fullmatch(core) or len(core) % 4 == 1:
        # Never put the secret itself in the message.
        raise ConfigInvalidError("webhook secret is empty or not base64", reason="secret_invalid")
    try:
        return base64.b64decode(core + "=" * (-len(core) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigInvalidError("webhook secret is not base64", reason="secret_invalid") from exc


# The HMAC key of a secret, decoded once per process and secret (issue 15 item 2, session 7: the check is ~10 % of a
# verification). Only keys that decode are kept: a broken secret raises ConfigInvalidError on every call.
_key = functools.lru_cache(maxsize=64)(decode_secret)
