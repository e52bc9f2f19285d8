"""The one connector contract and its three kind bases.

A connector is a class with a ``name``, a pydantic ``config_model``, one method that does I/O (``fetch``)
and one pure method (``parse``). The kind bases implement ``fetch`` so that a real source is mostly class
attributes plus ``parse``:

- ``FeedConnector``: conditional GET of ``config.feed_url``; a 304 yields nothing.
- ``RegistryConnector``: look up ``request.identifier`` or search ``request.name``; a 404 yields nothing
  ("not found" is an answer, not an error).
- ``WebhookConnector``: adds ``verify``; ``fetch`` yields the already-verified body from the request, so
  the contract suite drives every kind the same way.

This module does not import ``connectors.http`` (urllib3) at run time; the client is handed in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connectors import standard_webhooks
from connectors.errors import ConfigInvalidError, PermanentError, RecordRejectedError, loc_type_errors

if TYPE_CHECKING:
    from connectors.http import HttpClient, HttpResponse

Record = BaseModel
"""What ``parse`` yields: a ``schemas`` model that carries ``source`` and ``source_id``."""

ConfigT = TypeVar("ConfigT", bound=BaseModel)
RawT = TypeVar("RawT")


@dataclass(frozen=True)
class FetchRequest:
    """What to fetch. Each kind reads the fields it understands and ignores the rest.

    Attributes:
        cursor: Opaque position for paginated or incremental feeds (kind-specific use).
        etag: ``ETag`` from the previous successful fetch, for a conditional GET.
        last_modified: ``Last-Modified`` from the previous successful fetch.
        identifier: Registry look-up key, e.g. a company number.
        name: Registry name search.
        body: A webhook body that has already passed ``verify``.
    """

    cursor: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    identifier: str | None = None
    name: str | None = None
    body: bytes | None = None


@dataclass(frozen=True)
class Fetched:
    """One raw payload plus the response metadata the caller stores for next time.

    Attributes:
        body: Raw bytes exactly as received.
        url: Where it came from (final URL after redirects, or ``webhook:<name>`` / ``fixture:<file>``).
        content_type: The ``Content-Type`` header, if any.
        etag: New ``ETag`` to send as ``FetchRequest.etag`` next time.
        last_modified: New ``Last-Modified`` to send as ``FetchRequest.last_modified`` next time.
    """

    body: bytes
    url: str = ""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def from_response(cls, resp: HttpResponse) -> Fetched:
        """Build from an ``HttpResponse``, keeping the cache validators."""
        return cls(
            body=resp.body,
            url=resp.url,
            content_type=resp.content_type,
            etag=resp.etag,
            last_modified=resp.last_modified,
        )


Parsed = BaseModel | RecordRejectedError


class Connector(ABC, Generic[ConfigT, RawT]):
    """Base of every source connector.

    Class attributes a concrete connector declares:
        name: Same as its ``REGISTRY`` key and folder, e.g. ``"ted_rss"``.
        config_model: The pydantic model its config must satisfy; mark secrets as ``SecretStr``.
        example_config: A config that validates; the contract suite builds the connector from it.
        example_request: A request the contract suite sends to a local server (registries set
            ``identifier``).
        fixtures: File names under ``tests/fixtures/sources/<name>/`` that ``parse`` must turn into records.
    """

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    example_config: ClassVar[dict[str, Any]] = {}
    example_request: ClassVar[FetchRequest] = FetchRequest()
    fixtures: ClassVar[tuple[str, ...]] = ()
    # Config fields holding base URLs; the contract suite points them at its local server.
    url_fields: ClassVar[tuple[str, ...]] = ()
    # False for kinds whose fetch does no I/O (webhooks), which may then be built without a client.
    needs_http: ClassVar[bool] = True

    def __init__(self, config: ConfigT | Mapping[str, Any], http: HttpClient | None = None) -> None:
        """Validate the config once and keep the shared HTTP client.

        Args:
            config: A ``config_model`` instance or a mapping that validates against it.
            http: The shared ``connectors.http.HttpClient``.

        Raises:
            ConfigInvalidError: The config does not validate (``errors`` holds only ``loc``/``type``).
            TypeError: ``http`` is missing for a kind that does I/O.
        """
        self.config: ConfigT = self.validate_config(config)
        if http is None and self.needs_http:
            raise TypeError(f"{type(self).__name__} needs an HttpClient")
        self._http = http

    @property
    def http(self) -> HttpClient:
        """The shared HTTP client."""
        if self._http is None:
            raise TypeError(f"{type(self).__name__} was built without an HttpClient")
        return self._http

    @classmethod
    def validate_config(cls, config: BaseModel | Mapping[str, Any]) -> ConfigT:
        """Check a config against ``config_model``.

        Raises:
            ConfigInvalidError: Invalid, with ``errors`` as ``[{"loc", "type"}]`` (values never echoed,
                since configs hold secrets).
        """
        model = cls.config_model
        if isinstance(config, model):
            return config  # type: ignore[return-value]
        if not isinstance(config, Mapping):
            raise ConfigInvalidError(
                f"{cls.__name__} config must be a mapping or {model.__name__}",
                errors=[{"loc": "", "type": "model_type"}],
            )
        try:
            return model.model_validate(dict(config))  # type: ignore[return-value]
        except ValidationError as exc:
            errors = loc_type_errors(exc)
        # Raised outside the except block so the ValidationError, whose text quotes the input (secrets
        # included), is not even kept as __context__ for a log formatter to print.
        raise ConfigInvalidError(f"invalid {cls.__name__} config", errors=errors)

    @abstractmethod
    def fetch(self, request: FetchRequest) -> Iterator[RawT]:
        """The only I/O: get raw payloads from the source.

        Raises:
            RetryableError: The source may answer later (timeouts, 429, 5xx).
            PermanentError: Retrying will not help.
        """

    @abstractmethod
    def parse(self, raw: RawT) -> Iterator[Parsed]:
        """Pure: turn one raw payload into ``schemas`` records.

        For an entry that cannot be read, *yield* a ``RecordRejectedError`` (with its ``source_id`` when
        known) instead of raising it: raising would end the generator and lose the entries after it.
        """

    def request_headers(self) -> dict[str, str]:
        """Extra headers for every request, e.g. ``Authorization`` built from a ``SecretStr`` config field."""
        return {}

    def raw_from_fixture(self, body: bytes, *, name: str) -> RawT:
        """Wrap a fixture file's bytes as this connector's raw type (for tests and replays).

        The default suits every ``Fetched``-based kind; a connector with another ``RawT`` overrides it.
        """
        return Fetched(body=body, url=f"fixture:{name}")  # type: ignore[return-value]


def split_parsed(items: Iterable[Parsed]) -> tuple[list[BaseModel], list[RecordRejectedError]]:
    """Separate ``parse`` output into records and rejections.

    A ``RecordRejectedError`` that a parser *raises* is collected too (it ends that parse early).

    Returns:
        ``(records, rejected)``.
    """
    records: list[BaseModel] = []
    rejected: list[RecordRejectedError] = []
    try:
        for item in items:
            if isinstance(item, RecordRejectedError):
                rejected.append(item)
            else:
                records.append(item)
    except RecordRejectedError as exc:
        rejected.append(exc)
    return records, rejected


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""A config URL: an absolute http(s) URL with a host, kept as given (pydantic's ``HttpUrl`` would
normalise it, e.g. add a trailing slash, and is not a ``str``)."""


