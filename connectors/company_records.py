"""Small helpers shared by the company-registry connectors (GLEIF, Companies House, Chinese providers).

Pure functions: decode a JSON body, keep only identifiers that validate, read dates. Kept apart from
``connectors.base`` so that feed and webhook connectors do not import ``schemas.company``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from connectors.base import Fetched
from connectors.errors import RecordRejectedError
from schemas.common import RegistryId


def json_body(raw: Fetched) -> Any:
    """Decode a JSON payload.

    Raises:
        RecordRejectedError: The body is not JSON (``loc="body"``, ``type="json_invalid"``); a
            registry that answers 200 with an HTML error page lands here.
    """
    try:
        return json.loads(raw.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise RecordRejectedError("body is not JSON", errors=[{"loc": "body", "type": "json_invalid"}]) from None


def valid_ids(pairs: Iterable[tuple[str, str | None]]) -> list[RegistryId]:
    """``RegistryId``s for the ``(scheme, value)`` pairs that validate; the rest are dropped.

    Providers publish masked or legacy identifiers (``9111xxxx82Q``, 15-digit 注册号); trusting them
    would put unverifiable ids on a customer, so only ids that pass ``schemas.identifiers`` are kept.
    """
    out: list[RegistryId] = []
    for scheme, value in pairs:
        if not value:
            continue
        try:
            rid = RegistryId.model_validate({"scheme": scheme, "value": value})
        except ValidationError:
            continue
        if rid not in out:
            out.append(rid)
    return out


def iso_date(value: Any) -> date | None:
    """The date part of ``2019-03-27``/``2019-03-27T00:00:00Z``; ``None`` for anything else."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def dig(data: Any, path: str | tuple[str, ...]) -> Any:
    """Follow a dotted path (or a tuple of keys) through nested mappings; ``None`` when absent."""
    keys = path.split(".") if isinstance(path, str) else path
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def text(value: Any) -> str | None:
    """A stripped non-empty string, or ``None``."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None
