"""The connector error tree: one root, three outcomes.

``RetryableError`` means "try again later" (the queue redelivers), ``PermanentError`` means "retrying will
not help" (park it), ``RecordRejectedError`` means "this one entry is bad, keep going with the rest".
This module is stdlib-only on purpose: the partner-intake Lambda imports it through
``connectors.standard_webhooks`` and must not pay for pydantic at cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class ConnectorError(Exception):
    """Root of every error raised by ``connectors``.

    Attributes:
        reason: A short machine-readable code (``"too_large"``, ``"stale_timestamp"``...), safe to log
            and to count in metrics; never contains payload data.
    """

    default_reason = "connector_error"

    def __init__(self, message: str | None = None, *, reason: str | None = None) -> None:
        self.reason = reason or self.default_reason
        super().__init__(message or self.reason)


class RetryableError(ConnectorError):
    """A transient failure: timeout, connection reset, HTTP 429 or 5xx.

    Attributes:
        retry_after: Seconds the source asked us to wait (``Retry-After``), or ``None``.
        status: The HTTP status that caused it, if any.
    """

    default_reason = "retryable"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        reason: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after
        self.status = status


class PermanentError(ConnectorError):
    """A failure that retrying will not fix: other 4xx, refused auth, bad config, bad signature.

    Attributes:
        status: The HTTP status that caused it, if any.
    """

    default_reason = "permanent"

    def __init__(
        self, message: str | None = None, *, reason: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.status = status


class ConfigInvalidError(PermanentError):
    """A connector config (or a signing secret) is unusable.

    Attributes:
        errors: ``[{"loc": "feed_url", "type": "url_parsing"}, ...]``; the offending values are never kept,
            because configs hold secrets.
    """

    default_reason = "config_invalid"

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.errors = errors or []


class SignatureInvalidError(PermanentError):
    """A webhook failed signature verification; the HTTP edge answers 401.

    Args:
        reason: One of ``missing_header``, ``malformed_header``, ``stale_timestamp``, ``future_timestamp``,
            ``no_matching_signature``. Safe to log; tells an honest partner what to fix without
            helping a forger.
    """

    default_reason = "signature_invalid"

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"webhook signature rejected: {reason}", reason=reason)


class UrlRefusedError(PermanentError):
    """An outbound URL was refused by the SSRF guard (``connectors.http.check_url``).

    ``reason`` is one of ``bad_scheme``, ``bad_url``, ``credentials_in_url``, ``unresolvable``,
    ``forbidden_address``.
    """

    default_reason = "url_refused"


class RecordRejectedError(ConnectorError):
    """One entry of a payload could not be turned into a record; the rest of the payload still counts.

    ``parse`` yields (rather than raises) these so that iteration goes on past the bad entry.

    Attributes:
        source_id: The entry's id at the source, when it could be read.
        errors: ``[{"loc": "lots.0.value", "type": "missing"}]``: only where and what kind, never the
            input value, so logs cannot leak payload data.
    """

    default_reason = "record_rejected"

    def __init__(
        self,
        message: str | None = None,
        *,
        source_id: str | None = None,
        errors: list[dict[str, str]] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.source_id = source_id
        self.errors = errors or []


def loc_type_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Reduce a pydantic ``ValidationError`` to ``[{"loc": "a.0.b", "type": "missing"}, ...]``.

    Args:
        exc: The validation error.

    Returns:
        One dict per error with only a dotted ``loc`` and the error ``type``; messages and inputs are
        dropped because they can echo secrets or payload data.
    """
    out: list[dict[str, str]] = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc: Any = err.get("loc", ())
        out.append({"loc": ".".join(str(part) for part in loc), "type": str(err.get("type", "invalid"))})
    return out