# -- feeds -------------------------------------------------------------------------------------------


class FeedConfig(BaseModel):
    """Config of a feed: where to GET it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feed_url: HttpUrl
    max_bytes: int | None = Field(default=None, ge=1024, le=64 * 1024 * 1024,
                                  description="Body size cap; None = the HTTP client's default")


class FeedConnector(Connector[ConfigT, Fetched]):
    """A source published as a document at a URL (RSS, Atom, OCDS package, JSON lines...).

    ``fetch`` does one conditional GET of ``config.feed_url`` and yields one ``Fetched`` (with the new
    ``etag``/``last_modified`` to store); a 304 yields nothing. A 404 means the feed is gone: permanent.
    """

    url_fields: ClassVar[tuple[str, ...]] = ("feed_url",)

    def feed_url(self, request: FetchRequest) -> str:
        """The URL to GET; override to use ``request.cursor`` for paging."""
        return str(self.config.feed_url)  # type: ignore[attr-defined]

    def fetch(self, request: FetchRequest) -> Iterator[Fetched]:
        """Conditional GET of the feed; see the class docstring."""
        resp = self.http.get(
            self.feed_url(request),
            headers=self.request_headers(),
            etag=request.etag,
            last_modified=request.last_modified,
            max_bytes=self.config.max_bytes,  # type: ignore[attr-defined]
        )
        if resp.not_modified:
            return
        yield Fetched.from_response(resp)


# -- registries --------------------------------------------------------------------------------------


class RegistryConfig(BaseModel):
    """Config of a registry API: its base URL (paths come from the connector class)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: HttpUrl


