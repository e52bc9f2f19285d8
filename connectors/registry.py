"""The explicit list of connectors: name -> class. Add a line here when a connector lands.

Kept out of ``connectors/__init__.py`` so that importing a light module such as
``connectors.standard_webhooks`` does not import every connector (and pydantic, urllib3) with it.
"""

from __future__ import annotations

from connectors.base import Connector
from connectors.cn_enterprise.connector import QccConnector
from connectors.companies_house.connector import CompaniesHouseConnector
from connectors.gleif.connector import GleifConnector

REGISTRY: dict[str, type[Connector]] = {}
# Company registries (issue 7).
REGISTRY[GleifConnector.name] = GleifConnector
REGISTRY[CompaniesHouseConnector.name] = CompaniesHouseConnector
REGISTRY[QccConnector.name] = QccConnector
# Tender feeds (issue 6): one connector per format; real sources are configuration.
from connectors.tender_feeds import TENDER_CONNECTORS  # noqa: E402

REGISTRY.update(TENDER_CONNECTORS)
