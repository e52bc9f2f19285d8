"""One API shape (issue 12 item 16): the published contract and the running app follow one convention.

- An object's own id is ``id``. A ``<noun>_id`` property is a reference to *another* object and must be listed
  in ``REFERENCES`` below with what it points to (a new ``*_id`` fails until someone decides which it is).
- Every party (owner, previous owner, holder, author, recipient, actor, submitter) is ``{"kind", "id"}``
  (``Actor``): no flat ``owner_id`` + ``owner_kind`` pairs, no ``"<kind>:<id>"`` strings.
- Numbers are JSON numbers: every decimal of a response model serialises as a number, never as text.
- Every error answer is ``{"code", "message", "errors"}``, including 404 for an unknown route, 405 and 415,
  and a refusal because of a limit names the limit in ``errors[].loc`` (``limit.<name>``).

The first tests walk ``schemas/openapi.json`` (the published contract) and the response models, then the
domain events' JSON Schema (``schemas/json/domain_event.v2.json``: every event type, as notifications and partner
callbacks carry them) with the same rules; the last ones ask the running app.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = json.loads((ROOT / "schemas" / "openapi.json").read_text(encoding="utf-8"))
COMPONENTS = OPENAPI["components"]["schemas"]
EVENTS = json.loads((ROOT / "schemas" / "json" / "domain_event.v2.json").read_text(encoding="utf-8"))
EVENT_DEFS = EVENTS["$defs"]

# (schema, property) -> what the reference points to. Each is another object than the one it sits in.
REFERENCES = {
    ("Registration", "partner_id"): "the partner the registration came through",
    ("Registration", "team_id"): "the team that reviews it",
    ("FollowUp", "registration_id"): "the registration the follow-up is about (its own id is id)",
    ("BulkAssignOutcome", "registration_id"): "one registration of the bulk request (the outcome has no id)",
    ("DedupVerdict", "registration_id"): "the registration judged (null for a pre-check)",
    ("InboxEntry", "event_id"): "the domain event delivered (the entry's own id is id)",
    ("Notification", "event_id"): "the domain event the caller was told of (the notification's own id is id)",
    ("Subscription", "rep_id"): "the rep who subscribed",
    ("Tender", "source_id"): "the notice's key at its publisher",
    ("Company", "source_id"): "the company's key in its registry",
    ("AdminUser", "team_id"): "the user's team",
    ("AdminUser", "manager_id"): "the user's manager (another user)",
    ("AdminUser", "partner_id"): "a partner user's partner",
    ("AdminPartner", "team_id"): "the partner's channel team",
    ("CockpitPartner", "partner_id"): "the partner a cockpit row counts (the row has no id of its own)",
    # domain events (an event's own id is ``id``; the registration it carries is identified by its ``id``)
    ("RegistrationSnapshot", "partner_id"): "the partner the registration came through",
    ("RegistrationSnapshot", "team_id"): "the team that reviews it",
    ("OwnershipWarning", "team_id"): "the holding's team (its managers are told)",
    ("OwnershipReclaimed", "team_id"): "the holding's team (its managers are told)",
    ("OwnershipOverLimit", "team_id"): "the holder's team (its managers are told)",
    ("CustomerReviewFlagged", "registration_id"): "the registration whose enrichment found the flag "
                                                  "(the event's subject is the customer key)",
    ("TenderAlert", "rep_id"): "the rep the alert is for",
}
PARTY_NAMES = {"owner", "previous_owner", "holder", "author", "recipient", "actor", "submitter"}
PARTY_LISTS = {"recipients"}  # lists of parties: each item is {kind, id}
KIND_ID_TEXT = re.compile(r"<kind>:<id>|'(user|partner):<id>'|\"kind:id\"", re.I)
NUMBER_NAMES = {"amount", "value_min", "value_max", "expected_amount", "monetary", "probability"}


def _refs(node, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            out.add(node["$ref"].rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)
    return out


def response_schemas() -> set[str]:
    """Every component reachable from a documented response."""
    found: set[str] = set()
    for ops in OPENAPI["paths"].values():
        for op in ops.values():
            if isinstance(op, dict):
                _refs(op.get("responses", {}), found)
    todo = list(found)
    while todo:
        for name in _refs(COMPONENTS[todo.pop()], set()) - found:
            found.add(name)
            todo.append(name)
    return found


def _allows(prop: dict, *, ref: str | None = None, type_: str | None = None) -> bool:
    options = prop.get("anyOf") or prop.get("oneOf") or [prop]
    if ref is not None:
        return any(o.get("$ref", "").endswith(f"/{ref}") for o in options)
    return any(o.get("type") == type_ for o in options)


def test_the_walk_sees_the_whole_contract():
    names = response_schemas()
    # the walk reaches nested models, so the checks below cannot pass by seeing nothing
    assert {"Registration", "Ownership", "FollowUp", "Decision", "RegistrationScores", "DedupVerdict", "Money",
            "Actor", "Subscription", "Tender", "ErrorResponse", "InboxEntry"} <= names


def _id_problems(defs: dict, names) -> list[str]:
    problems = []
    for name in sorted(names):
        props = defs[name].get("properties", {})
        for prop in props:
            if prop.endswith("_id") and (name, prop) not in REFERENCES:
                problems.append(f"{name}.{prop}: its own id is `id`; a reference must be declared in REFERENCES")
            party = prop.removesuffix("_kind")
            if prop.endswith("_kind") and (f"{party}_id" in props or party in PARTY_NAMES):
                problems.append(f"{name}.{prop}: a party is one {{kind, id}} object, not a flat pair")
    return problems


def _party_problems(defs: dict, names) -> list[str]:
    problems = []
    for name in sorted(names):
        for prop, spec in defs[name].get("properties", {}).items():
            if prop in PARTY_NAMES and not _allows(spec, ref="Actor"):
                problems.append(f"{name}.{prop} is not an Actor ({{kind, id}})")
            if prop in PARTY_LISTS and not (spec.get("type") == "array"
                                            and spec.get("items", {}).get("$ref", "").endswith("/Actor")):
                problems.append(f"{name}.{prop} is not a list of Actors ({{kind, id}})")
            if KIND_ID_TEXT.search(json.dumps(spec)):
                problems.append(f"{name}.{prop} is described as a '<kind>:<id>' string")
    return problems


def test_ids_are_id_and_every_other_id_is_a_declared_reference():
    problems = _id_problems(COMPONENTS, response_schemas())
    # the views of a registration (holding, scores, decision) are identified by the registration's id
    for name in ("Ownership", "RegistrationScores", "Decision", "Registration"):
        if "id" not in COMPONENTS[name].get("properties", {}):
            problems.append(f"{name} has no `id`")
    assert not problems, "\n".join(problems)


def test_every_party_is_a_kind_and_id_object():
    problems = _party_problems(COMPONENTS, response_schemas())
    assert not problems, "\n".join(problems)
    actor = COMPONENTS["Actor"]
    assert set(actor["properties"]) == {"kind", "id"} and set(actor["required"]) == {"kind", "id"}


def _number_problems(schema: dict, where: str) -> list[str]:
    """A bare Decimal shows as a string with pydantic's decimal pattern; amount-like fields must be numbers."""
    problems: list[str] = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "string" and "pattern" in node and r"\d*\.?\d*" in node["pattern"]:
                problems.append(f"{where}: a decimal written as text")
            for key, value in node.items():
                walk(value, f"{where}.{key}")
            for prop, spec in (node.get("properties") or {}).items():
                defines = "type" in spec or "anyOf" in spec  # not a constraint such as {"not": {"type": "null"}}
                if (prop in NUMBER_NAMES and defines and not _allows(spec, type_="number")
                        and "$ref" not in json.dumps(spec)):
                    problems.append(f"{where}.{prop}: not a number")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(schema, where)
    return problems


