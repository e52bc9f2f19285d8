"""The one HTTP client every connector uses, and the SSRF guard for user-supplied URLs.

This is the single place where HTTP outcomes are classified (as meltano's ``RESTStream.validate_response``
does): 429, 5xx, timeouts and connection failures raise ``RetryableError``; other 4xx raise
``PermanentError``; 404 is either ``PermanentError`` or, when the caller says ``allow_not_found`` (registry
look-ups), an ordinary response whose ``not_found`` is true. Connectors never look at status codes.

The client never retries: retries belong to the queue, which has backoff, a DLQ and visibility.
"""

from __future__ import annotations

import email.utils
import ipaddress
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3 import exceptions as u3exc

from connectors._version import __version__
from connectors.errors import PermanentError, RetryableError, UrlRefusedError

USER_AGENT = f"dealreg/{__version__} (+https://github.com/dealreg/dealreg)"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0
DEFAULT_TOTAL_TIMEOUT = 60.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 3
# A source asking for a week-long pause is more likely broken than honest; the queue's own backoff
# takes over past a day.
MAX_RETRY_AFTER = 86_400.0

_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Credentials must not follow a redirect to another origin.
_ORIGIN_BOUND_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

# Cloud instance/task metadata endpoints. Most are link-local already; listing them keeps the intent
# explicit and covers fd00:ec2::254, which Python classes merely as "private".
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS/GCP/Azure/OpenStack instance metadata
        "169.254.170.2",  # ECS task metadata/credentials
        "169.254.170.23",  # EKS pod identity agent
        "fd00:ec2::254",  # AWS IMDS over IPv6 (Nitro)
        "fd00:ec2::23",  # EKS pod identity agent over IPv6
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[..., list[tuple[Any, ...]]]
"""Same call shape as ``socket.getaddrinfo(host, port, type=...)``; injectable for tests."""


@dataclass(frozen=True)
class HttpResponse:
    """A completed response that the caller may use (2xx, 304, or an allowed 404).

    Attributes:
        status: HTTP status code.
        body: The (decoded, size-capped) body; empty for 304.
        headers: Response headers with lower-cased names; repeated headers joined by ``", "``.
        url: The final URL, after redirects.
    """

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer to a conditional GET."""
        return self.status == 304

    @property
    def not_found(self) -> bool:
        """True for a 404 the caller allowed (a registry's "no such company")."""
        return self.status == 404

    def header(self, name: str) -> str | None:
        """Return one header value by case-insensitive name, or ``None``."""
        return self.headers.get(name.lower())

    @property
    def etag(self) -> str | None:
        """The ``ETag`` validator to send back as ``If-None-Match`` next time."""
        return self.header("etag")

    @property
    def last_modified(self) -> str | None:
        """The ``Last-Modified`` validator to send back as ``If-Modified-Since`` next time."""
        return self.header("last-modified")

    @property
    def content_type(self) -> str | None:
        """The ``Content-Type`` header."""
        return self.header("content-type")


@dataclass(frozen=True)
class VettedUrl:
    """A URL the guard accepted, with the addresses it resolved to; connect only to these."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_url(url: str, *, allow_loopback_http: bool, resolver: Resolver = socket.getaddrinfo) -> None:
    """Refuse URLs that must not be sent to: SSRF guard for webhook callbacks and other user input.

    Only ``https`` is accepted, except ``http`` to a loopback address when ``allow_loopback_http`` (local
    development and tests). Every address the host resolves to must be public: private, link-local,
    loopback (unless allowed), multicast, reserved, unspecified and cloud-metadata addresses are refused,
    including IPv4 addresses embedded in IPv6 (mapped, 6to4, NAT64).

    Args:
        url: The URL to check.
        allow_loopback_http: Permit loopback addresses, over ``http`` or ``https``.
        resolver: ``socket.getaddrinfo`` or a stand-in with the same call shape.

    Raises:
        UrlRefusedError: ``reason`` is ``bad_scheme``, ``bad_url``, ``credentials_in_url``,
            ``unresolvable`` or ``forbidden_address``.
        RetryableError: Name resolution failed temporarily.
    """
    vet_url(url, allow_loopback_http=allow_loopback_http, resolver=resolver)


def vet_url(url: str, *, allow_loopback_http: bool, resolver: Resolver = socket.getaddrinfo) -> VettedUrl:
    """Like ``check_url`` but return the vetted addresses, so the caller connects to exactly those.

    Resolving once and connecting to the result closes the DNS-rebinding gap between check and use.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefusedError("unparseable URL", reason="bad_url") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UrlRefusedError(f"scheme {scheme!r} not allowed", reason="bad_scheme")
    if scheme == "http" and not allow_loopback_http:
        raise UrlRefusedError("only https is allowed", reason="bad_scheme")
    host = parts.hostname
    if not host:
        raise UrlRefusedError("URL has no host", reason="bad_url")
    if parts.username is not None or parts.password is not None:
        raise UrlRefusedError("credentials in URL", reason="credentials_in_url")
    port = port or (443 if scheme == "https" else 80)

    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise UrlRefusedError(f"cannot resolve {host!r}", reason="unresolvable") from exc
        raise RetryableError(f"resolving {host!r} failed", reason="dns_error") from exc
    except (UnicodeError, ValueError) as exc:
        raise UrlRefusedError("invalid host name", reason="bad_url") from exc

    addresses: list[str] = []
    for info in infos:
        # sockaddr[0] is the address; IPv6 may carry a "%scope" suffix that ip_address() rejects.
        text = str(info[4][0]).split("%", 1)[0]
        ip = ipaddress.ip_address(text)
        if _forbidden(ip, allow_loopback=allow_loopback_http):
            raise UrlRefusedError(f"{host!r} resolves to a forbidden address", reason="forbidden_address")
        if scheme == "http" and not ip.is_loopback:
            raise UrlRefusedError("http is allowed only to loopback", reason="bad_scheme")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise UrlRefusedError(f"cannot resolve {host!r}", reason="unresolvable")
    return VettedUrl(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool) -> bool:
    if ip in METADATA_ADDRESSES:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        # The embedded IPv4 address is where the packets really go, so it alone decides; judged
        # without the loopback allowance, since "::ffff:127.0.0.1" is never a legitimate endpoint.
        if embedded is not None:
            return _forbidden(embedded, allow_loopback=False)
    if ip.is_loopback:
        return not allow_loopback
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast  # is_global is true for some multicast ranges
        or ip.is_reserved
        or ip.is_unspecified
    )


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Read a ``Retry-After`` header: delay-seconds or an HTTP-date.

    Args:
        value: The header value, or ``None``.
        now: Current unix time, to turn a date into a delay.

    Returns:
        Seconds to wait (0 for a date in the past, at most ``MAX_RETRY_AFTER``), or ``None`` when absent
        or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means "-0000"
        return None
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER)


