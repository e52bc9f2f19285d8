"""Local mode answers registry look-ups from the demo registries on 127.0.0.1 and never contacts any other
address (issue 12 item 17)."""
from __future__ import annotations

import ipaddress
import socket

import pytest

from tests.functional.helpers import make_user

NAMES = ("PROVIDERS",
         *(f"{p}_{k}" for p in ("QCC", "GLEIF", "COMPANIES_HOUSE") for k in ("BASE_URL", "SECRET")))


@pytest.fixture()
def local_registries(suite, monkeypatch):
    """Local mode with the demo registries started as ``make run`` starts them; every connect recorded."""
    from chalicelib import settings
    from chalicelib.services import registry_lookup
    from infra.local import demo_registries

    for name in NAMES:  # start() writes these; monkeypatch restores them afterwards
        monkeypatch.setenv(f"DEALREG_REGISTRY_{name}", "x")
        monkeypatch.delenv(f"DEALREG_REGISTRY_{name}")
    monkeypatch.setenv("DEALREG_LOCAL", "1")
    demo = demo_registries.start()
    connected: list[str] = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        connected.append(str(address[0]))
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield connected
    demo.stop()
    settings.reset()
    registry_lookup.forget()


def _only_loopback(connected: list[str]) -> None:
    assert connected, "nothing was contacted"
    assert all(ipaddress.ip_address(a).is_loopback for a in connected), connected


def test_local_lookups_answer_from_the_demo_registries(suite, local_registries):
    from chalicelib import clock
    from chalicelib.services import registry_lookup

    now = clock.now()
    # 企查查 by USCC, GLEIF by LEI, Companies House by number: each from its fixture, in its real format
    qcc = registry_lookup.lookup_id("uscc", "91330106MA2DEA1E7F", now=now)
    assert (qcc.company.source, qcc.company.name, qcc.cached) == ("qcc", "杭州示例云数据科技有限公司", False)
    lei = registry_lookup.lookup_id("lei", "635400DEA1E9LAPS3D41", now=now)
    assert (lei.company.source, lei.company.status.value) == ("gleif", "lapsed")
    coh = registry_lookup.lookup_id("gb-coh", "09876543", now=now)
    assert (coh.company.source, coh.company.name) == ("companies_house", "HARBOURSIDE ROBOTICS LTD")
    # an unknown company is "not found" (企查查's 201 envelope), not an error
    assert registry_lookup.lookup_id("uscc", "91440300708461136T", now=now).company is None
    # the look-up API, by name, answers from the demo search page
    key = make_user("wang", "rep", team="south")
    answer = suite.api.get("/v1/companies/lookup?name=HARBOURSIDE%20ROBOTICS%20LTD&country=GB", key)
    assert answer.status == 200, answer.body
    assert answer.json()["found"] is True and answer.json()["company"]["registry_ids"] == [
        {"scheme": "gb-coh", "value": "09876543"}]
    _only_loopback(local_registries)


def test_local_mode_refuses_a_real_registry_without_contacting_it(suite, local_registries, monkeypatch):
    from chalicelib import clock, settings
    from chalicelib.services import registry_lookup
    from connectors.errors import UrlRefusedError

    monkeypatch.setenv("DEALREG_REGISTRY_GLEIF_BASE_URL", "https://api.gleif.org/api/v1/")
    resolved: list[str] = []
    real_resolve = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        resolved.append(host)
        return real_resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    settings.reset()
    registry_lookup.forget()
    local_registries.clear()
    with pytest.raises(UrlRefusedError):
        registry_lookup.lookup_id("lei", "635400DEA1E9LAPS3D41", now=clock.now(), use_cache=False)
    assert "api.gleif.org" not in resolved  # not even a DNS query
    # only moto (the cache) was contacted
    assert all(ipaddress.ip_address(a).is_loopback for a in local_registries), local_registries


def test_cli_registry_lookup_local_uses_the_demo_registries(suite, local_registries, capsys, monkeypatch):
    import json

    from infra import cli

    monkeypatch.setattr(cli, "_use_local_stack", lambda: None)  # the suite's moto, not make run's
    assert cli.main(["registry", "lookup", "91440300MA5F3K7PX1", "--local"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["found"] is True and out["company"]["status"] == "revoked"
    _only_loopback(local_registries)
