"""The one rules loader: every operator rules document (ownership, routing, workflow, dedup, pipeline) is
read from its setting, validated and parsed here, once per value (a warm container re-parses only when the
setting changes, e.g. between tests).

Each document is validated by the pydantic model whose JSON Schema is published under ``schemas/json/``
(``PUBLISHED`` names the file; ``make schemas`` writes it from the same model and a test keeps them equal),
so what the loader accepts is exactly what the published schema describes. An empty setting means the
defaults. A document that fails validation raises ``pydantic.ValidationError`` at first use, naming the
field path.

Scoring rules (attribute, behaviour) have their own cached loaders in ``domain/scoring_rules.py``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib import settings

if TYPE_CHECKING:  # imported lazily below: each kind costs its domain module only when used
    from chalicelib.domain.dedup_rules import MatchRules
    from chalicelib.domain.ownership import OwnershipRules
    from chalicelib.domain.routing import RoutingRules
    from schemas.pipeline import PipelineRules
    from schemas.workflow import WorkflowRules

# kind -> (settings attribute, "module:parser" taking the raw text, published JSON Schema file)
KINDS: dict[str, tuple[str, str, str]] = {
    "ownership": ("ownership_rules_json", "chalicelib.domain.ownership:load_rules", "ownership_rules.v1.json"),
    "routing": ("routing_rules_json", "chalicelib.domain.routing:load_routing", "routing_rules.v1.json"),
    "workflow": ("workflow_rules_json", "chalicelib.domain.auto_checks:load_rules", "workflow_rules.v1.json"),
    "dedup": ("dedup_rules_json", "chalicelib.domain.dedup_rules:load_rules", "dedup_rules.v1.json"),
    "pipeline": ("pipeline_stages_json", "chalicelib.domain.pipeline:rules_from", "pipeline_rules.v1.json"),
}
PUBLISHED = {kind: spec[2] for kind, spec in KINDS.items()}


@lru_cache(maxsize=32)
def parse(kind: str, raw: str) -> Any:
    """The rules of ``kind`` from the document ``raw`` ("" = the defaults); cached per (kind, text)."""
    import importlib

    module, _, func = KINDS[kind][1].partition(":")
    return getattr(importlib.import_module(module), func)(raw or "")


def load(kind: str) -> Any:
    """The rules of ``kind`` in force (from its setting)."""
    return parse(kind, getattr(settings.get(), KINDS[kind][0]) or "")


def ownership_rules() -> OwnershipRules:
    return load("ownership")


def routing_rules() -> RoutingRules:
    return load("routing")


def workflow_rules() -> WorkflowRules:
    return load("workflow")


def dedup_rules() -> MatchRules:
    return load("dedup")


def pipeline_rules() -> PipelineRules:
    return load("pipeline")
