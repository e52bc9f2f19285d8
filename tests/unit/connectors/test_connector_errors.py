"""The connector error tree and the loc/type reduction of validation errors."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from connectors.errors import (
    ConfigInvalidError,
    ConnectorError,
    PermanentError,
    RecordRejectedError,
    RetryableError,
    SignatureInvalidError,
    UrlRefusedError,
    loc_type_errors,
)


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (RetryableError, ConnectorError),
        (PermanentError, ConnectorError),
        (ConfigInvalidError, PermanentError),
        (SignatureInvalidError, PermanentError),
        (UrlRefusedError, PermanentError),
        (RecordRejectedError, ConnectorError),
    ],
)
def test_hierarchy(cls: type, parent: type) -> None:
    assert issubclass(cls, parent)


def test_retryable_and_permanent_are_disjoint() -> None:
    # The queue's decision (retry or park) must never be ambiguous.
    for cls in (
        PermanentError,
        ConfigInvalidError,
        SignatureInvalidError,
        UrlRefusedError,
        RecordRejectedError,
    ):
        assert not issubclass(cls, RetryableError)
    assert not issubclass(RecordRejectedError, PermanentError)


def test_retryable_carries_retry_after_status_and_reason() -> None:
    err = RetryableError("busy", retry_after=12.5, reason="rate_limited", status=429)
    assert (err.retry_after, err.status, err.reason, str(err)) == (12.5, 429, "rate_limited", "busy")
    assert RetryableError().retry_after is None
    assert RetryableError().reason == "retryable"


def test_signature_invalid_carries_reason() -> None:
    err = SignatureInvalidError("stale_timestamp")
    assert err.reason == "stale_timestamp"
    assert "stale_timestamp" in str(err)


def test_record_rejected_carries_source_id_and_errors() -> None:
    err = RecordRejectedError(
        source_id="2024/S 001-000001", errors=[{"loc": "lots.0.value", "type": "missing"}]
    )
    assert err.source_id == "2024/S 001-000001"
    assert err.errors == [{"loc": "lots.0.value", "type": "missing"}]
    assert RecordRejectedError().errors == []


class _Config(BaseModel):
    api_key: SecretStr
    lots: list[int]
    nested: dict[str, int]


def test_loc_type_errors_keeps_only_dotted_loc_and_type() -> None:
    # GIVEN input holding a secret-looking value in a field that fails validation
    with pytest.raises(ValidationError) as exc:
        _Config.model_validate({"api_key": 123456789, "lots": [1, "sk_live_leak"], "nested": {"a": "x"}})
    # WHEN reduced
    errors = loc_type_errors(exc.value)
    # THEN only loc/type survive, with dotted paths, and no input value appears anywhere
    assert errors == [
        {"loc": "api_key", "type": "string_type"},
        {"loc": "lots.1", "type": "int_parsing"},
        {"loc": "nested.a", "type": "int_parsing"},
    ]
    assert "sk_live_leak" not in repr(errors) and "123456789" not in repr(errors)


def test_config_invalid_keeps_errors() -> None:
    err = ConfigInvalidError("bad", errors=[{"loc": "feed_url", "type": "value_error"}])
    assert err.errors == [{"loc": "feed_url", "type": "value_error"}]
    assert err.reason == "config_invalid"