class HttpClient:
    """Connector HTTP client: timeouts, user agent, size cap, conditional GET, status classification.

    Args:
        connect_timeout: Default seconds to establish a connection.
        read_timeout: Default seconds to wait for each read.
        total_timeout: Seconds for a whole request including redirects and the body, so that a server
            dripping bytes cannot hold a Lambda until its own timeout.
        max_bytes: Default cap on the decoded body; larger bodies raise ``PermanentError("too_large")``.
        max_redirects: Redirects followed for GET/HEAD before giving up.
        user_agent: ``User-Agent`` sent with every request.
        ssrf_guard: Vet every URL (and every redirect hop) with ``vet_url`` and connect only to the vetted
            address. Use for user-supplied URLs such as webhook callbacks.
        allow_loopback_http: With ``ssrf_guard``, permit loopback targets (local development, tests).
        resolver: ``socket.getaddrinfo`` stand-in for the guard.
        ca_certs: A CA bundle to trust instead of the system store (private CAs, tests).
        clock: Unix-time source, used for HTTP-date ``Retry-After``.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = MAX_REDIRECTS,
        user_agent: str = USER_AGENT,
        ssrf_guard: bool = False,
        allow_loopback_http: bool = False,
        resolver: Resolver = socket.getaddrinfo,
        ca_certs: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self.ssrf_guard = ssrf_guard
        self.allow_loopback_http = allow_loopback_http
        self._resolver = resolver
        self._clock = clock
        self._ca_certs = ca_certs
        # Kept across calls so a warm Lambda reuses TLS connections.
        self._manager = urllib3.PoolManager(num_pools=8, retries=False, ca_certs=ca_certs)
        self._pinned: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        allow_not_found: bool = False,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> HttpResponse:
        """GET a URL, conditionally when ``etag``/``last_modified`` are given.

        Args:
            url: Absolute http(s) URL.
            headers: Extra request headers (e.g. ``Authorization``; dropped on a cross-origin redirect).
            etag: Previous ``ETag``; sent as ``If-None-Match``.
            last_modified: Previous ``Last-Modified``; sent as ``If-Modified-Since``.
            allow_not_found: Return a 404 as a response (``not_found``) instead of raising.
            connect_timeout: Override the client default for this request.
            read_timeout: Override the client default for this request.
            max_bytes: Override the client's body cap for this request.

        Returns:
            The response: 2xx, 304 (``not_modified``, empty body) or an allowed 404.

        Raises:
            RetryableError: 408, 429, 5xx, timeout, connection failure (``retry_after`` from the source).
            PermanentError: Other 4xx, too large, too many redirects, TLS failure, refused URL.
        """
        extra = dict(headers or {})
        if etag:
            extra["If-None-Match"] = etag
        if last_modified:
            extra["If-Modified-Since"] = last_modified
        return self.request(
            "GET",
            url,
            headers=extra,
            allow_not_found=allow_not_found,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_bytes=max_bytes,
        )

    def post(
        self,
        url: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> HttpResponse:
        """POST raw bytes (e.g. a signed webhook delivery). Redirects are not followed for POST.

        Raises:
            RetryableError: As for ``get``.
            PermanentError: As for ``get``; any 3xx is permanent.
        """
        return self.request(
            "POST",
            url,
            body=body,
            headers=headers,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_bytes=max_bytes,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        allow_not_found: bool = False,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> HttpResponse:
        """Send one request, follow redirects (GET/HEAD only), classify the outcome.

        See ``get`` for arguments, return value and errors.
        """
        method = method.upper()
        timeout = urllib3.Timeout(
            connect=self.connect_timeout if connect_timeout is None else connect_timeout,
            read=self.read_timeout if read_timeout is None else read_timeout,
        )
        cap = self.max_bytes if max_bytes is None else max_bytes
        deadline = time.monotonic() + self.total_timeout
        send_headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}
        send_headers.update(headers or {})

        for _hop in range(self.max_redirects + 1):
            resp = self._open(method, url, body, send_headers, timeout)
            status = resp.status
            if status in _REDIRECTS:
                location = resp.headers.get("Location")
                _discard(resp)
                if method not in ("GET", "HEAD"):
                    raise PermanentError(
                        f"{method} redirected ({status})", reason="redirect_refused", status=status
                    )
                if not location:
                    raise PermanentError("redirect without Location", reason="bad_redirect", status=status)
                next_url = urljoin(url, location)
                if _origin(next_url) != _origin(url):
                    send_headers = {
                        k: v for k, v in send_headers.items() if k.lower() not in _ORIGIN_BOUND_HEADERS
                    }
                url = next_url
                continue
            return self._finish(resp, url, cap, deadline, allow_not_found)
        raise PermanentError(f"more than {self.max_redirects} redirects", reason="too_many_redirects")

    # -- internals -------------------------------------------------------------------------------

    def _open(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: urllib3.Timeout
    ) -> Any:
        kwargs: dict[str, Any] = {
            "body": body,
            "timeout": timeout,
            "retries": False,
            "redirect": False,
            "preload_content": False,
        }
        if not self.ssrf_guard:
            try:
                return self._manager.urlopen(method, url, headers=headers, **kwargs)
            except Exception as exc:  # noqa: BLE001 - translated, never swallowed
                err = _translate(exc, url)
                if err is exc:
                    raise
                raise err from exc
        # Vet (resolve) once and connect to that very address, so a DNS answer that changes between
        # check and connect (rebinding) cannot redirect us.
        vetted = vet_url(url, allow_loopback_http=self.allow_loopback_http, resolver=self._resolver)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        pinned = dict(headers)
        pinned["Host"] = _host_header(vetted)
        try:
            return self._pool_for(vetted).urlopen(
                method, path, headers=pinned, assert_same_host=False, **kwargs
            )
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            err = _translate(exc, url)
            if err is exc:
                raise
            raise err from exc

    def _pool_for(self, vetted: VettedUrl) -> urllib3.HTTPConnectionPool:
        address = vetted.addresses[0]
        key = (vetted.scheme, address, vetted.port, vetted.host)
        pool = self._pinned.get(key)
        if pool is None:
            if len(self._pinned) >= 16:  # user-supplied hosts are unbounded; keep the cache small
                for old in self._pinned.values():
                    old.close()
                self._pinned.clear()
            if vetted.scheme == "https":
                # Connect to the vetted address, but do SNI and certificate checks against the name.
                pool = urllib3.HTTPSConnectionPool(
                    address,
                    vetted.port,
                    maxsize=1,
                    retries=False,
                    server_hostname=vetted.host,
                    assert_hostname=vetted.host,
                    ca_certs=self._ca_certs,
                )
            else:
                pool = urllib3.HTTPConnectionPool(address, vetted.port, maxsize=1, retries=False)
            self._pinned[key] = pool
        return pool

    def _finish(self, resp: Any, url: str, cap: int, deadline: float, allow_not_found: bool) -> HttpResponse:
        shown = _redact(url)
        status = resp.status
        if status == 404 and not allow_not_found:
            _discard(resp)
            raise PermanentError(f"{shown} -> 404", reason="not_found", status=404)
        if status == 429 or status == 408 or status >= 500:
            # 408 is the server timing us out: a retry on a fresh connection normally succeeds.
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), now=self._clock())
            _discard(resp)
            reason = "rate_limited" if status == 429 else ("server_error" if status >= 500 else "timeout")
            raise RetryableError(
                f"{shown} -> {status}", retry_after=retry_after, reason=reason, status=status
            )
        if 400 <= status < 500 and status != 404:
            _discard(resp)
            raise PermanentError(f"{shown} -> {status}", reason="client_error", status=status)
        if not (200 <= status < 300 or status in (304, 404)):
            _discard(resp)
            raise PermanentError(f"{shown} -> unexpected {status}", reason="unexpected_status", status=status)

        headers = {k.lower(): v for k, v in resp.headers.itermerged()}
        if status == 304:
            _discard(resp)
            return HttpResponse(status=304, body=b"", headers=headers, url=url)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            _discard(resp)
            raise PermanentError(
                f"{shown}: body of {length} bytes over the {cap} byte cap", reason="too_large"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.stream(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > cap:
                    # Checked on decoded bytes, so a small gzip bomb is stopped too.
                    _discard(resp)
                    raise PermanentError(f"{shown}: body over the {cap} byte cap", reason="too_large")
                if time.monotonic() > deadline:
                    _discard(resp)
                    raise RetryableError(f"{shown}: body not received within the deadline", reason="timeout")
                chunks.append(chunk)
        except (PermanentError, RetryableError):
            raise
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            _discard(resp)
            err = _translate(exc, url)
            if err is exc:
                raise
            raise err from exc
        resp.release_conn()
        return HttpResponse(status=status, body=b"".join(chunks), headers=headers, url=url)


def _translate(exc: Exception, url: str) -> Exception:
    """Map a transport exception to the connector error tree (the other half of status classification).

    Unknown exceptions (programming errors) are returned unchanged so they surface as they are.
    """
    if isinstance(exc, (PermanentError, RetryableError)):
        return exc
    url = _redact(url)
    # Order matters: NewConnectionError subclasses ConnectTimeoutError in urllib3.
    if isinstance(exc, u3exc.NewConnectionError):
        return RetryableError(f"{url}: cannot connect", reason="connection_error")
    if isinstance(exc, (u3exc.TimeoutError, socket.timeout)):
        return RetryableError(f"{url}: timed out", reason="timeout")
    if isinstance(exc, u3exc.SSLError):
        # Certificate and protocol mismatches do not fix themselves on retry.
        return PermanentError(f"{url}: TLS failure", reason="tls_error")
    if isinstance(exc, (u3exc.LocationValueError, u3exc.URLSchemeUnknown)):
        return PermanentError(f"{url}: invalid URL", reason="bad_url")
    if isinstance(exc, u3exc.DecodeError):
        return PermanentError(f"{url}: undecodable body", reason="decode_error")
    if isinstance(exc, (u3exc.HTTPError, ConnectionError, OSError)):
        return RetryableError(f"{url}: connection failed", reason="connection_error")
    return exc


def _redact(url: str) -> str:
    """``scheme://host[:port]/path`` only: queries and userinfo can hold API keys, and messages get logged."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{netloc}{parts.path}"


def _discard(resp: Any) -> None:
    # Close rather than drain: draining would read the very body we decided not to read.
    resp.close()
    resp.release_conn()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or (443 if scheme == "https" else 80)


def _host_header(vetted: VettedUrl) -> str:
    host = f"[{vetted.host}]" if ":" in vetted.host else vetted.host
    default = 443 if vetted.scheme == "https" else 80
    return host if vetted.port == default else f"{host}:{vetted.port}"
