"""Standard Webhooks signing, checked two ways.

* Against the reference implementation (``standardwebhooks``, a dev-only dependency): it signs, we verify,
  and we sign, it verifies. These run everywhere; ``DEFAULT`` is our own message, signed by it.
* Against the upstream test vectors in the shared third-party corpus
  (``standard_webhooks/standard_webhooks_vectors.json``, read through tests/corpora.py; skipped without it).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import standard_webhooks as sw
from connectors.errors import ConfigInvalidError, PermanentError, SignatureInvalidError
from tests.corpora import corpora_root, params

VECTOR_PARTS = ("standard_webhooks", "standard_webhooks_vectors.json")
_VECTOR_FILE = corpora_root().joinpath(*VECTOR_PARTS)
VECTORS = json.loads(_VECTOR_FILE.read_text()) if _VECTOR_FILE.is_file() else {}
upstream = pytest.mark.corpus(*VECTOR_PARTS)
VALID = VECTORS.get("valid_vectors", [])
RUST = VALID[1] if len(VALID) > 1 else {}


def _reference_signature(secret: str, msg_id: str, timestamp: int, payload: str) -> str:
    """The reference implementation's signature header value (the oracle)."""
    from standardwebhooks.webhooks import Webhook

    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), payload)


# Our own message (not an upstream vector); its expected signature comes from the reference library.
_OWN_SECRET = "whsec_" + base64.b64encode(b"dealreg standard-webhooks test!!").decode()
DEFAULT = {
    "name": "dealreg_own",
    "secret": _OWN_SECRET,
    "msg_id": "msg_2hYw5dealreg",
    "timestamp": 1_733_000_000,
    "payload": '{"type":"registration.decided","data":{"id":"reg_01","verdict":"approved","名称":"演示"}}',
}
DEFAULT["expected_signature_header"] = _reference_signature(
    DEFAULT["secret"], DEFAULT["msg_id"], DEFAULT["timestamp"], DEFAULT["payload"]
)


def _vector(key: str, field: str = "values") -> list:
    return VECTORS.get(key, {}).get(field, [])


def _headers(msg_id: str, timestamp: int | str, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def _reason(exc_info: pytest.ExceptionInfo[SignatureInvalidError]) -> str:
    return exc_info.value.reason


# -- valid vectors with fixed timestamps -------------------------------------------------------------


@upstream
@pytest.mark.parametrize("vector", params(VALID, *VECTOR_PARTS), ids=lambda v: v["name"] if v else "absent")
def test_sign_reproduces_upstream_signature(vector: dict) -> None:
    got = sw.sign(vector["secret"], vector["msg_id"], vector["timestamp"], vector["payload"].encode())
    assert got == vector["expected_signature_header"]


@upstream
@pytest.mark.parametrize("vector", params(VALID, *VECTOR_PARTS), ids=lambda v: v["name"] if v else "absent")
@pytest.mark.parametrize("skew", [0, -300, 300])
def test_verify_accepts_upstream_signature_within_tolerance(vector: dict, skew: int) -> None:
    headers = _headers(vector["msg_id"], vector["timestamp"], vector["expected_signature_header"])
    assert (
        sw.verify([vector["secret"]], headers, vector["payload"].encode(), now=vector["timestamp"] + skew)
        is None
    )


@upstream
def test_signed_content_is_id_dot_timestamp_dot_body_as_in_the_spec_example() -> None:
    # The spec publishes the exact signed string for its example (not the secret): check our framing.
    example = VECTORS["spec_example_headers"]
    msg_id, ts = example["webhook-id"], example["webhook-timestamp"]
    body = example["signed_content_example"][len(f"{msg_id}.{ts}.") :].encode()
    secret = sw.generate_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, example["signed_content_example"].encode(), hashlib.sha256).digest()
    ).decode()
    assert sw.sign(secret, msg_id, int(ts), body) == f"v1,{expected}"


