"""The HTTP edge shared by all routes: one error format, body parsing, authentication, 503 on outages.

Errors are ``{"code", "message", "errors": [{"loc", "type"}]}`` (schemas.registration.ErrorResponse);
validation errors carry only the field path and pydantic's error type, never the submitted value.
"""
from __future__ import annotations

import functools
import json
import logging
from typing import Any, Callable

from chalice import Response

logger = logging.getLogger("dealreg.http")

RETRY_AFTER_SECONDS = 5


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, *, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    if hasattr(body, "model_dump_json"):
        text = body.model_dump_json(exclude_none=True)
    else:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(body=text, status_code=status,
                    headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def error_response(err: HttpError) -> Response:
    return json_response(err.status, {"code": err.code, "message": err.message, "errors": err.errors},
                         err.headers)


def validation_errors(exc: Any, prefix: str) -> list[dict[str, str]]:
    """pydantic errors -> ``[{"loc": "body.data.customer.name", "type": "missing"}]`` (no input values).

    A failed identifier check also says why (``reason``: length, character, check_digit, ...): a short
    token from our own validator, never the submitted value.
    """
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        item = {"loc": ".".join([prefix, *(str(p) for p in err["loc"])]), "type": err["type"]}
        reason = getattr((err.get("ctx") or {}).get("error"), "reason", None)
        if isinstance(reason, str):
            item["reason"] = reason
        out.append(item)
    return out


def parse_body(model: Any, raw: bytes | str | None, *, prefix: str = "body") -> Any:
    """Validate a JSON body into ``model``; 400 for JSON that doesn't parse, 422 with field paths otherwise."""
    from pydantic import ValidationError

    if not raw:
        raise HttpError(400, "body_missing", "a JSON body is required", errors=[{"loc": prefix, "type": "missing"}])
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "json_invalid", "the body is not valid JSON",
                        errors=[{"loc": prefix, "type": "json_invalid"}]) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HttpError(422, "validation_failed", "the body failed validation",
                        errors=validation_errors(exc, prefix)) from None


def check_size(raw: bytes | None, limit: int) -> None:
    if raw is not None and len(raw) > limit:
        raise HttpError(413, "payload_too_large", f"the body exceeds {limit} bytes")


def bearer_principal(headers: Any):
    """The principal behind ``Authorization: Bearer <api key>``; 401 otherwise."""
    from chalicelib.store import directory

    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpError(401, "unauthorized", "a bearer API key is required",
                        headers={"WWW-Authenticate": 'Bearer realm="dealreg"'})
    principal = directory.principal_for_key(token.strip())
    if principal is None:
        raise HttpError(401, "unauthorized", "unknown or revoked API key",
                        headers={"WWW-Authenticate": 'Bearer realm="dealreg"'})
    return principal


def _is_unavailable(exc: BaseException) -> bool:
    """True for failures a client should retry: storage unreachable, throttled or momentarily conflicted."""
    from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError
    from pynamodb.exceptions import PynamoDBException, TransactWriteError

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (BotoConnectionError, HTTPClientError)):
            return True
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            return code in {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                            "InternalServerError", "ServiceUnavailable", "TransactionConflictException",
                            "TransactionInProgressException"}
        if isinstance(exc, TransactWriteError):
            if any(r is not None and r.code in {"TransactionConflict", "ThrottlingError"}
                   for r in (exc.cancellation_reasons or [])):
                return True
        if isinstance(exc, PynamoDBException) and exc.cause is not None:
            exc = exc.cause
            continue
        exc = exc.__cause__ or exc.__context__
    return False


def api(*, request: Any = None, responses: dict[int, Any] | None = None, summary: str = "",
        auth: str = "bearer") -> Callable:
    """Wrap a route: render HttpError, map storage outages to 503 + Retry-After, and record OpenAPI facts."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except HttpError as err:
                return error_response(err)
            except Exception as exc:
                if _is_unavailable(exc):
                    logger.warning("storage unavailable: %s", type(exc).__name__)
                    return error_response(HttpError(
                        503, "unavailable", "storage is unavailable; retry later",
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)}))
                raise

        wrapper.__openapi__ = {"request": request, "responses": responses or {}, "summary": summary,
                               "auth": auth}
        return wrapper

    return decorate
