"""The explicit list of connectors: name -> class. Add a line here when a connector lands.

Kept out of ``connectors/__init__.py`` so that importing a light module such as
``connectors.standard_webhooks`` does not import every connector (and pydantic, urllib3) with it.
"""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from connectors.cn_enterprise.connector import QccConnector
from connectors.companies_house.connector import CompaniesHouseConnector
from connectors.gleif.connector import GleifConnector

# Company registries (issue 7). The enrichment function reads only these: importing the tender formats with
# them cost its cold start ~20 ms CPU (issue 15).
COMPANY_REGISTRIES: dict[str, type[Connector]] = {
    GleifConnector.name: GleifConnector,
    CompaniesHouseConnector.name: CompaniesHouseConnector,
    QccConnector.name: QccConnector,
}
REGISTRY: dict[str, type[Connector]]  # every connector: the company registries, then the tender feeds (below)


def __getattr__(name: str) -> Any:
    # PEP 562: ``REGISTRY`` is completed on first access, with the tender feeds (issue 6: one connector per format;
    # real sources are configuration), so that ``COMPANY_REGISTRIES`` alone does not import them.
    if name == "REGISTRY":
        from connectors.tender_feeds import TENDER_CONNECTORS

        registry = {**COMPANY_REGISTRIES, **TENDER_CONNECTORS}
        globals()["REGISTRY"] = registry
        return registry
    raise AttributeError(f"module 'connectors.registry' has no attribute {name!r}")
