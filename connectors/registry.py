"""The explicit list of connectors: name -> class. Add a line here when a connector lands.

Kept out of ``connectors/__init__.py`` so that importing a light module such as
``connectors.standard_webhooks`` does not import every connector (and pydantic, urllib3) with it.
"""

from __future__ import annotations

from connectors.base import Connector

REGISTRY: dict[str, type[Connector]] = {}  # type: ignore[type-arg]
