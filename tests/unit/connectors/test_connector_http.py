"""The shared HTTP client against a real local server on 127.0.0.1 (no other address is contacted)."""

from __future__ import annotations

import gzip
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator

import pytest

from connectors.errors import PermanentError, RetryableError, UrlRefusedError
from connectors.http import USER_AGENT, HttpClient, parse_retry_after
from tests.contract.harness import LocalServer, Reply, Seen


@pytest.fixture()
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture()
def client() -> HttpClient:
    return HttpClient(connect_timeout=2.0, read_timeout=5.0)


def test_200_returns_body_headers_and_sends_user_agent(server: LocalServer, client: HttpClient) -> None:
    server.responder = lambda seen: Reply(
        200, b"<rss/>", {"Content-Type": "application/rss+xml", "ETag": '"v1"'}
    )
    resp = client.get(server.url("/feed.xml?page=2"))
    assert (resp.status, resp.body, resp.content_type, resp.etag) == (
        200,
        b"<rss/>",
        "application/rss+xml",
        '"v1"',
    )
    assert resp.url == server.url("/feed.xml?page=2")
    assert server.seen[0].path == "/feed.xml?page=2"
    assert server.seen[0].headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("dealreg/") and "(+https://github.com/dealreg/dealreg)" in USER_AGENT


