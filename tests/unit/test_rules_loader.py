"""One rules loader (issue 17 item 4): chalicelib/rules.py reads every rules document, validated by the model
whose JSON Schema is published in schemas/json/, and parses each value once."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pydantic
import pytest

from chalicelib import rules, settings

ROOT = Path(__file__).resolve().parents[2]
ENV = {"ownership": "DEALREG_OWNERSHIP_RULES", "routing": "DEALREG_ROUTING_RULES",
       "workflow": "DEALREG_WORKFLOW_RULES", "dedup": "DEALREG_DEDUP_RULES", "pipeline": "DEALREG_PIPELINE_STAGES"}


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch):
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    settings.reset()
    yield
    settings.reset()


def _published(kind: str) -> dict:
    return json.loads((ROOT / "schemas" / "json" / rules.PUBLISHED[kind]).read_text(encoding="utf-8"))


@pytest.mark.parametrize("kind", sorted(rules.KINDS))
def test_each_kind_is_validated_by_the_model_of_its_published_schema(kind):
    from infra.openapi import json_schemas

    generated = json_schemas()[rules.PUBLISHED[kind]]
    assert _published(kind) == generated  # the file is what `make schemas` writes from the model
    loaded = rules.load(kind)  # the defaults
    assert loaded.model_json_schema() == {k: v for k, v in generated.items() if k != "$id"}


@pytest.mark.parametrize("kind", sorted(rules.KINDS))
def test_the_defaults_satisfy_the_published_schema(kind):
    jsonschema.validate(rules.load(kind).model_dump(mode="json"), _published(kind))


@pytest.mark.parametrize("kind, bad", [
    ("ownership", {"pending_cap": -1}),
    ("routing", {"levels": "two"}),
    ("workflow", {"max_resubmits": "many"}),
    ("dedup", {"rules": []}),
    ("pipeline", {"stages": "none"}),
])
def test_a_document_the_schema_refuses_is_refused_at_load(kind, bad, monkeypatch):
    monkeypatch.setenv(ENV[kind], json.dumps(bad))
    settings.reset()
    with pytest.raises(pydantic.ValidationError):
        rules.load(kind)


def test_each_value_is_parsed_once_and_a_new_value_is_read(monkeypatch):
    first = rules.dedup_rules()
    assert rules.dedup_rules() is first
    doc = {"rules": [{"name": "only_ids", "fields": ["registry_id"], "match": "exact", "action": "flag"}]}
    monkeypatch.setenv("DEALREG_DEDUP_RULES", json.dumps(doc))
    settings.reset()
    custom = rules.dedup_rules()
    assert custom is not first and [r.name for r in custom.rules] == ["only_ids"]
    assert rules.dedup_rules() is custom  # an operator's document is cached too (it was parsed per message)
    monkeypatch.setenv("DEALREG_OWNERSHIP_RULES", json.dumps({"pending_cap": 3}))
    settings.reset()
    assert rules.ownership_rules().pending_cap == 3 and rules.ownership_rules() is rules.ownership_rules()


def test_no_other_module_keeps_its_own_rules_loader():
    lib = ROOT / "functions" / "chalicelib"
    for path in [*lib.glob("handlers/*.py"), *lib.glob("store/*.py"), *lib.glob("services/*.py")]:
        text = path.read_text(encoding="utf-8")
        for setting in ("ownership_rules_json", "routing_rules_json", "workflow_rules_json", "dedup_rules_json",
                        "pipeline_stages_json"):
            assert setting not in text, (path.name, setting)