def test_every_decimal_in_a_response_serialises_as_a_number():
    """The models' serialisation schemas: a bare Decimal would show as a string with pydantic's decimal
    pattern; named amount-like fields must be numbers."""
    from infra.openapi import PUBLIC_MODELS

    problems = []
    for name, model in PUBLIC_MODELS.items():
        problems += _number_problems(model.model_json_schema(mode="serialization"), name)
    tender = PUBLIC_MODELS["TenderRecord"].model_json_schema(mode="serialization")["$defs"]["Tender"]
    if not _allows(tender["properties"]["value"], type_="number"):
        problems.append("Tender.value: not a number")
    assert not problems, "\n".join(problems)


def test_decimals_are_json_numbers_on_the_wire():
    from decimal import Decimal

    from schemas.common import Money
    from schemas.tender import SubscriptionCreate

    assert json.loads(Money(amount="1200.50", currency="CNY").model_dump_json()) == {"amount": 1200.5,
                                                                                    "currency": "CNY"}
    assert json.loads(Money(amount="3800000.00", currency="CNY").model_dump_json())["amount"] == 3800000
    # the largest amount accepted reads back exactly (15 significant digits)
    top = Money(amount="9999999999999.99", currency="CNY")
    assert Decimal(repr(json.loads(top.model_dump_json())["amount"])) == Decimal("9999999999999.99")
    sub = SubscriptionCreate(regions=["GB"], value_min="1000.5", currency="GBP")
    assert json.loads(sub.model_dump_json())["value_min"] == 1000.5


