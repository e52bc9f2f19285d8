"""Source connectors: feeds, registries and webhooks behind one contract (see ``connectors.base``).

``REGISTRY`` (name -> connector class) is an explicit dict in ``connectors.registry``; it is loaded on
first access so that ``import connectors.standard_webhooks`` stays cheap for the partner-intake Lambda.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors._version import __version__

if TYPE_CHECKING:
    from connectors.base import Connector

    REGISTRY: dict[str, type[Connector]]

__all__ = ["REGISTRY", "__version__"]


def __getattr__(name: str) -> Any:
    # PEP 562: resolve REGISTRY lazily; everything else is a normal AttributeError.
    if name == "REGISTRY":
        from connectors.registry import REGISTRY

        return REGISTRY
    raise AttributeError(f"module 'connectors' has no attribute {name!r}")
