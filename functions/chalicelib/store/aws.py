"""botocore clients for the services PynamoDB doesn't cover, reached through the one endpoint setting.

botocore directly (not boto3): PynamoDB already loads it, so this adds nothing to a cold start.
"""
from __future__ import annotations

import threading
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
