"""GLEIF LEI records (JSON:API, no key): see ``connectors.gleif.connector``."""
from __future__ import annotations
