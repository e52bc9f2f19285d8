"""The HTTP edge shared by all routes: one error format, body parsing, authentication, 503 on outages.

Errors are ``{"code", "message", "errors": [{"loc", "type"}]}`` (schemas.registration.ErrorResponse);
validation errors carry only the field path and pydantic's error type, never the submitted value.
"""
from __future__ import annotations

import contextvars
import functools
import itertools
import json
import logging
import operator
from collections.abc import Callable
from typing import Any

from chalice import Response

from chalicelib.domain.errors import DealregError

logger = logging.getLogger("dealreg.http")

RETRY_AFTER_SECONDS = 5


class HttpError(DealregError):
    """A refusal raised at the edge itself (auth, body parsing); the same root as every domain refusal."""

    def __init__(self, status: int, code: str, message: str, *, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code, status=status, errors=errors or [], headers=headers)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    if hasattr(body, "model_dump_json"):
        text = body.model_dump_json(exclude_none=True)
    else:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(body=text, status_code=status,
                    headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})


# The caller of the request being answered (set by ``bearer_principal``), so refusals are worded for them.
_CALLER: contextvars.ContextVar[Any] = contextvars.ContextVar("dealreg_caller", default=None)


def refusal_body(err: DealregError) -> dict[str, Any]:
    """``{"code", "message", "errors"}`` of a refusal as the current caller may read it: a refusal whose text
    may name a holder (``redact_for_partners``) is worded generically for a partner (domain/visibility.py)."""
    body = err.body()
    caller = _CALLER.get()
    if caller is not None and getattr(err, "redact_for_partners", False):
        from chalicelib.domain import visibility

        body["message"] = visibility.refusal(visibility.Viewer.of(caller), err.code, body["message"])
    return body


def error_response(err: DealregError) -> Response:
    """The one mapping of a refusal to HTTP: its status, ``{"code", "message", "errors"}`` and its headers."""
    return json_response(err.status, refusal_body(err), err.headers)


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


MAX_JSON_DEPTH = 32  # our deepest contract nests 5 levels; json's C parser recurses to ~1,000 and then 500s
MAX_HEADER_CHARS = 256  # webhook-id, Idempotency-Key and other ids we key storage by (DynamoDB keys: 2 KB)
MAX_SIGNATURE_HEADER_CHARS = 4096  # every signature in it is tried (connectors.standard_webhooks bounds 16)


class JsonNumber(float):
    """A JSON number with a fraction or exponent, as written: ``text`` lets an amount refuse ``1e-400``
    (which ``float`` would read as 0.0) while every other field sees a plain float."""

    text: str

    def __new__(cls, text: str) -> JsonNumber:
        obj = super().__new__(cls, float(text))
        obj.text = text
        return obj


class _DuplicateKey(ValueError):
    pass


_first = operator.itemgetter(0)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_duplicates_sorted(pairs: list[tuple[str, Any]]) -> dict:
    """``_no_duplicates`` with the keys in sorted order (``parse_json_sorted``): the pairs sorted by key (a stable
    sort, values never compared), a key twice is a shorter dict."""
    pairs.sort(key=_first)
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey()
    return out


# Every JSON number with a fraction or exponent read by ``parse_json_sorted`` advances this counter (``next`` of an
# ``itertools.count`` is atomic under the GIL; another thread's numbers can only make a body look as if it had one).
_FLOATS_READ = itertools.count()


def _counted_number(text: str) -> JsonNumber:
    next(_FLOATS_READ)
    return JsonNumber(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: not JSON


def json_depth(value: Any) -> int:
    """The deepest nesting of arrays/objects in a parsed JSON value (a scalar is 0), level by level."""
    depth, level = 0, [value] if isinstance(value, (dict, list)) else []
    while level:
        depth += 1
        level = [child for node in level for child in (node.values() if isinstance(node, dict) else node)
                 if isinstance(child, (dict, list))]
    return depth


# One decoder, made once: ``json.loads`` with these options builds a new decoder and scanner on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_float=JsonNumber, parse_constant=_refuse_constant)
_SORTED_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates_sorted, parse_float=_counted_number,
                                   parse_constant=_refuse_constant)