@upstream
def test_spec_example_header_parses_and_its_v1a_entry_is_skipped() -> None:
    # GIVEN the spec's example headers (its secret is unpublished, so no secret of ours matches)
    example = VECTORS["spec_example_headers"]
    headers = {k: example[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    body = example["signed_content_example"].split(".", 2)[2].encode()
    # WHEN verified with another secret THEN it is a clean mismatch, not a malformed header
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify([sw.generate_secret()], headers, body, now=int(example["webhook-timestamp"]))
    assert _reason(exc) == "no_matching_signature"


# -- equivalent secret forms ---------------------------------------------------------------------------


@upstream
@pytest.mark.parametrize(
    "group", params(_vector("secret_forms_equivalent", "groups"), *VECTOR_PARTS),
    ids=lambda g: g[0][:8] + str(len(g)) if g else "absent",
)
def test_equivalent_secret_forms_sign_and_verify_alike(group: list[str]) -> None:
    body = DEFAULT["payload"].encode()
    signatures = {sw.sign(form, DEFAULT["msg_id"], DEFAULT["timestamp"], body) for form in group}
    assert len(signatures) == 1
    headers = _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], signatures.pop())
    for form in group:
        sw.verify([form], headers, body, now=DEFAULT["timestamp"])


def test_prefixed_and_bare_secret_decode_to_the_same_key() -> None:
    assert sw.decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == base64.b64decode(
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    )


# -- invalid signatures ------------------------------------------------------------------------------


@upstream
@pytest.mark.parametrize(
    "signature", params(_vector("invalid_signature_headers_for_default_payload"), *VECTOR_PARTS)
)
def test_invalid_signatures_are_rejected(signature: str) -> None:
    headers = _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], signature)
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify(
            ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            headers,
            DEFAULT["payload"].encode(),
            now=DEFAULT["timestamp"],
        )
    assert _reason(exc) == "no_matching_signature"


@upstream
def test_invalid_signature_for_rust_payload_is_rejected() -> None:
    case = VECTORS["invalid_signature_for_rust_payload"]
    headers = _headers(case["msg_id"], RUST["timestamp"], case["signature_header"])
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify([case["secret"]], headers, case["payload"].encode(), now=RUST["timestamp"])
    assert _reason(exc) == "no_matching_signature"


# -- multi-signature headers with decoys -------------------------------------------------------------


@upstream
@pytest.mark.parametrize(
    ("decoys", "vector"),
    [
        (_vector("multi_signature_decoys", "python_decoys"), DEFAULT),
        (_vector("multi_signature_decoys", "rust_decoys"), RUST),
    ],
    ids=["python", "rust"],
)
def test_any_matching_v1_entry_among_decoys_is_accepted(decoys: list[str], vector: dict) -> None:
    body = vector["payload"].encode()
    valid = vector["expected_signature_header"]
    with_valid = " ".join(valid if d == "<VALID>" else d for d in decoys)
    sw.verify(
        [vector["secret"]],
        _headers(vector["msg_id"], vector["timestamp"], with_valid),
        body,
        now=vector["timestamp"],
    )

    only_decoys = " ".join(d for d in decoys if d != "<VALID>")
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify(
            [vector["secret"]],
            _headers(vector["msg_id"], vector["timestamp"], only_decoys),
            body,
            now=vector["timestamp"],
        )
    assert _reason(exc) == "no_matching_signature"


def test_a_valid_signature_under_another_version_label_is_ignored() -> None:
    # "v2,<the right signature>" must not count: only v1 entries are HMAC-SHA256.
    sig = DEFAULT["expected_signature_header"].removeprefix("v1,")
    headers = _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], f"v2,{sig} v1a,{sig}")
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify([DEFAULT["secret"]], headers, DEFAULT["payload"].encode(), now=DEFAULT["timestamp"])
    assert _reason(exc) == "no_matching_signature"


# -- invalid secrets and timestamps --------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    _vector("invalid_secrets")
    + ["whsec_!!!notbase64", "whpk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "abcde"],
)
def test_invalid_secrets_are_config_errors(secret: str) -> None:
    with pytest.raises(ConfigInvalidError) as signing:
        sw.sign(secret, DEFAULT["msg_id"], DEFAULT["timestamp"], b"{}")
    with pytest.raises(ConfigInvalidError):
        sw.verify(
            [secret],
            _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], "v1,x"),
            b"{}",
            now=DEFAULT["timestamp"],
        )
    assert not secret or secret not in str(signing.value)  # never echo a secret