# --- domain events (notifications, partner callbacks) -----------------------------------------------------------

def test_the_event_walk_sees_every_event_type_of_the_current_models():
    from infra.openapi import EVENT_SCHEMA_FILE, json_schemas
    from schemas.events import EVENT_TYPES

    # the published file is what the models generate (so the walk below checks what is really sent) ...
    assert EVENT_SCHEMA_FILE == "domain_event.v2.json"
    assert json_schemas()[EVENT_SCHEMA_FILE] == EVENTS, "run `make schemas`"
    # ... and its union names every event type of the catalogue
    listed = {option["$ref"].rsplit("/", 1)[-1] for option in EVENTS["oneOf"]}
    assert listed == {model.__name__ for model in EVENT_TYPES.values()}
    assert {EVENT_DEFS[name]["properties"]["type"]["const"] for name in listed} == set(EVENT_TYPES)
    assert {"RegistrationSnapshot", "Actor", "TenderSummary", "Company"} <= set(EVENT_DEFS)


def test_events_name_every_party_as_kind_and_id_and_own_ids_as_id():
    names = [name for name, spec in EVENT_DEFS.items() if "properties" in spec]
    problems = _id_problems(EVENT_DEFS, names) + _party_problems(EVENT_DEFS, names)
    for name in [*names]:
        props = EVENT_DEFS[name]["properties"]
        if "type" in props and "id" not in props:
            problems.append(f"{name} has no `id`")
    if "id" not in EVENT_DEFS["RegistrationSnapshot"]["properties"]:
        problems.append("RegistrationSnapshot has no `id`")
    assert not problems, "\n".join(problems)
    # the parties the issue named are objects now
    assert _allows(EVENT_DEFS["RegistrationSnapshot"]["properties"]["owner"], ref="Actor")
    assert _allows(EVENT_DEFS["RegistrationTransferred"]["properties"]["previous_owner"], ref="Actor")
    assert _allows(EVENT_DEFS["RegistrationConflictDetected"]["properties"]["holder"], ref="Actor")
    for name in ("OwnershipWarning", "OwnershipReclaimed", "OwnershipOverLimit"):
        assert _allows(EVENT_DEFS[name]["properties"]["owner"], ref="Actor"), name


def test_event_numbers_are_numbers():
    from schemas.events import EVENT_ADAPTER

    problems = _number_problems(EVENT_ADAPTER.json_schema(mode="serialization"), "DomainEvent")
    for where, spec in (("RegistrationSnapshot.expected_amount",
                         EVENT_DEFS["RegistrationSnapshot"]["properties"]["expected_amount"]),
                        ("TenderSummary.value", EVENT_DEFS["TenderSummary"]["properties"]["value"])):
        if not _allows(spec, type_="number"):
            problems.append(f"{where}: not a number")
    assert not problems, "\n".join(problems)