def parse_json(raw: bytes | str | None, *, loc: str = "body") -> Any:
    """The one JSON reader for request bodies: 400 for text that is not JSON, nested deeper than
    ``MAX_JSON_DEPTH``, with a key twice in one object, or with NaN/Infinity.

    The depth is checked on the parsed value (json's C parser stops itself with a RecursionError long before
    it could exhaust the stack, ~1,000 levels): scanning the text for brackets outside strings first cost more
    CPU than parsing it (issue 15 item 2)."""
    return _parse(raw, loc, _DECODER)


def parse_json_sorted(raw: bytes | str | None, *, loc: str = "body") -> tuple[Any, bool]:
    """``parse_json`` (the same answers and refusals) with every object's keys in sorted order, and whether the
    value holds no number with a fraction or exponent: then ``store.registrations.json_fingerprint(value,
    keys_sorted=True)`` writes its canonical text with pydantic-core's encoder instead of a sorting one (issue 15
    item 2, session 8). Object key order changes no validated model; it orders the ``extra_forbidden`` errors,
    so validate such a value with ``validate(..., source=raw)``."""
    before = next(_FLOATS_READ)
    value = _parse(raw, loc, _SORTED_DECODER)
    return value, next(_FLOATS_READ) == before + 1


def _parse(raw: bytes | str | None, loc: str, decoder: json.JSONDecoder) -> Any:
    if not raw:
        raise HttpError(400, "body_missing", "a JSON body is required", errors=[{"loc": loc, "type": "missing"}])
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise HttpError(400, "json_invalid", "the body is not UTF-8 JSON",
                        errors=[{"loc": loc, "type": "json_invalid"}]) from None
    try:
        value = decoder.decode(text)
    except _DuplicateKey:
        raise HttpError(400, "json_duplicate_key", "an object in the body names a key twice",
                        errors=[{"loc": loc, "type": "json_duplicate_key"}]) from None
    except RecursionError:
        raise _too_deep(loc) from None
    except ValueError:
        raise HttpError(400, "json_invalid", "the body is not valid JSON",
                        errors=[{"loc": loc, "type": "json_invalid"}]) from None
    # Each level of nesting opens with its own "{" or "[", so a text with at most MAX_JSON_DEPTH of them (in
    # strings or not) cannot nest deeper: the walk is needed only above that (issue 15 item 2).
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and json_depth(value) > MAX_JSON_DEPTH:
        raise _too_deep(loc)
    return value


def _too_deep(loc: str) -> HttpError:
    return HttpError(400, "json_too_deep", f"the body nests deeper than {MAX_JSON_DEPTH} levels",
                     errors=[{"loc": loc, "type": "json_too_deep"}])


def header(headers: Any, name: str, *, max_chars: int = MAX_HEADER_CHARS) -> str | None:
    """A request header bounded where it is read: 400 when longer than ``max_chars``."""
    value = headers.get(name)
    if value is not None and len(value) > max_chars:
        raise HttpError(400, "header_too_long", f"the {name} header exceeds {max_chars} characters",
                        errors=[{"loc": f"header.{name.lower()}", "type": "string_too_long"}])
    return value


IDEMPOTENCY_HEADER = {"Idempotency-Key": {"type": "string", "minLength": 1, "maxLength": 255}}  # for ``api(headers=)``


def idempotency_key(headers: Any) -> str | None:
    """The optional ``Idempotency-Key`` header of a creating route: None when absent; 400 when blank or longer
    than 255 characters."""
    key = header(headers, "idempotency-key", max_chars=255)
    if key is not None and not key.strip():
        raise HttpError(400, "idempotency_key_invalid", "Idempotency-Key must be 1-255 characters",
                        errors=[{"loc": "header.idempotency-key", "type": "string_too_short"}])
    return key


def parse_body(model: Any, raw: bytes | str | None, *, prefix: str = "body") -> Any:
    """Validate a JSON body into ``model``; 400 for JSON that doesn't parse, 422 with field paths otherwise."""
    return validate(model, parse_json(raw, loc=prefix), prefix=prefix)