def test_verify_reports_a_bad_secret_even_when_headers_are_missing() -> None:
    # Our misconfiguration must not hide behind the sender's mistakes.
    with pytest.raises(ConfigInvalidError):
        sw.verify(["whsec_"], {}, b"", now=0)


def test_no_secrets_is_a_config_error_and_a_bare_str_is_refused() -> None:
    with pytest.raises(ConfigInvalidError):
        sw.verify([], _headers("msg_1", 1, "v1,x"), b"", now=1)
    with pytest.raises(TypeError):
        sw.verify(DEFAULT["secret"], _headers("msg_1", 1, "v1,x"), b"", now=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "timestamp", _vector("invalid_timestamps") + ["", " ", "١٦١٤٢٦٥٣٣٠", "1e9"]
)
def test_invalid_timestamps_are_malformed(timestamp: str) -> None:
    headers = _headers(DEFAULT["msg_id"], timestamp, DEFAULT["expected_signature_header"])
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify([DEFAULT["secret"]], headers, DEFAULT["payload"].encode(), now=DEFAULT["timestamp"])
    assert _reason(exc) in ("malformed_header", "missing_header")


@pytest.mark.parametrize(
    ("skew", "reason"), [(301, "stale_timestamp"), (-301, "future_timestamp"), (86_400, "stale_timestamp")]
)
def test_timestamps_outside_tolerance_are_rejected(skew: int, reason: str) -> None:
    # skew is now - timestamp: +301 means the message is 301 s old, -301 means it claims to be from the future
    headers = _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], DEFAULT["expected_signature_header"])
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify([DEFAULT["secret"]], headers, DEFAULT["payload"].encode(), now=DEFAULT["timestamp"] + skew)
    assert _reason(exc) == reason


def test_custom_tolerance_is_honoured() -> None:
    headers = _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], DEFAULT["expected_signature_header"])
    body = DEFAULT["payload"].encode()
    sw.verify([DEFAULT["secret"]], headers, body, now=DEFAULT["timestamp"] + 60, tolerance=60)
    with pytest.raises(SignatureInvalidError):
        sw.verify([DEFAULT["secret"]], headers, body, now=DEFAULT["timestamp"] + 61, tolerance=60)


@pytest.mark.parametrize("timestamp", ["hello", -1, 1.5, True])
def test_sign_refuses_bad_timestamps(timestamp: object) -> None:
    with pytest.raises(ValueError):
        sw.sign(DEFAULT["secret"], DEFAULT["msg_id"], timestamp, b"{}")  # type: ignore[arg-type]


# -- empty payload, tampering, missing headers, rotation ----------------------------------------------


def test_empty_payload_signs_and_verifies() -> None:
    sig = sw.sign(DEFAULT["secret"], "msg_empty", 1_700_000_000, b"")
    sw.verify([DEFAULT["secret"]], _headers("msg_empty", 1_700_000_000, sig), b"", now=1_700_000_000)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: (h, b.replace(b"reg_01", b"reg_02")),
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
    ],
    ids=["body-appended", "body-changed", "id-changed", "timestamp-changed"],
)
def test_tampering_is_detected(tamper) -> None:  # type: ignore[no-untyped-def]
    headers = _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], DEFAULT["expected_signature_header"])
    headers, body = tamper(headers, DEFAULT["payload"].encode())
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify([DEFAULT["secret"]], headers, body, now=DEFAULT["timestamp"])
    assert _reason(exc) == "no_matching_signature"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_or_empty_headers_are_rejected(missing: str) -> None:
    full = _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], DEFAULT["expected_signature_header"])
    for headers in ({k: v for k, v in full.items() if k != missing}, {**full, missing: ""}):
        with pytest.raises(SignatureInvalidError) as exc:
            sw.verify([DEFAULT["secret"]], headers, DEFAULT["payload"].encode(), now=DEFAULT["timestamp"])
        assert _reason(exc) == "missing_header"


@pytest.mark.parametrize("signature", ["garbage", "v1", "   "])
def test_unparseable_signature_header_is_malformed(signature: str) -> None:
    headers = _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], signature)
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify([DEFAULT["secret"]], headers, DEFAULT["payload"].encode(), now=DEFAULT["timestamp"])
    assert _reason(exc) in ("malformed_header", "missing_header")


