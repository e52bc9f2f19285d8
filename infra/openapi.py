"""Generate the checked-in contracts: JSON Schema per public payload and the OpenAPI 3.1 document.

Paths and methods come from the Chalice app's route table; request/response models from the ``@api``
metadata on each view (chalicelib.http). ``dealreg schemas`` writes the files; a test fails on drift.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.admin import (
    ActiveState,
    AdminDirectory,
    AdminRules,
    AdminTeam,
    DirectoryAudit,
    KeyRotated,
    LoginCode,
    ParkedPage,
    PartnerCreate,
    PartnerCreated,
    Replayed,
    SecretRotate,
    SecretRotated,
    SkippedPage,
    TeamCreate,
    TeamCreated,
    TeamUpdate,
    UserCreate,
    UserCreated,
)
from schemas.company import Company, CompanyLookupResponse
from schemas.dedup import DedupAnswer, DedupVerdict, DuplicateCheckRequest
from schemas.events import EVENT_ADAPTER
from schemas.notifications import InboxPage, Notification, NotificationPage
from schemas.ownership import (
    AssignRequest,
    BulkAssignRequest,
    BulkAssignResult,
    ExtendRequest,
    FollowUp,
    FollowUpCreate,
    Ownership,
    ReleaseRequest,
    TransferRequest,
)
from schemas.pipeline import Board, Cockpit, PipelineRules, StageMoveRequest, StageMoveResult
from schemas.registration import (
    ErrorResponse,
    Registration,
    RegistrationAccepted,
    RegistrationCreate,
    RegistrationPage,
)
from schemas.scoring import PoolRanking, RankedPage, RegistrationScores
from schemas.tender import (
    Subscription,
    SubscriptionCreate,
    SubscriptionPage,
    TenderPage,
    TenderRecord,
    TenderRegistrationRequest,
)
from schemas.webhook import OpportunityRegistered
from schemas.workflow import (
    ApproveRequest,
    CloseLostRequest,
    CloseWonRequest,
    Decision,
    EscalateRequest,
    OpportunityUpdated,
    RegistrationPatch,
    RejectRequest,
    ResubmitRequest,
    WithdrawRequest,
)

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"
PUBLIC_MODELS: dict[str, type[BaseModel]] = {
    "OpportunityRegistered": OpportunityRegistered,
    "RegistrationCreate": RegistrationCreate,
    "Registration": Registration,
    "RegistrationAccepted": RegistrationAccepted,
    "RegistrationPage": RegistrationPage,
    "ErrorResponse": ErrorResponse,
    "Company": Company,
    "CompanyLookupResponse": CompanyLookupResponse,
    "AssignRequest": AssignRequest,
    "BulkAssignRequest": BulkAssignRequest,
    "BulkAssignResult": BulkAssignResult,
    "TransferRequest": TransferRequest,
    "ReleaseRequest": ReleaseRequest,
    "ExtendRequest": ExtendRequest,
    "FollowUpCreate": FollowUpCreate,
    "FollowUp": FollowUp,
    "Ownership": Ownership,
    "DuplicateCheckRequest": DuplicateCheckRequest,
    "DedupAnswer": DedupAnswer,
    "DedupVerdict": DedupVerdict,
    "SubscriptionCreate": SubscriptionCreate,
    "Subscription": Subscription,
    "SubscriptionPage": SubscriptionPage,
    "TenderRecord": TenderRecord,
    "TenderPage": TenderPage,
    "TenderRegistrationRequest": TenderRegistrationRequest,
    "InboxPage": InboxPage,
    "Notification": Notification,
    "NotificationPage": NotificationPage,
    "ApproveRequest": ApproveRequest,
    "RejectRequest": RejectRequest,
    "EscalateRequest": EscalateRequest,
    "WithdrawRequest": WithdrawRequest,
    "ResubmitRequest": ResubmitRequest,
    "CloseWonRequest": CloseWonRequest,
    "CloseLostRequest": CloseLostRequest,
    "RegistrationPatch": RegistrationPatch,
    "OpportunityUpdated": OpportunityUpdated,
    "Decision": Decision,
    "RegistrationScores": RegistrationScores,
    "PoolRanking": PoolRanking,
    "RankedPage": RankedPage,
    "PipelineRules": PipelineRules,
    "StageMoveRequest": StageMoveRequest,
    "StageMoveResult": StageMoveResult,
    "Board": Board,
    "Cockpit": Cockpit,
    "AdminDirectory": AdminDirectory,
    "ParkedPage": ParkedPage,
    "Replayed": Replayed,
    "AdminRules": AdminRules,
    "TeamCreate": TeamCreate,
    "UserCreate": UserCreate,
    "PartnerCreate": PartnerCreate,
    "SecretRotate": SecretRotate,
    "TeamCreated": TeamCreated,
    "UserCreated": UserCreated,
    "PartnerCreated": PartnerCreated,
    "ActiveState": ActiveState,
    "KeyRotated": KeyRotated,
    "SecretRotated": SecretRotated,
    "LoginCode": LoginCode,
    "DirectoryAudit": DirectoryAudit,
    "TeamUpdate": TeamUpdate,
    "AdminTeam": AdminTeam,
    "SkippedPage": SkippedPage,
}
FILE_NAMES = {
    "OpportunityRegistered": "opportunity_registered.v1.json",
    "RegistrationCreate": "registration_create.v1.json",
    "Registration": "registration.v1.json",
    "RegistrationAccepted": "registration_accepted.v1.json",
    "RegistrationPage": "registration_page.v1.json",
    "ErrorResponse": "error.v1.json",
    "Company": "company.v1.json",
    "CompanyLookupResponse": "company_lookup_response.v1.json",
    "AssignRequest": "assign_request.v1.json",
    "BulkAssignRequest": "bulk_assign_request.v1.json",
    "BulkAssignResult": "bulk_assign_result.v1.json",
    "TransferRequest": "transfer_request.v1.json",
    "ReleaseRequest": "release_request.v1.json",
    "ExtendRequest": "extend_request.v1.json",
    "FollowUpCreate": "follow_up_create.v1.json",
    "FollowUp": "follow_up.v1.json",
    "Ownership": "ownership.v1.json",
    "DuplicateCheckRequest": "duplicate_check_request.v1.json",
    "DedupAnswer": "dedup_answer.v1.json",
    "DedupVerdict": "dedup_verdict.v1.json",
    "SubscriptionCreate": "subscription_create.v1.json",
    "Subscription": "subscription.v1.json",
    "SubscriptionPage": "subscription_page.v1.json",
    "TenderRecord": "tender_record.v1.json",
    "TenderPage": "tender_page.v1.json",
    "TenderRegistrationRequest": "tender_registration_request.v1.json",
    "InboxPage": "inbox_page.v1.json",
    "Notification": "notification.v1.json",
    "NotificationPage": "notification_page.v1.json",
    "ApproveRequest": "approve_request.v1.json",
    "RejectRequest": "reject_request.v1.json",
    "EscalateRequest": "escalate_request.v1.json",
    "WithdrawRequest": "withdraw_request.v1.json",
    "ResubmitRequest": "resubmit_request.v1.json",
    "CloseWonRequest": "close_won_request.v1.json",
    "CloseLostRequest": "close_lost_request.v1.json",
    "RegistrationPatch": "registration_patch.v1.json",
    "OpportunityUpdated": "opportunity_updated.v1.json",
    "Decision": "decision.v1.json",
    "RegistrationScores": "registration_scores.v1.json",
    "PoolRanking": "pool_ranking.v1.json",
    "RankedPage": "ranked_page.v1.json",
    "PipelineRules": "pipeline_rules.v1.json",
    "StageMoveRequest": "stage_move_request.v1.json",
    "StageMoveResult": "stage_move_result.v1.json",
    "Board": "board.v1.json",
    "Cockpit": "cockpit.v1.json",
    "AdminDirectory": "admin_directory.v1.json",
    "ParkedPage": "parked_page.v1.json",
    "Replayed": "replayed.v1.json",
    "AdminRules": "admin_rules.v1.json",
    "TeamCreate": "admin_team_create.v1.json",
    "UserCreate": "admin_user_create.v1.json",
    "PartnerCreate": "admin_partner_create.v1.json",
    "SecretRotate": "admin_secret_rotate.v1.json",
    "TeamCreated": "admin_team_created.v1.json",
    "UserCreated": "admin_user_created.v1.json",
    "PartnerCreated": "admin_partner_created.v1.json",
    "ActiveState": "admin_active_state.v1.json",
    "KeyRotated": "admin_key_rotated.v1.json",
    "SecretRotated": "admin_secret_rotated.v1.json",
    "LoginCode": "admin_login_code.v1.json",
    "DirectoryAudit": "admin_directory_audit.v1.json",
    "TeamUpdate": "admin_team_update.v1.json",
    "AdminTeam": "admin_team.v1.json",
    "SkippedPage": "admin_skipped_page.v1.json",
}
EVENT_SCHEMA_FILE = "domain_event.v2.json"
"""The domain events' JSON Schema (partner callbacks carry one of these events as ``data``)."""
# Deployment configuration documents (not API payloads): file name -> "module:Model", imported when generating.
CONFIG_DOCUMENTS: dict[str, str] = {
    "routing_rules.v1.json": "chalicelib.domain.routing:RoutingRules",
    "ownership_rules.v1.json": "chalicelib.domain.ownership:OwnershipRules",  # chalicelib/rules.py loads these
    "dedup_rules.v1.json": "chalicelib.domain.dedup_rules:MatchRules",
    "workflow_rules.v1.json": "schemas.workflow:WorkflowRules",
    "attribute_rules.v1.json": "schemas.scoring:AttributeRules",
    "behaviour_rules.v1.json": "schemas.scoring:BehaviourRules",
}
# GET /v1/companies/lookup takes exactly one of ``id`` and ``name`` (and optionally ``country``): one
# form-exploded query object (``?id=…&country=…``), so the rule is the schema's ``oneOf``, as the server checks it.
_ERRORS = {
    400: "Malformed request (body is not JSON, bad header)",
    401: "Missing/invalid API key or webhook signature",
    403: "Authenticated but not allowed",
    404: "Not found (or not visible to the caller)",
    409: "Conflict with the current state",
    413: "Body larger than the limit",
    415: "Body not sent as application/json",
    422: "Validation failed; errors carry field paths (loc) and types, never input values",
    503: "Storage unavailable; retry after Retry-After seconds",
}