def parse_query(model: Any, params: Any) -> Any:
    """The query string as ``model`` (a pydantic model whose fields are the route's query parameters, also
    what the OpenAPI documents: ``api(query="module:Model")``); 422 with ``query.<name>`` field paths."""
    return validate(model, dict(params or {}), prefix="query")


def validate(model: Any, data: Any, *, prefix: str = "body", source: bytes | str | None = None) -> Any:
    """``model`` from already parsed JSON (``parse_json``); 422 with field paths. ``source``: the text ``data``
    was parsed from by ``parse_json_sorted``; a refusal reads it again in its own key order, so the errors come
    in the order of the body as ``parse_json``'s value gives them."""
    try:
        return model.model_validate(data)
    except _validation_error() as exc:  # evaluated only when validation raised (issue 15 item 2, session 7)
        refused = exc
    if source is not None:
        try:
            model.model_validate(parse_json(source, loc=prefix))
        except _validation_error() as exc:
            refused = exc
    raise HttpError(422, "validation_failed", f"the {prefix.split('.')[0]} failed validation",
                    errors=validation_errors(refused, prefix)) from None


@functools.cache
def _validation_error() -> type[Exception]:
    from pydantic import ValidationError  # lazily: pydantic is not loaded by every function

    return ValidationError


MAX_PAGE_LIMIT = 100


def page_args(query: Any, decode_cursor: Callable[[str | None], Any], *, default: int = 25) -> tuple[int, Any]:
    """A list route's ``limit`` (1..MAX_PAGE_LIMIT) and decoded ``cursor``, or a 422 naming the parameter."""
    try:
        limit = int(query.get("limit", default))
        cursor = decode_cursor(query.get("cursor"))
    except ValueError:
        raise HttpError(422, "validation_failed", "bad limit or cursor",
                        errors=[{"loc": "query", "type": "value_error"}]) from None
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise HttpError(422, "validation_failed", f"limit must be 1..{MAX_PAGE_LIMIT}",
                        errors=[{"loc": "query.limit", "type": "less_than_equal"}])
    return limit, cursor


def check_size(raw: bytes | None, limit: int) -> None:
    if raw is not None and len(raw) > limit:
        raise HttpError(413, "payload_too_large", f"the body exceeds {limit} bytes",
                        errors=[{"loc": "limit.max_body_bytes", "type": "limit_exceeded"}])


def request_body(request: Any, model: Any, *, optional: bool = False) -> Any:
    """The request's JSON body as ``model``: 413 above ``max_body_bytes``, then ``parse_body``; with
    ``optional``, an empty body is ``model()`` (every field's default)."""
    from chalicelib import settings

    check_size(request.raw_body, settings.get().max_body_bytes)
    if optional and not request.raw_body:
        return model()
    return parse_body(model, request.raw_body)


MAX_API_KEY_CHARS = 128  # ours are "drk_" + 43 characters


def bearer_principal(headers: Any):
    """The principal behind ``Authorization: Bearer <api key>``; 401 otherwise."""
    from chalicelib.store import directory

    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token.strip()) > MAX_API_KEY_CHARS:
        raise HttpError(401, "unauthorized", "a bearer API key is required",
                        headers={"WWW-Authenticate": 'Bearer realm="dealreg"'})
    principal = directory.principal_for_key(token.strip())
    if principal is None:
        raise HttpError(401, "unauthorized", "unknown or revoked API key",
                        headers={"WWW-Authenticate": 'Bearer realm="dealreg"'})
    _CALLER.set(principal)
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
        if isinstance(exc, TransactWriteError) and any(
                r is not None and r.code in {"TransactionConflict", "ThrottlingError"}
                for r in (exc.cancellation_reasons or [])):
            return True
        if isinstance(exc, PynamoDBException) and exc.cause is not None:
            exc = exc.cause
            continue
        exc = exc.__cause__ or exc.__context__
    return False


