"""Shared test harness: a local HTTP server on 127.0.0.1 and the connector contract checks.

``LocalServer`` answers every request through a ``responder`` the test sets, records what it received,
and never leaves 127.0.0.1. The ``check_*`` functions are the connector contract (STYLE.md section 6):
``test_connectors.py`` runs them over every ``connectors.REGISTRY`` entry, so a new connector needs no
new test code, only ``example_config``, ``fixtures`` and files under ``tests/fixtures/sources/<name>/``.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from connectors import standard_webhooks
from connectors.base import Connector, FetchRequest, RegistryConnector, WebhookConnector, split_parsed
from connectors.errors import PermanentError, RecordRejectedError, RetryableError, SignatureInvalidError
from connectors.http import HttpClient

FIXTURES_ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "sources"


# -- local HTTP server ------------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What the server sends back.

    ``wait`` makes the handler block (up to that many seconds, or until the server stops) before
    answering, to exercise client read timeouts. ``content_length=False`` omits the header and ends
    the body by closing the connection, so a client has to stream it.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    wait: float = 0.0
    content_length: bool = True


Responder = Callable[[Seen], Reply]


class LocalServer:
    """A threaded ``http.server`` on 127.0.0.1 with a free port; use as a context manager."""

    def __init__(self, responder: Responder | None = None, *, tls: ssl.SSLContext | None = None) -> None:
        self.responder: Responder = responder or (lambda seen: Reply())
        self.seen: list[Seen] = []
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: simple and deterministic

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                server.seen.append(seen)
                reply = server.responder(seen)
                if reply.wait:
                    server._stopping.wait(reply.wait)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.content_length:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if self.command != "HEAD" and reply.status != 304:
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout, size cap): that is what the test wanted

            do_GET = do_POST = do_HEAD = do_PUT = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        # A short poll interval keeps shutdown() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` when serving TLS)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + path

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


# -- contract checks --------------------------------------------------------------------------------


class _NoIO:
    """Stands in for the HTTP client where the contract says no I/O may happen."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"parse() must be pure, but it used http.{name}")


def fixture_paths(cls: type[Connector], root: Path = FIXTURES_ROOT) -> list[Path]:
    """The fixture files a connector declares, resolved under ``root/<name>/``."""
    assert cls.fixtures, f"{cls.__name__} declares no fixtures"
    paths = [root / cls.name / rel for rel in cls.fixtures]
    missing = [str(p) for p in paths if not p.is_file()]
    assert not missing, f"{cls.__name__}: missing fixture files {missing}"
    return paths


def check_declaration(key: str, cls: type[Connector]) -> None:
    """The class is registered under its own name and has a pydantic config model."""
    assert isinstance(cls, type) and issubclass(cls, Connector), f"{key}: not a Connector subclass"
    assert getattr(cls, "name", None) == key, (
        f"{cls.__name__}.name is {getattr(cls, 'name', None)!r}, key is {key!r}"
    )
    assert isinstance(cls.config_model, type) and issubclass(cls.config_model, BaseModel)
    assert not getattr(cls, "__abstractmethods__", None), (
        f"{cls.__name__} leaves {cls.__abstractmethods__} abstract"
    )


def check_example_config(cls: type[Connector]) -> None:
    """``example_config`` validates, and a connector can be built from it."""
    config = cls.validate_config(cls.example_config)
    assert isinstance(config, cls.config_model)
    connector = cls(cls.example_config, HttpClient())
    assert connector.config == config


def check_fixtures_parse(cls: type[Connector], root: Path = FIXTURES_ROOT) -> None:
    """Every fixture parses, purely, into records with non-empty, stable ``source_id``s, deterministically."""
    for path in fixture_paths(cls, root):
        body = path.read_bytes()
        runs = []
        for _ in range(2):
            # A fresh instance per run: state kept on the connector must not change the output.
            connector = cls(cls.example_config, _NoIO())  # type: ignore[arg-type]
            runs.append(split_parsed(connector.parse(connector.raw_from_fixture(body, name=path.name))))
        (records, rejected), (again, rejected_again) = runs
        assert records, f"{cls.__name__}: {path.name} produced no records"
        for record in records:
            assert isinstance(record, BaseModel), (
                f"{cls.__name__} yielded {type(record).__name__}, not a model"
            )
            source_id = getattr(record, "source_id", None)
            assert isinstance(source_id, str) and source_id.strip(), (
                f"{cls.__name__}: record without source_id"
            )
        assert [r.source_id for r in records] == [r.source_id for r in again], "source_id not stable"
        assert [r.model_dump(mode="json") for r in records] == [r.model_dump(mode="json") for r in again], (
            f"{cls.__name__}: parse({path.name}) is not deterministic"
        )
        for rej in rejected + rejected_again:
            assert isinstance(rej, RecordRejectedError)
            assert all(set(err) == {"loc", "type"} for err in rej.errors), "rejections carry only loc/type"
        assert len(rejected) == len(rejected_again)