def test_header_names_are_case_insensitive() -> None:
    headers = {
        "Webhook-Id": DEFAULT["msg_id"],
        "WEBHOOK-TIMESTAMP": str(DEFAULT["timestamp"]),
        "webhook-Signature": DEFAULT["expected_signature_header"],
    }
    sw.verify([DEFAULT["secret"]], headers, DEFAULT["payload"].encode(), now=DEFAULT["timestamp"])


def test_message_id_with_a_dot_is_refused() -> None:
    # A '.' in the id would make id/timestamp/body boundaries ambiguous (spec, "Signature scheme").
    with pytest.raises(ValueError):
        sw.sign(DEFAULT["secret"], "msg.1", DEFAULT["timestamp"], b"{}")
    sig = sw.sign(DEFAULT["secret"], "msg", DEFAULT["timestamp"], b"1.{}")
    with pytest.raises(SignatureInvalidError) as exc:
        sw.verify(
            [DEFAULT["secret"]], _headers("msg.1", DEFAULT["timestamp"], sig), b"{}", now=DEFAULT["timestamp"]
        )
    assert _reason(exc) == "malformed_header"


def test_non_ascii_signature_value_is_a_mismatch_not_a_crash() -> None:
    headers = _headers(DEFAULT["msg_id"], DEFAULT["timestamp"], "v1,签名签名")
    with pytest.raises(SignatureInvalidError):
        sw.verify([DEFAULT["secret"]], headers, DEFAULT["payload"].encode(), now=DEFAULT["timestamp"])


def test_rotation_accepts_either_secret_and_nothing_else() -> None:
    # GIVEN a receiver in the middle of a rotation, holding the old and the new secret
    old, new, stranger = sw.generate_secret(), sw.generate_secret(), sw.generate_secret()
    body, now = b'{"type":"opportunity.registered"}', 1_700_000_000
    for signer in (old, new):
        # WHEN the sender signs with either one THEN it verifies
        sw.verify([old, new], _headers("msg_rot", now, sw.sign(signer, "msg_rot", now, body)), body, now=now)
    # AND a sender signing with both during the switch also verifies against just the new secret
    both = f"{sw.sign(old, 'msg_rot', now, body)} {sw.sign(new, 'msg_rot', now, body)}"
    sw.verify([new], _headers("msg_rot", now, both), body, now=now)
    # AND a signature from a secret we do not hold is refused
    with pytest.raises(SignatureInvalidError):
        sw.verify(
            [old, new], _headers("msg_rot", now, sw.sign(stranger, "msg_rot", now, body)), body, now=now
        )


