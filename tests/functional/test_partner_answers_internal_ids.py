"""A partner learns no internal identifier from the refusals it gets (as in Salesforce PRM / Partner Center, a partner
sees its own deals, never the vendor's org structure).

Partner ``acme`` (channel team ``chan-q7x2``, managed by ``mgr-r5t8``) walks every route of the app with its API key
and its signed webhook — every path parameter set to its own registration, to a rep's and to another partner's —
while its channel team is active and again once it is deactivated (the webhook's 403 ``team_inactive`` among the
answers). No answer — a refusal above all, and its reads too — may name a team (not even its own channel team), a
team's name, a vendor user, or another partner's id or name. The privacy walk (test_privacy.py) proves the same of
a conflict's holder; this one proves it of the org structure.
"""
from __future__ import annotations

import json
import re

import pytest

from tests.functional.helpers import envelope_timestamp, example, post_webhook, signed_headers

INTERNAL = ["chan-q7x2", "渠道七部", "Channel Seven", "mgr-r5t8", "Manager Rui", "rep-w3k9", "Rep Wen", "dir-t4v6",
            "rival-p6m4", "Rival Zeta"]


pytestmark = pytest.mark.usefixtures("no_registry_lookups")


def _directory() -> dict[str, str]:
    from chalicelib.clock import now
    from chalicelib.domain.access import Role
    from chalicelib.store import directory

    t = now()
    keys: dict[str, str] = {}
    directory.create_team("chan-q7x2", "渠道七部 Channel Seven", now=t)
    directory.create_team("dir-t4v6", "Direct Sales", now=t)
    keys["mgr"] = directory.create_user("mgr-r5t8", "Manager Rui", Role.MANAGER, now=t, team_id="chan-q7x2")
    keys["rep"] = directory.create_user("rep-w3k9", "Rep Wen", Role.REP, now=t, team_id="dir-t4v6")
    keys["admin"] = directory.create_user("root-a1", "Root", Role.ADMIN, now=t)
    keys["acme_secret"], keys["acme"] = directory.create_partner("acme", "Acme", now=t, team_id="chan-q7x2")
    keys["rival_secret"], keys["rival"] = directory.create_partner("rival-p6m4", "Rival Zeta Ltd", now=t,
                                                                   team_id="chan-q7x2")
    return keys


def _registered(suite, keys, *, ref: str, name: str) -> dict[str, str]:
    """acme's, the rival's and the rep's registration of distinct customers (ids by owner)."""
    def data(who: str) -> dict:
        body = example(external_ref=f"{ref}-{who}")["data"]
        body["customer"] = {"name": f"{name}{who}有限公司", "country": "CN"}
        return body

    ids = {}
    for who in ("acme", "rival"):
        got = post_webhook(suite.api, who if who == "acme" else "rival-p6m4", keys[f"{who}_secret"],
                           {"type": "opportunity.registered", "timestamp": envelope_timestamp(), "data": data(who)})
        assert got.status == 202, got.body
        ids[who] = got.json()["id"]
    got = suite.api.post("/v1/registrations", data("rep"), keys["rep"])
    assert got.status == 202, got.body
    ids["rep"] = got.json()["id"]
    suite.runner.pump()
    return ids


def _walk(suite, keys, ids: dict[str, str]) -> list[tuple[str, int, str]]:
    """Every route with acme's credentials (the webhook signed with its secret): (call, status, body)."""
    out: list[tuple[str, int, str]] = []
    bodies = [b"{}", json.dumps({"owner": {"kind": "user", "id": "rep-w3k9"}, "reason": "x"}).encode(),
              json.dumps(example()["data"], ensure_ascii=False).encode()]
    auth = {"Authorization": f"Bearer {keys['acme']}"}
    for path, methods in sorted(suite.app.routes.items()):
        for method in sorted(methods):
            for target in ("acme", "rival", "rep"):
                url = path
                for p in re.findall(r"{(\w+)}", path):
                    url = url.replace(f"{{{p}}}", "acme" if p == "partner_id" else ids[target])
                if path == "/v1/partners/{partner_id}/opportunities":
                    for kind in ("opportunity.registered", "opportunity.updated"):
                        raw = json.dumps({**example(external_ref=f"WALK-{target}"), "type": kind}).encode()
                        got = suite.api.request("POST", url, raw, headers=signed_headers(keys["acme_secret"], raw))
                        out.append((f"webhook {kind}", got.status, got.body.decode(errors="replace")))
                    continue
                for body in (bodies if method in ("POST", "PUT", "PATCH") else [None]):
                    got = suite.api.request(method, url, body, headers={
                        **auth, **({"Content-Type": "application/json"} if body is not None else {})})
                    out.append((f"{method} {url}", got.status, got.body.decode(errors="replace")))
    return out


def test_no_answer_a_partner_gets_names_an_internal_identifier(suite):
    keys = _directory()
    ids = _registered(suite, keys, ref="A", name="深圳市测试一号")
    seen = _walk(suite, keys, ids)
    assert suite.api.post("/v1/admin/teams/chan-q7x2/deactivate", {}, keys["admin"]).status == 200
    seen += _walk(suite, keys, ids)
    refused = [(what, status, body) for what, status, body in seen if 400 <= status < 500]
    # the walk reached the refusals that matter: its channel team's 403, others' registrations, staff-only routes
    codes = {json.loads(body).get("code") for _, _, body in refused if body.startswith("{")}
    assert {"team_inactive", "not_found", "forbidden", "validation_failed"} <= codes, codes
    assert any(what == "webhook opportunity.registered" and status == 403 for what, status, _ in refused)
    assert len(refused) > 100, len(refused)
    assert any(status == 200 and ids["acme"] in body for _, status, body in seen)  # it read its own registration
    for what, status, body in seen:
        for name in INTERNAL:
            assert name.lower() not in body.lower(), f"{name!r} told to the partner by {what} -> {status}: {body[:300]}"