def _pointed_at(cls: type[Connector], base_url: str) -> dict[str, Any]:
    """``example_config`` with every URL field moved onto the local server (path and query kept)."""
    assert cls.url_fields, f"{cls.__name__} does I/O but declares no url_fields for the contract suite"
    config = dict(cls.example_config)
    local = urlsplit(base_url)
    for name in cls.url_fields:
        original = urlsplit(str(config[name]))
        config[name] = urlunsplit((local.scheme, local.netloc, original.path, original.query, ""))
    return config


def check_fetch_outcomes(cls: type[Connector], server: LocalServer, root: Path = FIXTURES_ROOT) -> None:
    """``fetch`` goes through the shared client and maps HTTP outcomes the one agreed way.

    200 -> payloads that parse; 429 -> retryable with ``retry_after``; 503 -> retryable; 400/401/403/410
    -> permanent; 404 -> nothing for registries ("not found" is an answer), permanent otherwise.
    Webhook connectors do no I/O, so instead their ``verify`` must accept a correctly signed fixture and
    refuse a tampered one.
    """
    body = fixture_paths(cls, root)[0].read_bytes()
    if issubclass(cls, WebhookConnector):
        _check_webhook(cls, body)
        return

    connector = cls(_pointed_at(cls, server.base_url), HttpClient(read_timeout=5.0))
    request = cls.example_request

    server.responder = lambda seen: Reply(200, body)
    payloads = list(connector.fetch(request))
    assert payloads, f"{cls.__name__}.fetch yielded nothing for a 200"
    records, _ = split_parsed(item for raw in payloads for item in connector.parse(raw))
    assert records, f"{cls.__name__}: a fetched fixture parsed into no records"
    assert server.seen and server.seen[-1].headers.get("user-agent", "").startswith("dealreg/"), (
        f"{cls.__name__} must fetch through connectors.http.HttpClient"
    )

    server.responder = lambda seen: Reply(429, b"slow down", {"Retry-After": "7"})
    err = _raised(connector, request)
    assert isinstance(err, RetryableError), f"429 gave {err!r}"
    assert err.retry_after == 7.0, f"429 lost Retry-After: {err.retry_after!r}"

    server.responder = lambda seen: Reply(503, b"down")
    assert isinstance(_raised(connector, request), RetryableError), "503 must be retryable"

    for status in (400, 401, 403, 410):
        server.responder = lambda seen, s=status: Reply(s, b"no")  # type: ignore[misc]
        err = _raised(connector, request)
        assert isinstance(err, PermanentError) and not isinstance(err, RetryableError), (
            f"{status} gave {err!r}"
        )

    server.responder = lambda seen: Reply(404, b"not here")
    if issubclass(cls, RegistryConnector):
        assert list(connector.fetch(request)) == [], "a registry 404 means 'not found': yield nothing"
    else:
        assert isinstance(_raised(connector, request), PermanentError), "404 must be permanent for a feed"


def _raised(connector: Connector, request: FetchRequest) -> BaseException | None:
    try:
        list(connector.fetch(request))
    except Exception as exc:  # noqa: BLE001 - the caller inspects the class
        return exc
    return None


def _check_webhook(cls: type[WebhookConnector], body: bytes) -> None:
    connector = cls(cls.example_config)
    secret = connector.secrets()[0]
    now = 1_700_000_000
    headers: Mapping[str, str] = {
        "webhook-id": "msg_contract",
        "webhook-timestamp": str(now),
        "webhook-signature": standard_webhooks.sign(secret, "msg_contract", now, body),
    }
    connector.verify(headers, body, now)
    try:
        connector.verify(headers, body + b" ", now)
    except SignatureInvalidError:
        pass
    else:
        raise AssertionError(f"{cls.__name__}.verify accepted a tampered body")
    fetched = list(connector.fetch(FetchRequest(body=body)))
    records, _ = split_parsed(item for raw in fetched for item in connector.parse(raw))
    assert records, f"{cls.__name__}: the verified body parsed into no records"
