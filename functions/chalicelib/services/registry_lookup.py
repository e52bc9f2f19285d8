"""Look companies up in the enabled registries, through the cache.

Used by the enrichment handler, the look-up API and ``dealreg registry lookup``. Which registries are
enabled, where they live and how long answers are kept is configuration (``chalicelib.settings``);
credentials come from ``DEALREG_REGISTRY_<NAME>_SECRET`` (JSON, for local use) or Secrets Manager
(``<prefix>/registries/<name>``, a JSON object of the connector config's secret fields).

Errors: ``RetryableError`` (outage, 429, timeout, malformed body) and ``PermanentError`` (refused key,
provider error code) propagate to the caller, which decides between retrying, parking and a 503/502.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib import settings as settings_mod

logger = logging.getLogger("dealreg.registries")

_lock = threading.Lock()
_built: dict[Any, dict[str, Any]] = {}


@dataclass(frozen=True)
class LookupResult:
    """What the registries said.

    Attributes:
        company: The company found by id, or the accepted name match.
        candidates: Ranked search results (name look-ups only).
        score: Name-match score of ``company``.
        cached: True when no registry was called.
        provider_calls: How many registry requests this look-up made.
    """

    company: Any = None
    candidates: Sequence[Any] = field(default_factory=tuple)
    score: float | None = None
    cached: bool = True
    provider_calls: int = 0


def _secret_fields(model: Any) -> list[str]:
    from pydantic import SecretStr

    return [name for name, f in model.model_fields.items() if f.annotation is SecretStr]


def _credentials(name: str, s: settings_mod.Settings) -> dict[str, Any]:
    raw = os.environ.get(f"DEALREG_REGISTRY_{name.upper()}_SECRET")
    if raw is None:
        from botocore.exceptions import BotoCoreError, ClientError

        from chalicelib.store import aws

        try:
            raw = aws.client("secretsmanager").get_secret_value(SecretId=s.registry_secret_name(name))["SecretString"]
        except (ClientError, BotoCoreError) as exc:
            # Missing secret or no permission: the provider is skipped (see connectors()), the rest work.
            logger.warning("no credentials for registry %r: %s", name, type(exc).__name__)
            return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def _loopback_only(host: str, port: int, **kwargs: Any) -> list[Any]:
    """``socket.getaddrinfo`` for local mode: a loopback literal or ``localhost`` only, never a DNS query."""
    import ipaddress
    import socket

    try:
        ok = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise socket.gaierror(socket.EAI_NONAME, f"local mode: {host!r} is not a loopback address")
    return [info for info in socket.getaddrinfo(host, port, **kwargs)
            if ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback]


def connectors(s: settings_mod.Settings | None = None) -> dict[str, Any]:
    """The enabled registry connectors, in configured order, built once per process and settings.

    A provider that is enabled but has no credentials is skipped with a warning, so that one missing
    key does not take the others down.
    """
    from connectors.errors import ConfigInvalidError
    from connectors.http import HttpClient
    from connectors.registry import COMPANY_REGISTRIES

    s = s or settings_mod.get()
    with _lock:
        if s in _built:
            return _built[s]
        # Local mode (make run, tests, ``dealreg … --local``) never reaches a real registry: every URL is
        # vetted and may only resolve to a loopback address (the demo registries, a test server).
        guard = {"ssrf_guard": True, "allow_loopback_http": True, "resolver": _loopback_only}
        http = HttpClient(connect_timeout=min(2.0, s.registry_timeout_seconds),
                          read_timeout=s.registry_timeout_seconds,
                          total_timeout=3 * s.registry_timeout_seconds, **(guard if s.local else {}))
        urls = dict(s.registry_base_urls)
        out: dict[str, Any] = {}
        for name in s.registry_providers:
            cls = COMPANY_REGISTRIES.get(name)
            if cls is None or not hasattr(cls, "schemes"):
                logger.warning("registry %r is enabled but is not a company registry connector", name)
                continue
            config: dict[str, Any] = dict(cls.example_config)
            for secret in _secret_fields(cls.config_model):
                config.pop(secret, None)
            if _secret_fields(cls.config_model):
                config.update(_credentials(name, s))
            if name in urls:
                config["base_url"] = urls[name]
            try:
                out[name] = cls(config, http)
            except ConfigInvalidError as exc:
                logger.warning("registry %r skipped: %s %s", name, exc, exc.errors)
        _built[s] = out
        return out


def forget() -> None:
    """Drop the built connectors (settings or credentials changed: tests, the CLI)."""
    with _lock:
        _built.clear()


def supported_schemes(s: settings_mod.Settings | None = None) -> set[str]:
    """Identifier schemes at least one enabled registry can look up."""
    return {scheme for c in connectors(s).values() for scheme in c.schemes}


def _fetch(connector: Any, request: Any) -> list[Any]:
    """Records of one registry call; a body that yields only rejections is a (retryable) bad answer."""
    from connectors.base import split_parsed
    from connectors.errors import RetryableError

    records: list[Any] = []
    rejected: list[Any] = []
    for raw in connector.fetch(request):
        got, bad = split_parsed(connector.parse(raw))
        records.extend(got)
        rejected.extend(bad)
    if rejected and not records:
        # A 200 with an unreadable body is usually a proxy or gateway page; worth another try later.
        raise RetryableError(f"{connector.name}: unreadable answer", reason="malformed_response")
    return records


def _cached_call(key: str, connector: Any, request: Any, now: datetime,
                 s: settings_mod.Settings) -> tuple[list[Any], bool]:
    from chalicelib.store import companies
    from schemas.company import Company

    payload = companies.cache_get(key, now)
    if payload is not None:
        return [Company.model_validate(c) for c in payload.get("companies", [])], True
    records = _fetch(connector, request)
    ttl = timedelta(seconds=s.registry_cache_ttl_seconds)
    if not records:
        ttl = min(ttl, timedelta(days=1))  # "not found" may change soon (a new company); keep it briefly
    companies.cache_put(key, {"companies": [r.model_dump(mode="json") for r in records]}, now, ttl)
    return records, False


def lookup_id(scheme: str, value: str, *, now: datetime, use_cache: bool = True,
              s: settings_mod.Settings | None = None) -> LookupResult:
    """Ask each registry that knows ``scheme`` (in configured order) until one has the company.

    Args:
        scheme: "uscc", "lei" or "gb-coh".
        value: The normalised identifier.
        now: The current time (cache expiry).
        use_cache: False to skip reading the cache (the answer is still stored).
    """
    from chalicelib.domain.enrichment import cache_key_for_id
    from chalicelib.store import companies
    from connectors.base import FetchRequest

    s = s or settings_mod.get()
    calls = 0
    cached_all = True
    for name, connector in connectors(s).items():
        if scheme not in connector.schemes:
            continue
        key = cache_key_for_id(name, scheme, value)
        if not use_cache:
            records, cached = _fetch(connector, FetchRequest(identifier=value)), False
            companies.cache_put(key, {"companies": [r.model_dump(mode="json") for r in records]}, now,
                                timedelta(seconds=s.registry_cache_ttl_seconds))
        else:
            records, cached = _cached_call(key, connector, FetchRequest(identifier=value), now, s)
        calls += 0 if cached else 1
        cached_all = cached_all and cached
        if records:
            return LookupResult(company=records[0], cached=cached_all, provider_calls=calls)
    return LookupResult(cached=cached_all, provider_calls=calls)


def search_name(name: str, *, now: datetime, country: str | None = None,
                s: settings_mod.Settings | None = None) -> LookupResult:
    """Search the registries by name and accept a match only above ``registry_name_threshold``.

    Registries that serve ``country`` are asked first, then those that serve any country; the first
    accepted match wins. Candidates of the registry asked last are returned when nothing matched.
    """
    from chalicelib.domain.enrichment import best_match, cache_key_for_name
    from connectors.base import FetchRequest

    s = s or settings_mod.get()
    enabled = [(n, c) for n, c in connectors(s).items() if c.search_path]
    if country:
        enabled.sort(key=lambda nc: 0 if country in nc[1].countries else (1 if not nc[1].countries else 2))
    calls = 0
    cached_all = True
    candidates: list[Any] = []
    for provider, connector in enabled:
        if country and connector.countries and country not in connector.countries:
            continue  # a UK register cannot hold a Chinese company
        records, cached = _cached_call(cache_key_for_name(provider, name), connector, FetchRequest(name=name),
                                       now, s)
        calls += 0 if cached else 1
        cached_all = cached_all and cached
        candidates = records
        match = best_match(name, records, s.registry_name_threshold)
        if match.company is not None:
            return LookupResult(company=match.company, candidates=tuple(records), score=match.score,
                                cached=cached_all, provider_calls=calls)
    return LookupResult(candidates=tuple(candidates), cached=cached_all, provider_calls=calls)