def test_generated_secrets_are_32_random_bytes_with_prefix() -> None:
    secrets = {sw.generate_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(sw.decode_secret(secret)) == 32


def test_signature_errors_are_permanent() -> None:
    assert issubclass(SignatureInvalidError, PermanentError)


def test_importing_the_module_stays_light() -> None:
    # The partner-intake Lambda imports this on its cold-start path: no pydantic, no urllib3.
    code = (
        "import sys, connectors.standard_webhooks; "
        "heavy = ('pydantic', 'urllib3', 'botocore'); "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert out.stdout.strip() == ""


# -- interoperability with the reference implementation (standardwebhooks) ------------------------------


@pytest.mark.parametrize("payload", ["{}", DEFAULT["payload"], '{"n":' + "9" * 5000 + "}", ""])
def test_reference_signs_and_we_verify(payload: str) -> None:
    header = _reference_signature(DEFAULT["secret"], "msg_ref_1", 1_733_000_123, payload)
    assert sw.verify([DEFAULT["secret"]], _headers("msg_ref_1", 1_733_000_123, header), payload.encode(),
                     now=1_733_000_123) is None
    tampered = (payload + " ").encode()
    with pytest.raises(SignatureInvalidError):
        sw.verify([DEFAULT["secret"]], _headers("msg_ref_1", 1_733_000_123, header), tampered, now=1_733_000_123)


@pytest.mark.parametrize("payload", ['{"a":1}', DEFAULT["payload"]])
def test_we_sign_and_the_reference_verifies(payload: str) -> None:
    import time

    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    now = int(time.time())  # the reference checks the timestamp against the real clock
    header = sw.sign(DEFAULT["secret"], "msg_ours_1", now, payload.encode())
    assert header == _reference_signature(DEFAULT["secret"], "msg_ours_1", now, payload)
    headers = _headers("msg_ours_1", now, header)
    Webhook(DEFAULT["secret"]).verify(payload, headers, json_parse=False)  # raises on a mismatch
    assert Webhook(DEFAULT["secret"]).verify(payload, headers) == json.loads(payload)
    with pytest.raises(WebhookVerificationError):
        Webhook(DEFAULT["secret"]).verify(payload + "x", headers, json_parse=False)


def test_a_secret_is_decoded_once_and_a_broken_one_fails_every_time(monkeypatch):
    """Session 7 (issue 15 item 2): the HMAC key of a secret is decoded once per process; a secret that does not
    decode is never remembered, so every verification with it raises."""
    import connectors.standard_webhooks as sw
    from connectors.errors import ConfigInvalidError

    decoded: list[str] = []
    original = sw.decode_secret
    monkeypatch.setattr(sw, "_key", functools.lru_cache(maxsize=64)(
        lambda s: decoded.append(s) or original(s)))
    secret = sw.generate_secret()
    body = b'{"a":1}'
    now = int(datetime.now(UTC).timestamp())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": sw.sign(secret, "msg_1", now, body)}
    for _ in range(3):
        sw.verify([secret], headers, body, now=now)
    assert decoded == [secret]
    for _ in range(2):
        with pytest.raises(ConfigInvalidError):
            sw.verify(["whsec_!!notbase64"], headers, body, now=now)
    assert decoded == [secret, "whsec_!!notbase64", "whsec_!!notbase64"]


def test_the_module_caches_decode_secret():
    import connectors.standard_webhooks as sw

    assert sw._key.__wrapped__ is sw.decode_secret
    secret = sw.generate_secret()
    assert sw._key(secret) is sw._key(secret) == sw.decode_secret(secret)


def test_the_one_shot_signature_equals_the_hmac_object_formula() -> None:
    """``_signature`` (the key's HMAC object copied per message + binascii, issue 15 item 2) gives the text of
    the spec's formula ``base64(HMAC-SHA256(key, id.ts.body))`` computed with an HMAC object, for keys of 0-200
    bytes (a key longer than SHA-256's 64-byte block is hashed first) and bodies of 0-5,000 bytes, bytes and
    bytearray/memoryview bodies alike."""
    import random

    rng = random.Random(15)
    for i in range(900):
        key = rng.randbytes(rng.choice((0, 1, 63, 64, 65, 128, rng.randint(0, 200))))
        body = rng.randbytes(rng.choice((0, 1, 63, 64, 65, rng.randint(0, 5000))))
        msg_id, ts = f"msg_{rng.getrandbits(64):x}", str(rng.randint(0, 10**12))
        old = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
        wrapped = (body, bytearray(body), memoryview(body))[i % 3]
        assert sw._signature(key, msg_id, ts, wrapped) == old


def test_a_key_is_made_into_an_hmac_once_and_copied_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-key HMAC object stays: a verification that keyed OpenSSL's HMAC again per message (``hmac.digest``,
    or ``hmac.new`` on every call) fails here."""
    secret = sw.generate_secret()
    body = b'{"a": 1}'
    header = sw.sign(secret, "msg_1", 1_700_000_000, body)
    made = []
    real_new = hmac.new

    def counted(*args: object, **kwargs: object):
        made.append(args)
        return real_new(*args, **kwargs)

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("hmac.digest called on the verification path")

    monkeypatch.setattr(hmac, "new", counted)
    monkeypatch.setattr(hmac, "digest", refused)
    sw._keyed.cache_clear()  # keyed again under the patch
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": header}
    for _ in range(3):
        sw.verify([secret], headers, body, now=1_700_000_000)
    assert len(made) == 1


def test_the_cached_hmac_is_never_updated() -> None:
    """The HMAC kept per key is copied, never updated: after many signatures it still is the key's HMAC of nothing
    (one updated in place would sign every later message wrongly)."""
    key = b"k" * 40
    for n in range(5):
        sw._signature(key, f"msg_{n}", "1700000000", b"{}" * n)
    assert sw._keyed(key).digest() == hmac.new(key, b"", hashlib.sha256).digest()
