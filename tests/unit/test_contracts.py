"""The checked-in JSON Schemas and OpenAPI document match the models and routes (run `make schemas`)."""
from __future__ import annotations

import json


def test_generated_contract_files_are_current():
    from infra.local.stack_session import import_app
    from infra.openapi import rendered

    stale = [str(p) for p, text in rendered(import_app()).items() if not p.exists() or p.read_text() != text]
    assert stale == [], f"run `make schemas`; stale: {stale}"


def test_openapi_documents_every_route_and_the_error_shape():
    from infra.local.stack_session import import_app
    from infra.openapi import openapi

    app = import_app()
    doc = openapi(app)
    assert doc["openapi"] == "3.1.0"
    for path, methods in app.routes.items():
        if path.startswith("/console"):  # HTML pages over the API, not API routes
            assert path not in doc["paths"]
            continue
        for method in methods:
            op = doc["paths"][path][method.lower()]
            assert op["responses"], (path, method)
    intake = doc["paths"]["/v1/partners/{partner_id}/opportunities"]["post"]
    assert {"202", "401", "413", "422", "503"} <= set(intake["responses"])
    assert intake["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/OpportunityRegistered")
    json.dumps(doc)  # serialisable


def test_example_payload_matches_the_published_schema():
    from pathlib import Path

    from schemas.webhook import OpportunityRegistered

    example = json.loads((Path(__file__).resolve().parents[2] / "examples" / "opportunity.json").read_text())
    assert OpportunityRegistered.model_validate(example).data.customer.registry_ids[0].scheme == "uscc"
