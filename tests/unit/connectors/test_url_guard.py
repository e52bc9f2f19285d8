"""SSRF guard: refusals are decided from a fake resolver, and no socket is ever opened."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import urllib3.util.connection

from connectors.errors import RetryableError, UrlRefusedError
from connectors.http import HttpClient, check_url, vet_url


def resolver_for(*addresses: str, calls: list[str] | None = None):  # type: ignore[no-untyped-def]
    """A getaddrinfo stand-in answering every name with ``addresses``."""

    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        if calls is not None:
            calls.append(host)
        out = []
        for addr in addresses:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sockaddr = (addr, port, 0, 0) if family == socket.AF_INET6 else (addr, port)
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    return resolve


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple]]:
    """Any attempt to connect anywhere fails the test."""
    attempts: list[tuple] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"a socket was opened: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts
    assert attempts == []


FORBIDDEN = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "127.0.0.1",
    "127.1.2.3",
    "0.0.0.0",
    "169.254.169.254",  # instance metadata
    "169.254.170.2",  # ECS task metadata
    "169.254.1.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "192.0.2.1",
    "::1",
    "::",
    "fc00::1",
    "fd00:ec2::254",  # IMDS over IPv6
    "fe80::1",
    "fe80::1%eth0",
    "ff02::1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:127.0.0.1",
    "2002:a00:1::1",  # 6to4 wrapping 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 wrapping 169.254.169.254
    "2001:db8::1",  # documentation
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_forbidden_addresses_are_refused(address: str) -> None:
    with pytest.raises(UrlRefusedError) as exc:
        check_url("https://partner.example/hook", allow_loopback_http=False, resolver=resolver_for(address))
    assert exc.value.reason == "forbidden_address"


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "2606:4700:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_accepted(address: str) -> None:
    vetted = vet_url(
        "https://partner.example:8443/hook?x=1", allow_loopback_http=False, resolver=resolver_for(address)
    )
    assert vetted.addresses == (address,)
    assert (vetted.scheme, vetted.host, vetted.port) == ("https", "partner.example", 8443)


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    # DNS can return several records; an attacker needs only one to point inside.
    with pytest.raises(UrlRefusedError):
        check_url(
            "https://partner.example/",
            allow_loopback_http=False,
            resolver=resolver_for("93.184.215.14", "10.0.0.1"),
        )


def test_metadata_address_is_refused_even_when_loopback_is_allowed() -> None:
    for address in ("169.254.169.254", "fd00:ec2::254"):
        with pytest.raises(UrlRefusedError):
            check_url("https://partner.example/", allow_loopback_http=True, resolver=resolver_for(address))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://partner.example/hook", "bad_scheme"),
        ("ftp://partner.example/hook", "bad_scheme"),
        ("file:///etc/passwd", "bad_scheme"),
        ("gopher://partner.example/", "bad_scheme"),
        ("https:///no-host", "bad_url"),
        ("https://user:pass@partner.example/", "credentials_in_url"),
        ("https://partner.example:99999/", "bad_url"),
    ],
)
def test_bad_urls_are_refused_without_resolving(url: str, reason: str) -> None:
    calls: list[str] = []
    with pytest.raises(UrlRefusedError) as exc:
        check_url(url, allow_loopback_http=False, resolver=resolver_for("93.184.215.14", calls=calls))
    assert exc.value.reason == reason
    assert calls == []


def test_loopback_http_only_when_allowed() -> None:
    loopback = resolver_for("127.0.0.1")
    check_url("http://localhost:8080/hook", allow_loopback_http=True, resolver=loopback)
    check_url("https://localhost:8443/hook", allow_loopback_http=True, resolver=loopback)
    with pytest.raises(UrlRefusedError) as exc:
        check_url("http://localhost:8080/hook", allow_loopback_http=False, resolver=loopback)
    assert exc.value.reason == "bad_scheme"
    # http stays refused for a public host even with the loopback allowance
    with pytest.raises(UrlRefusedError) as exc:
        check_url("http://partner.example/", allow_loopback_http=True, resolver=resolver_for("93.184.215.14"))
    assert exc.value.reason == "bad_scheme"


def test_resolution_failures() -> None:
    def nxdomain(*args: object, **kwargs: object) -> list[tuple]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def servfail(*args: object, **kwargs: object) -> list[tuple]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(UrlRefusedError) as exc:
        check_url("https://nowhere.example/", allow_loopback_http=False, resolver=nxdomain)
    assert exc.value.reason == "unresolvable"
    with pytest.raises(RetryableError):
        check_url("https://nowhere.example/", allow_loopback_http=False, resolver=servfail)
    with pytest.raises(UrlRefusedError):
        check_url("https://nowhere.example/", allow_loopback_http=False, resolver=resolver_for())


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "127.0.0.1", "::1", "fc00::1"])
def test_guarded_client_refuses_before_connecting(address: str, no_sockets: list[tuple]) -> None:
    client = HttpClient(ssrf_guard=True, resolver=resolver_for(address))
    with pytest.raises(UrlRefusedError):
        client.get("https://partner.example/hook")
    with pytest.raises(UrlRefusedError):
        client.post("https://partner.example/hook", b"{}")
    assert no_sockets == []