def api(*, request: Any = None, responses: dict[int, Any] | None = None, summary: str = "",
        auth: str = "bearer", request_optional: bool = False, query: Any = None,
        headers: dict[str, dict] | None = None) -> Callable:
    """Wrap a route: render any ``DealregError`` (the one error root), map storage outages to 503 +
    Retry-After, and record OpenAPI facts (``query``: the query model as "module:Model"; ``headers``: the
    optional request headers it reads, name -> JSON Schema)."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _CALLER.set(None)
            try:
                if any(isinstance(v, str) and len(v) > MAX_HEADER_CHARS for v in kwargs.values()):
                    # a path id that long names nothing we store (and would exceed DynamoDB's key limit)
                    raise HttpError(404, "not_found", "no such resource")
                return func(*args, **kwargs)
            except DealregError as err:
                return error_response(err)
            except Exception as exc:
                if _is_unavailable(exc):
                    logger.warning("storage unavailable: %s", type(exc).__name__)
                    return error_response(HttpError(
                        503, "unavailable", "storage is unavailable; retry later",
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)}))
                raise

        wrapper.__openapi__ = {"request": request, "responses": responses or {}, "summary": summary,
                               "auth": auth, "request_optional": request_optional, "query": query,
                               "headers": headers or {}}
        return wrapper

    return decorate


# --- the edge middleware: what every route (and Chalice's own refusals) share -------------------------------------

# Query parameters that carry credentials in other APIs; ours never read one, so a request with one is refused
# before anything logs or uses it (keys belong in the Authorization header only).
CREDENTIAL_PARAMS = frozenset({"api_key", "apikey", "api-key", "key", "token", "access_token", "auth",
                               "authorization", "bearer", "secret", "signature"})
KEY_PREFIXES = ("drk_", "whsec_")
MAX_QUERY_VALUE_CHARS = 1024  # a cursor is the longest; ids and filters are keys (DynamoDB: 2 KB)

_CHALICE_CODES = {"MethodNotAllowedError": ("method_not_allowed", "this method is not allowed on this route"),
                  "UnsupportedMediaType": ("unsupported_media_type", "send the body as application/json"),
                  "BadRequestError": ("bad_request", "the request is malformed"),
                  "BadRequest": ("bad_request", "the request is malformed"),
                  "NotFoundError": ("not_found", "no such resource"),
                  "InternalServerError": ("internal_error", "an internal error occurred; it has been logged")}


def credentials_in_query(params: Any) -> bool:
    """True when a query string carries something that looks like a credential (by name or by value)."""
    for name, value in (params or {}).items():
        if name.lower() in CREDENTIAL_PARAMS or str(value).startswith(KEY_PREFIXES):
            return True
    return False


def _product_shape(response: Response) -> Response:
    """Chalice's own error bodies (``{"Code", "Message"}``: 405, 415, unhandled 500) in our error format."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or set(body) != {"Code", "Message"}:
        return response
    code, message = _CHALICE_CODES.get(body["Code"], ("error", "the request failed"))
    headers = {k: v for k, v in (response.headers or {}).items() if k.lower() != "content-type"}
    return json_response(response.status_code, {"code": code, "message": message, "errors": []}, headers)


def edge(event: Any, get_response: Callable) -> Response:
    """Chalice ``http`` middleware: refuse credentials in the query string (401, never used or echoed),
    then answer every error Chalice produces itself in the product's error shape."""
    params = getattr(event, "query_params", None)
    if params:  # most requests (every webhook) have none: nothing to walk (issue 15 item 2, session 9)
        if any(len(name) > MAX_HEADER_CHARS or len(str(value)) > MAX_QUERY_VALUE_CHARS
               for name, value in params.items()):
            return error_response(HttpError(400, "query_too_long", "a query parameter is too long",
                                            errors=[{"loc": "query", "type": "string_too_long"}]))
        if credentials_in_query(params):
            return error_response(HttpError(
                401, "credentials_in_query", "API keys are accepted only in the Authorization header",
                errors=[{"loc": "query", "type": "credentials_in_query"}],
                headers={"WWW-Authenticate": 'Bearer realm="dealreg"'}))
    return _product_shape(get_response(event))


def install(app: Any) -> None:
    app.register_middleware(edge, "http")