def json_schemas() -> dict[str, dict]:
    out = {}
    for name, model in PUBLIC_MODELS.items():
        schema = model.model_json_schema()
        schema["$id"] = f"https://dealreg.dev/schemas/{FILE_NAMES[name]}"
        out[FILE_NAMES[name]] = schema
    # What receivers get (events are only ever written by us): the serialisation schema, numbers as numbers.
    # v2 (issue 12 item 16): parties are {kind, id}; v1 had owner_id / holder_id / "<kind>:<id>" strings.
    events = EVENT_ADAPTER.json_schema(mode="serialization")
    events["$id"] = f"https://dealreg.dev/schemas/{EVENT_SCHEMA_FILE}"
    events["title"] = "DomainEvent"
    out[EVENT_SCHEMA_FILE] = events
    for file_name, target in CONFIG_DOCUMENTS.items():
        import importlib

        module, _, name = target.partition(":")
        schema = getattr(importlib.import_module(module), name).model_json_schema()
        schema["$id"] = f"https://dealreg.dev/schemas/{file_name}"
        out[file_name] = schema
    return out


CONSOLE_PREFIX = "/console"


def query_parameters(target: str) -> list[dict]:
    """OpenAPI query parameters from a route's query model (``api(query="module:Model")``, read by
    ``chalicelib.http.parse_query``): one per field, with its JSON Schema, default and description."""
    import importlib

    module, _, name = target.partition(":")
    model = getattr(importlib.import_module(module), name)
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    props: dict[str, dict] = {}
    required = set(schema.get("required", []))
    out = []

    def inline(part: dict) -> dict:  # a parameter's schema stands alone: no $defs to point into
        if "$ref" in part:
            target = {k: v for k, v in defs[part["$ref"].rsplit("/", 1)[1]].items() if k not in ("title", "description")}
            return {**target, **{k: v for k, v in part.items() if k != "$ref"}}
        return part

    for name, prop in schema.get("properties", {}).items():
        prop = inline(dict(prop))
        if "anyOf" in prop:
            prop["anyOf"] = [inline(p) for p in prop["anyOf"]]
        description = prop.pop("description", None)
        prop.pop("title", None)
        if "anyOf" in prop:  # "X | None": the parameter is optional; document X
            kinds = [p for p in prop.pop("anyOf") if p.get("type") != "null"]
            prop = {**(kinds[0] if len(kinds) == 1 else {"anyOf": kinds}), **prop}
            if prop.get("default", 0) is None:
                del prop["default"]  # absent means "no filter"; null is not a value of the type
        props[name] = {**prop, **({"description": description} if description else {})}
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        out.append(param)
    rule = {k: schema[k] for k in ("oneOf", "anyOf", "allOf") if k in schema}
    if rule:  # a rule across parameters (exactly one of id, name): one form-exploded object carries it
        return [{"name": model.__name__, "in": "query", "required": True, "style": "form", "explode": True,
                 "description": (model.__doc__ or "").strip().split("\n")[0],
                 "schema": {"type": "object", "additionalProperties": False, "properties": props, **rule}}]
    return out


