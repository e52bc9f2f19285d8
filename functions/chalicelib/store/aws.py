"""botocore clients for the services PynamoDB doesn't cover, reached through the one endpoint setting.

botocore directly (not boto3): PynamoDB already loads it, so this adds nothing to a cold start.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import botocore.session
from botocore.config import Config

from chalicelib import settings as settings_mod

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str], Any] = {}
_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})


def client(service: str) -> Any:
    s = settings_mod.get()
    key = (service, s.endpoint_url, s.region)
    with _lock:
        if key not in _clients:
            session = botocore.session.get_session()
            _clients[key] = session.create_client(service, region_name=s.region, endpoint_url=s.endpoint_url,
                                                  config=_CONFIG)
        return _clients[key]


def forget_clients() -> None:
    """Drop cached clients (the endpoint changed: tests, the local runner)."""
    with _lock:
        _clients.clear()


_secret_lock = threading.Lock()
_secrets: dict[str, tuple[float, Any]] = {}


def secret_json(name: str) -> Any | None:
    """The JSON value of a Secrets Manager secret, or None when it does not exist.

    Cached per warm process for ``secret_cache_seconds``, so a burst of webhooks or deliveries costs one
    call; writers of a secret call :func:`forget_secrets`. Partner signing secrets survive a briefly stale
    cache because a rotation keeps the previous secret beside the new one.
    """
    now = time.monotonic()
    with _secret_lock:
        hit = _secrets.get(name)
    if hit is not None and now - hit[0] < settings_mod.get().secret_cache_seconds:
        return hit[1]
    sm = client("secretsmanager")
    try:
        value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    except sm.exceptions.ResourceNotFoundException:
        value = None
    with _secret_lock:
        _secrets[name] = (now, value)
    return value


def forget_secrets() -> None:
    """Drop cached secret values (a secret was written, or the endpoint changed)."""
    with _secret_lock:
        _secrets.clear()

