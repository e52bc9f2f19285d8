"""Tender inbox and subscriptions editor (招标订阅) as the console shows them: form fields to API bodies. Pure.

The API decides everything (``GET /v1/tenders``, ``POST /v1/tenders/{id}/register``, ``GET|POST
/v1/subscriptions``, ``DELETE /v1/subscriptions/{id}``); lists are typed one item a line or separated by
commas (，、 too).
"""
from __future__ import annotations

import re

LIST_FIELDS = ("keywords.include", "keywords.exclude", "buyers", "regions", "categories")
_SPLIT = re.compile(r"[\n,，、;；]+")


def split(text: str | None) -> list[str]:
    return [p.strip() for p in _SPLIT.split(text or "") if p.strip()]


def subscription_body(form: dict[str, str]) -> dict:
    """``SubscriptionCreate`` from the editor's fields (empty fields left out, so the API's rules apply)."""
    body: dict = {}
    if form.get("name", "").strip():
        body["name"] = form["name"].strip()
    kw = {k: split(form.get(f"keywords.{k}")) for k in ("include", "exclude")}
    if any(kw.values()):
        body["keywords"] = {k: v for k, v in kw.items() if v}
    for key in ("buyers", "regions", "categories"):
        if split(form.get(key)):
            body[key] = split(form.get(key))
    for key in ("value_min", "value_max", "currency"):
        if form.get(key, "").strip():
            body[key] = form[key].strip()
    if form.get("delivery"):
        body["delivery"] = form["delivery"]
    return body


def register_body(form: dict[str, str]) -> dict:
    """``TenderRegistrationRequest``: the contact the feed does not publish, and what the tender lacks."""
    body: dict = {"contacts": [{k: form[f"contact.{k}"].strip() for k in ("name", "role", "email", "phone")
                                if form.get(f"contact.{k}", "").strip()}]}
    if form.get("customer.name", "").strip():
        body["customer"] = {"name": form["customer.name"].strip()}
    if form.get("amount", "").strip():
        body["expected_amount"] = {"amount": form["amount"].strip(), "currency": form.get("currency", "CNY").strip()}
    if form.get("expected_close_date", "").strip():
        body["expected_close_date"] = form["expected_close_date"].strip()
    return body


def error_map(errors: list[dict], prefix: str = "body.") -> dict[str, str]:
    """Field name -> message from the API's ``loc`` paths (``body.keywords.include.0`` -> ``keywords.include``)."""
    out: dict[str, str] = {}
    for e in errors:
        loc = str(e.get("loc", ""))
        path = loc[len(prefix):] if loc.startswith(prefix) else ("" if loc == prefix.rstrip(".") else loc)
        parts = [p for p in path.split(".") if not p.isdigit()]
        nested = parts[:1] in (["keywords"], ["contacts"], ["customer"])
        name = ".".join(parts[:2] if nested else parts[:1]).replace("contacts.", "contact.")
        out.setdefault(name or "_", e.get("message") or e.get("type") or "invalid")
    return out