def _conditional(seen: Seen) -> Reply:
    if (
        seen.headers.get("if-none-match") == '"v7"'
        or seen.headers.get("if-modified-since") == "Wed, 01 Jan 2025 00:00:00 GMT"
    ):
        return Reply(304, headers={"ETag": '"v7"'})
    return Reply(200, b"fresh", {"ETag": '"v7"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"})


def test_conditional_get_with_etag_surfaces_304(server: LocalServer, client: HttpClient) -> None:
    # GIVEN a first fetch that returns validators
    server.responder = _conditional
    first = client.get(server.url("/feed"))
    assert (first.status, first.body, first.not_modified) == (200, b"fresh", False)
    # WHEN the validators are sent back
    second = client.get(server.url("/feed"), etag=first.etag)
    third = client.get(server.url("/feed"), last_modified=first.last_modified)
    # THEN the server sees the conditional headers and the client reports "not modified"
    assert server.seen[1].headers["if-none-match"] == '"v7"'
    assert server.seen[2].headers["if-modified-since"] == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert (second.status, second.not_modified, second.body) == (304, True, b"")
    assert third.not_modified


def test_429_with_retry_after_seconds_is_retryable(server: LocalServer, client: HttpClient) -> None:
    server.responder = lambda seen: Reply(429, b"slow down", {"Retry-After": "120"})
    with pytest.raises(RetryableError) as exc:
        client.get(server.url("/api"))
    assert (exc.value.retry_after, exc.value.status, exc.value.reason) == (120.0, 429, "rate_limited")


def test_retry_after_http_date_is_turned_into_seconds(server: LocalServer) -> None:
    # Clock fixed 90 s before the date the server names.
    when = "Wed, 21 Oct 2015 07:28:00 GMT"
    client = HttpClient(clock=lambda: 1445412480.0 - 90)
    server.responder = lambda seen: Reply(503, b"", {"Retry-After": when})
    with pytest.raises(RetryableError) as exc:
        client.get(server.url("/api"))
    assert exc.value.retry_after == 90.0
    assert exc.value.status == 503


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_5xx_and_408_are_retryable(server: LocalServer, client: HttpClient, status: int) -> None:
    server.responder = lambda seen: Reply(status, b"oops")
    with pytest.raises(RetryableError) as exc:
        client.get(server.url("/api"))
    assert exc.value.status == status
    assert exc.value.retry_after is None


def test_404_is_permanent_unless_the_caller_allows_not_found(server: LocalServer, client: HttpClient) -> None:
    server.responder = lambda seen: Reply(404, b'{"error":"no such company"}')
    with pytest.raises(PermanentError) as exc:
        client.get(server.url("/company/00000000"))
    assert (exc.value.status, exc.value.reason) == (404, "not_found")
    resp = client.get(server.url("/company/00000000"), allow_not_found=True)
    assert resp.not_found and resp.body == b'{"error":"no such company"}'


@pytest.mark.parametrize("status", [400, 401, 403, 405, 410, 422, 451])
def test_other_4xx_are_permanent(server: LocalServer, client: HttpClient, status: int) -> None:
    server.responder = lambda seen: Reply(status, b"no")
    with pytest.raises(PermanentError) as exc:
        client.get(server.url("/api"))
    assert not isinstance(exc.value, RetryableError)
    assert (exc.value.status, exc.value.reason) == (status, "client_error")


def test_slow_server_times_out_as_retryable(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(200, b"late", wait=10.0)  # released when the server stops
    client = HttpClient(read_timeout=0.2)
    with pytest.raises(RetryableError) as exc:
        client.get(server.url("/slow"))
    assert exc.value.reason == "timeout"


def test_per_request_timeout_overrides_the_default(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(200, b"late", wait=10.0)
    client = HttpClient(read_timeout=30.0)
    with pytest.raises(RetryableError) as exc:
        client.get(server.url("/slow"), read_timeout=0.2)
    assert exc.value.reason == "timeout"


def test_total_deadline_stops_a_body_that_keeps_coming(server: LocalServer) -> None:
    # A negative budget makes the deadline check fire on the first chunk, without any sleeping.
    server.responder = lambda seen: Reply(200, b"x" * 1000)
    with pytest.raises(RetryableError) as exc:
        HttpClient(total_timeout=-1).get(server.url("/drip"))
    assert exc.value.reason == "timeout"


def test_connection_refused_is_retryable() -> None:
    # A port bound but not listening refuses connections, and stays ours for the whole request: a port closed
    # before the request could be taken meanwhile by another xdist worker's server (then it answers).
    with socket.socket() as sock, pytest.raises(RetryableError) as exc:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        HttpClient(connect_timeout=2.0).get(f"http://127.0.0.1:{port}/")
    assert exc.value.reason == "connection_error"


@pytest.mark.parametrize("content_length", [True, False], ids=["declared", "streamed"])
def test_body_over_the_cap_is_permanent(server: LocalServer, content_length: bool) -> None:
    server.responder = lambda seen: Reply(200, b"x" * 300_000, content_length=content_length)
    client = HttpClient(max_bytes=200_000)
    with pytest.raises(PermanentError) as exc:
        client.get(server.url("/big"))
    assert exc.value.reason == "too_large"
    # the same body fits under a larger per-request cap, and a body exactly at the cap is fine
    assert len(client.get(server.url("/big"), max_bytes=300_000).body) == 300_000


def test_gzip_is_decoded_and_the_cap_applies_to_decoded_bytes(server: LocalServer) -> None:
    bomb = gzip.compress(b"a" * 2_000_000)  # about 2 KB on the wire
    server.responder = lambda seen: Reply(200, bomb, {"Content-Encoding": "gzip"})
    with pytest.raises(PermanentError) as exc:
        HttpClient(max_bytes=1_000_000).get(server.url("/bomb"))
    assert exc.value.reason == "too_large"
    assert HttpClient(max_bytes=3_000_000).get(server.url("/bomb")).body == b"a" * 2_000_000
    assert "gzip" in server.seen[0].headers["accept-encoding"]


def _hops(seen: Seen) -> Reply:
    # /hop/N redirects to /hop/N-1; /hop/0 answers.
    n = int(seen.path.rsplit("/", 1)[1])
    return Reply(302, headers={"Location": f"/hop/{n - 1}"}) if n else Reply(200, b"arrived")


def test_up_to_three_redirects_are_followed(server: LocalServer, client: HttpClient) -> None:
    server.responder = _hops
    resp = client.get(server.url("/hop/3"))
    assert (resp.body, resp.url) == (b"arrived", server.url("/hop/0"))
    with pytest.raises(PermanentError) as exc:
        client.get(server.url("/hop/4"))
    assert exc.value.reason == "too_many_redirects"


def test_redirect_loop_is_permanent(server: LocalServer, client: HttpClient) -> None:
    server.responder = lambda seen: Reply(301, headers={"Location": "/loop"})
    with pytest.raises(PermanentError) as exc:
        client.get(server.url("/loop"))
    assert exc.value.reason == "too_many_redirects"
    assert len(server.seen) == 4  # the first request and three followed redirects, then stop


def test_cross_origin_redirect_drops_credentials(server: LocalServer, client: HttpClient) -> None:
    with LocalServer(lambda seen: Reply(200, b"other")) as other:
        server.responder = lambda seen: (
            Reply(302, headers={"Location": "/same"})
            if seen.path == "/start"
            else Reply(302, headers={"Location": other.url("/x")})
        )
        resp = client.get(server.url("/start"), headers={"Authorization": "Bearer secret-token"})
        assert resp.body == b"other"
        assert server.seen[1].headers.get("authorization") == "Bearer secret-token"  # same origin keeps it
        assert "authorization" not in other.seen[0].headers  # another origin must not get it


def test_post_sends_the_body_and_is_never_redirected(server: LocalServer, client: HttpClient) -> None:
    server.responder = lambda seen: (
        Reply(202, b"ok") if seen.path == "/hook" else Reply(307, headers={"Location": "/hook"})
    )
    resp = client.post(server.url("/hook"), b'{"a":1}', headers={"Content-Type": "application/json"})
    assert resp.status == 202
    assert (server.seen[0].method, server.seen[0].body) == ("POST", b'{"a":1}')
    with pytest.raises(PermanentError) as exc:
        client.post(server.url("/moved"), b"{}")
    assert exc.value.reason == "redirect_refused"


def test_unexpected_3xx_is_permanent(server: LocalServer, client: HttpClient) -> None:
    server.responder = lambda seen: Reply(300, b"choose")
    with pytest.raises(PermanentError):
        client.get(server.url("/"))


# -- the guarded client connects to the vetted address only -------------------------------------------


def _resolver(address: str, calls: list[str]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolve


def test_guarded_client_connects_to_the_vetted_address_with_the_original_host(server: LocalServer) -> None:
    # GIVEN a name that only our fake resolver knows (real DNS would fail on it)
    calls: list[str] = []
    server.responder = lambda seen: Reply(200, b"pinned")
    client = HttpClient(ssrf_guard=True, allow_loopback_http=True, resolver=_resolver("127.0.0.1", calls))
    # WHEN fetching by that name
    resp = client.get(f"http://callback.partner.test:{server.port}/hook?id=1")
    # THEN the request reached the vetted address, carrying the original Host header
    assert resp.body == b"pinned"
    assert calls == ["callback.partner.test"]
    assert server.seen[0].headers["host"] == f"callback.partner.test:{server.port}"
    assert server.seen[0].path == "/hook?id=1"


def test_guarded_client_vets_every_redirect_hop(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(
        302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    calls: list[str] = []
    client = HttpClient(ssrf_guard=True, allow_loopback_http=True, resolver=_resolver_map(calls))
    with pytest.raises(UrlRefusedError) as exc:
        client.get(f"http://callback.partner.test:{server.port}/start")
    assert exc.value.reason == "forbidden_address"
    assert calls == ["callback.partner.test", "169.254.169.254"]
    assert len(server.seen) == 1


def _resolver_map(calls: list[str]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        calls.append(host)
        address = "127.0.0.1" if host.endswith(".test") else host  # IP literals resolve to themselves
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolve


def test_guarded_client_refuses_plain_http_without_the_loopback_allowance(server: LocalServer) -> None:
    client = HttpClient(ssrf_guard=True, resolver=_resolver("127.0.0.1", []))
    with pytest.raises(UrlRefusedError):
        client.get(server.url("/"))
    assert server.seen == []


# -- Retry-After parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        (" 45 ", 45.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past: retry now
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("99999999999", 86_400.0),  # capped
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=1445412480.0 - 30) == expected


# -- TLS to a pinned address: the certificate is checked against the name, not the IP ------------------


@pytest.fixture(scope="module")
def partner_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for ``partner.test``, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=partner.test",
            "-addext", "subjectAltName=DNS:partner.test",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture()
def tls_server(partner_cert: tuple[str, str]) -> Iterator[LocalServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*partner_cert)
    with LocalServer(lambda seen: Reply(200, b"over tls"), tls=context) as srv:
        yield srv


def test_guarded_https_checks_the_certificate_against_the_name(
    tls_server: LocalServer, partner_cert: tuple[str, str]
) -> None:
    # GIVEN partner.test and impostor.test both "resolving" to the local TLS server
    calls: list[str] = []
    client = HttpClient(
        ssrf_guard=True,
        allow_loopback_http=True,
        resolver=_resolver("127.0.0.1", calls),
        ca_certs=partner_cert[0],
    )
    # WHEN the name matches the certificate THEN the request succeeds over the pinned address
    assert client.get(f"https://partner.test:{tls_server.port}/hook").body == b"over tls"
    assert tls_server.seen[0].headers["host"] == f"partner.test:{tls_server.port}"
    # AND a name the certificate does not cover is refused as a TLS failure (permanent)
    with pytest.raises(PermanentError) as exc:
        client.get(f"https://impostor.test:{tls_server.port}/hook")
    assert exc.value.reason == "tls_error"
    assert calls == ["partner.test", "impostor.test"]


def test_error_messages_do_not_carry_query_strings(server: LocalServer, client: HttpClient) -> None:
    server.responder = lambda seen: Reply(403, b"no")
    with pytest.raises(PermanentError) as exc:
        client.get(server.url("/search?q=acme&api_key=sk_live_secret"))
    assert "sk_live_secret" not in str(exc.value)
    assert "/search" in str(exc.value)
