"""UK Companies House public data API: see ``connectors.companies_house.connector``."""
from __future__ import annotations