def _parameters(entry: Any, meta: dict) -> list[dict]:
    """A route's parameters: its path arguments, the signature headers or nothing, its query model's fields,
    the optional request headers it reads."""
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in entry.view_args]
    if meta["auth"] == "standard-webhooks":
        params += [{"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                   for h in ("webhook-id", "webhook-timestamp", "webhook-signature")]
    if meta.get("query") is not None:
        params += query_parameters(meta["query"])
    for name, schema in meta.get("headers", {}).items():  # optional request headers the route reads
        schema = dict(schema)
        described = {"description": schema.pop("description")} if "description" in schema else {}
        params.append({"name": name, "in": "header", "required": False, "schema": schema, **described})
    return params


def _responses(path: str, method: str, meta: dict) -> dict[str, dict]:
    """A route's answers: its success bodies (or 204), then every refusal the edge can give it."""
    out: dict[str, dict] = {}
    for status, model in meta["responses"].items():
        out[str(status)] = {"description": model, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model}"}}}}
    if not meta["responses"]:  # a route that names no success body answers 204 No Content
        out["204"] = {"description": "Done; no content"}
    # Every refusal the edge can give (chalicelib.http): 400 malformed JSON/header, 401 no/bad key or a
    # key in the query string, 403, 404 for an id the caller may not see, 422 field paths, 503 retry.
    codes = [400, 401, 403, 422, 503]
    if "{" in path:
        codes.append(404)
    if method != "GET":
        codes += [409, 413, 415]
    elif path == "/v1/pipeline/board":
        codes.append(409)  # weighting=model before a model is published (issue 19)
    for code in sorted(codes):
        out[str(code)] = {"description": _ERRORS[code], "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    return out


def _operation(path: str, method: str, entry: Any) -> dict[str, Any]:
    """One route's OpenAPI operation, from its ``@api`` metadata."""
    meta = getattr(entry.view_function, "__openapi__", None)
    if meta is None:
        raise ValueError(f"route {method} {path} has no @api metadata")
    op: dict[str, Any] = {"operationId": entry.view_name, "summary": meta["summary"], "responses": {}}
    op["security"] = [{"StandardWebhooks": []}] if meta["auth"] == "standard-webhooks" else [{"ApiKey": []}]
    params = _parameters(entry, meta)
    if params:
        op["parameters"] = params
    if meta["request"]:
        op["requestBody"] = {"required": not meta.get("request_optional", False),
                             "content": {"application/json": {
                                 "schema": {"$ref": f"#/components/schemas/{meta['request']}"}}}}
    op["responses"] = _responses(path, method, meta)
    return op


def openapi(app: Any) -> dict:
    _, defs = models_json_schema([(m, "validation") for m in PUBLIC_MODELS.values()],
                                 ref_template="#/components/schemas/{model}")
    components = defs.get("$defs", {})
    paths: dict[str, dict] = {}
    for path, methods in sorted(app.routes.items()):
        if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
            continue  # the HTML console (chalicelib.console) is pages over this API, not part of it
        for method, entry in sorted(methods.items()):
            paths.setdefault(path, {})[method.lower()] = _operation(path, method, entry)
    return {
        "openapi": "3.1.0",
        "info": {"title": "dealreg API", "version": "1.0.0",
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "ApiKey": {"type": "http", "scheme": "bearer", "description": "dealreg API key (drk_…)"},
                "StandardWebhooks": {"type": "apiKey", "in": "header", "name": "webhook-signature",
                                     "description": "Standard Webhooks v1 HMAC-SHA256 over id.timestamp.body "
                                                    "with the partner's whsec_ secret; ±300 s tolerance"},
            },
        },
    }


def rendered(app: Any) -> dict[Path, str]:
    files = {SCHEMAS_DIR / "json" / name: schema for name, schema in json_schemas().items()}
    files[SCHEMAS_DIR / "openapi.json"] = openapi(app)
    return {p: json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n" for p, doc in files.items()}


def write_all(check: bool = False) -> list[Path]:
    """Write (or with ``check``, only compare) the generated files; return those that differ."""
    from infra.local.stack_session import import_app

    changed = []
    for path, text in rendered(import_app()).items():
        if not path.exists() or path.read_text() != text:
            changed.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return changed