def test_the_walks_fail_on_the_old_shapes():
    """The checks above can fail: the version 1 event shapes are each reported."""
    old = {
        "RegistrationSnapshot": {"properties": {"id": {"type": "string"},
                                                "owner_id": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
        "RegistrationTransferred": {"properties": {"previous_owner_id": {"type": "string"}}},
        "RegistrationConflictDetected": {"properties": {
            "holder_id": {"type": "string"},
            "recipients": {"type": "array", "items": {"type": "string"},
                           "description": "'partner:<id>' when a partner holds it"}}},
        "OwnershipWarning": {"properties": {"owner": {"type": "string",
                                                      "description": "The holder, as '<kind>:<id>'"}}},
        "Flat": {"properties": {"owner_kind": {"type": "string"}, "owner_id": {"type": "string"}}},
    }
    problems = "\n".join(_id_problems(old, old) + _party_problems(old, old))
    for expected in ("RegistrationSnapshot.owner_id", "RegistrationTransferred.previous_owner_id",
                     "RegistrationConflictDetected.holder_id", "RegistrationConflictDetected.recipients is not",
                     "RegistrationConflictDetected.recipients is described", "OwnershipWarning.owner is not",
                     "OwnershipWarning.owner is described", "Flat.owner_kind"):
        assert expected in problems, expected
    assert _number_problems({"properties": {"expected_amount": {"type": "string", "pattern": r"^(?!^[-+.]*$)[+-]?0*\d*\.?\d*$"}}},
                            "old") != []


def test_every_documented_error_is_the_error_shape():
    problems = []
    for path, ops in OPENAPI["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            for status, answer in op.get("responses", {}).items():
                if (status.startswith(("4", "5")) and "content" in answer
                        and not _allows(answer["content"]["application/json"]["schema"], ref="ErrorResponse")):
                    problems.append(f"{method.upper()} {path} {status}")
    assert not problems
    error = COMPONENTS["ErrorResponse"]
    assert set(error["properties"]) == {"code", "message", "errors"}


# --- the running app ---------------------------------------------------------------------------------------

def _error_shape(answer) -> dict:
    body = answer.json()
    assert set(body) == {"code", "message", "errors"}, body
    assert isinstance(body["errors"], list) and isinstance(body["message"], str) and body["code"]
    return body


def test_unknown_routes_wrong_methods_and_media_types_answer_the_error_shape(suite):
    from tests.functional.helpers import make_user

    key = make_user("shape-admin", "admin")
    unknown = suite.api.get("/v1/no-such-route", key)
    assert unknown.status == 404 and _error_shape(unknown)["code"] == "not_found"
    assert key not in unknown.body.decode()
    auth = {"Authorization": f"Bearer {key}"}
    wrong = suite.api.request("PUT", "/v1/registrations", b"{}", headers=auth)
    assert wrong.status == 405 and _error_shape(wrong)["code"] == "method_not_allowed"
    media = suite.api.request("POST", "/v1/registrations", b"name=x",
                              headers={**auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert media.status == 415 and _error_shape(media)["code"] == "unsupported_media_type"


def test_a_too_large_body_names_its_limit(suite):
    from tests.functional.helpers import make_user

    key = make_user("shape-rep", "rep", "shape")
    big = b'{"x": "' + b"a" * (300 * 1024) + b'"}'
    answer = suite.api.request("POST", "/v1/registrations", big, headers={"Authorization": f"Bearer {key}"})
    assert answer.status == 413
    assert _error_shape(answer)["errors"] == [{"loc": "limit.max_body_bytes", "type": "limit_exceeded"}]


def test_answers_carry_parties_as_objects_and_numbers_as_numbers(suite):
    from tests.functional.helpers import example, make_user

    admin = make_user("shape-boss", "admin")
    rep = make_user("shape-wang", "rep", "shape")
    reg_id = suite.api.post("/v1/registrations", example(external_ref="shape-1")["data"], rep).json()["id"]
    suite.runner.pump()
    approved = suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, admin)
    assert approved.status == 200, approved.body.decode()
    assert approved.json()["owner"] == {"kind": "user", "id": "shape-wang"}
    reg = suite.api.get(f"/v1/registrations/{reg_id}", admin).json()
    assert reg["owner"] == {"kind": "user", "id": "shape-wang"} and "owner_id" not in reg
    assert isinstance(reg["project"]["expected_amount"]["amount"], (int, float))
    holding = suite.api.get(f"/v1/registrations/{reg_id}/ownership", admin).json()
    assert holding["id"] == reg_id and holding["owner"] == {"kind": "user", "id": "shape-wang"}
    follow = suite.api.post(f"/v1/registrations/{reg_id}/followups", {"type": "call"}, rep)
    assert follow.status == 201 and follow.json()["author"] == {"kind": "user", "id": "shape-wang"}
    sub = suite.api.post("/v1/subscriptions", {"regions": ["GB"], "value_min": "1000.5", "currency": "GBP"}, rep)
    assert sub.status == 201, sub.body.decode()
    assert sub.json()["value_min"] == 1000.5
    listed = suite.api.get("/v1/subscriptions", rep).json()["items"]
    assert [s["value_min"] for s in listed] == [1000.5]
    for text in (approved.body.decode(), json.dumps(reg), json.dumps(holding), follow.body.decode()):
        assert not re.search(r'"(user|partner|system):[^"]*"', text), text
