"""The package version, kept in a module of its own so that importing it costs nothing."""

from __future__ import annotations

# Keep in step with [project].version in pyproject.toml.
__version__ = "0.1.0"
