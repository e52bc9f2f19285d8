"""The registration form <-> the API body (``RegistrationCreate``), and API error ``loc`` -> form field.

Field names are the body paths themselves (``customer.name``, ``contacts.0.email``), so an API error at
``body.data.customer.name`` lands beside the field named ``customer.name`` with no mapping table. Nothing
is validated here: the API validates, the console shows where.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

# (field, kind): kind "text" | "textarea" | "date" | "number" | "list" (comma separated) | enum name
FIELDS: list[tuple[str, str]] = [
    ("customer.name", "text"),
    ("customer.registry_ids.0.scheme", "RegistryScheme"),
    ("customer.registry_ids.0.value", "text"),
    ("customer.website", "text"),
    ("customer.country", "text"),
    ("customer.region", "text"),
    ("customer.industry", "text"),
    ("contacts.0.name", "text"),
    ("contacts.0.role", "ContactRole"),
    ("contacts.0.title", "text"),
    ("contacts.0.email", "email"),
    ("contacts.0.phone", "tel"),
    ("project.title", "text"),
    ("project.background", "textarea"),
    ("project.products", "list"),
    ("project.expected_amount.amount", "number"),
    ("project.expected_amount.currency", "text"),
    ("project.expected_close_date", "date"),
    ("competitors", "list"),
    ("sales_stage", "SalesStage"),
    ("external_ref", "text"),
]
PRECHECK_FIELDS = ["customer.name", "customer.registry_ids.0.scheme", "customer.registry_ids.0.value",
                   "customer.website"]
REQUIRED = {"customer.name", "contacts.0.name", "contacts.0.role", "project.title",
            "project.expected_amount.amount", "project.expected_amount.currency", "project.expected_close_date"}


def options(kind: str) -> list[str]:
    from schemas import common, ownership, registration

    enum = next((getattr(m, kind) for m in (registration, common, ownership) if hasattr(m, kind)), None)
    return [m.value for m in enum] if enum is not None else []


def parse_form(raw: bytes | str | None) -> dict[str, str]:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
    return {k: v[0].strip() for k, v in parse_qs(text, keep_blank_values=True).items()}


def _put(target: dict, path: list[str], value: Any) -> None:
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        default: Any = [] if nxt.isdigit() else {}
        if isinstance(target, list):
            idx = int(part)
            while len(target) <= idx:
                target.append(default)
            target = target[idx]
        else:
            target = target.setdefault(part, default)
    last = path[-1]
    if isinstance(target, list):
        target.append(value)
    else:
        target[last] = value


def to_body(form: dict[str, str], fields: list[str] | None = None) -> dict:
    """The API body the form describes: empty fields are left out, so the API reports what is missing."""
    kinds = dict(FIELDS)
    body: dict = {}
    for name in fields or [f for f, _ in FIELDS]:
        value = form.get(name, "")
        if not value:
            continue
        if kinds.get(name) == "list":
            items = [v.strip() for v in value.replace("，", ",").split(",") if v.strip()]
            if name == "competitors":
                items = [{"name": v} for v in items]
            value = items
        _put(body, name.split("."), value)
    ids = body.get("customer", {}).get("registry_ids")
    if ids and not all("value" in i for i in ids):  # a scheme without an id means no id was given
        body["customer"]["registry_ids"] = [i for i in ids if "value" in i]
    return body


def from_registration(reg: dict) -> dict[str, str]:
    """A stored registration as form values (for editing)."""
    out: dict[str, str] = {}
    for name, kind in FIELDS:
        value: Any = reg
        for part in name.split("."):
            if isinstance(value, list):
                value = value[int(part)] if part.isdigit() and int(part) < len(value) else None
            elif isinstance(value, dict):
                value = value.get(part)
            else:
                value = None
        if value is None:
            continue
        if kind == "list":
            value = ", ".join(v["name"] if isinstance(v, dict) else str(v) for v in value)
        out[name] = str(value)
    return out


def field_errors(errors: list[dict], prefix: str, known: list[str]) -> tuple[dict[str, list[dict]], list[dict]]:
    """Split API errors into those beside a field (longest field path the ``loc`` starts with) and the rest."""
    by_field: dict[str, list[dict]] = {}
    other: list[dict] = []
    for err in errors:
        loc = str(err.get("loc", ""))
        path = loc[len(prefix):] if loc.startswith(prefix) else None
        match = None
        if path is not None:
            for name in sorted(known, key=len, reverse=True):
                if path == name or path.startswith(name + "."):
                    match = name
                    break
            if match is None:  # e.g. "customer.registry_ids": the first id's value field shows it
                for name in known:
                    if name.startswith(path + "."):
                        match = name
                        break
        if match:
            by_field.setdefault(match, []).append(err)
        else:
            other.append(err)
    return by_field, other