class RegistryConnector(Connector[ConfigT, Fetched]):
    """A company registry: look up one identifier, or search by name.

    Declare ``lookup_path`` (with ``{identifier}``) and optionally ``search_path`` (with ``{name}``), both
    relative to ``config.base_url``; values are percent-encoded before substitution. ``fetch`` yields one
    ``Fetched`` (one document, or one page of ranked search results), or nothing on 404.
    """

    url_fields: ClassVar[tuple[str, ...]] = ("base_url",)
    lookup_path: ClassVar[str] = "{identifier}"
    search_path: ClassVar[str | None] = None

    def lookup_url(self, request: FetchRequest) -> str:
        """Build the URL for ``request``.

        Raises:
            PermanentError: ``reason="invalid_request"`` when there is nothing usable to look up.
        """
        base = str(self.config.base_url).rstrip("/") + "/"  # type: ignore[attr-defined]
        if request.identifier is not None:
            ident = request.identifier.strip()
            # quote(safe="") stops "/" from escaping the path; "." and ".." still would.
            if not ident or not ident.strip("."):
                raise PermanentError("empty or dot-only identifier", reason="invalid_request")
            return base + self.lookup_path.format(identifier=quote(ident, safe=""))
        if request.name is not None and request.name.strip() and self.search_path is not None:
            return base + self.search_path.format(name=quote(request.name.strip(), safe=""))
        raise PermanentError(
            f"{self.name}: request has no identifier or searchable name", reason="invalid_request"
        )

    def fetch(self, request: FetchRequest) -> Iterator[Fetched]:
        """Look up or search; see the class docstring."""
        resp = self.http.get(self.lookup_url(request), headers=self.request_headers(), allow_not_found=True)
        if resp.not_found:
            return
        yield Fetched.from_response(resp)


# -- webhooks ----------------------------------------------------------------------------------------


class WebhookConfig(BaseModel):
    """Config of an inbound webhook source: its Standard Webhooks secrets (two during a rotation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signing_secrets: list[SecretStr] = Field(min_length=1, max_length=4)
    tolerance_seconds: int = Field(default=standard_webhooks.DEFAULT_TOLERANCE, ge=1, le=3600)

    @field_validator("signing_secrets")
    @classmethod
    def _secrets_decode(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            try:
                standard_webhooks.decode_secret(secret.get_secret_value())
            except ConfigInvalidError:
                raise ValueError("not a base64 (whsec_) secret") from None
        return value


class WebhookConnector(Connector[ConfigT, Fetched]):
    """A source that pushes to us, signed per Standard Webhooks.

    The HTTP edge calls ``verify`` on the raw request, then hands the body over as
    ``FetchRequest(body=...)``; ``fetch`` yields it unchanged so the pipeline after it is the same as for
    pulled sources.
    """

    needs_http: ClassVar[bool] = False

    def secrets(self) -> list[str]:
        """The secrets to accept; override to read them from somewhere other than the config."""
        return [s.get_secret_value() for s in self.config.signing_secrets]  # type: ignore[attr-defined]

    def verify(self, headers: Mapping[str, str], body: bytes, now: int) -> None:
        """Check the Standard Webhooks signature of one delivery.

        Raises:
            SignatureInvalidError: Missing/malformed headers, timestamp out of tolerance, or no match.
        """
        tolerance = getattr(self.config, "tolerance_seconds", standard_webhooks.DEFAULT_TOLERANCE)
        standard_webhooks.verify(self.secrets(), headers, body, now=now, tolerance=tolerance)

    def fetch(self, request: FetchRequest) -> Iterator[Fetched]:
        """Yield the verified body carried by ``request.body``.

        Raises:
            PermanentError: ``reason="invalid_request"`` when the request carries no body.
        """
        if request.body is None:
            raise PermanentError(f"{self.name}: webhook fetch needs request.body", reason="invalid_request")
        yield Fetched(body=request.body, url=f"webhook:{self.name}")
