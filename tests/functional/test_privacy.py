"""Privacy walk (issue 12 item 1): in a conflict, a partner never learns who holds its customer.

Partner ``beta`` registers a customer that another party holds — partner ``acme`` (through its own channel
team) or the vendor's rep ``li``. Then every route of the app is called with beta's credentials (its API
key; its signing secret for the webhook route), with every path parameter set to beta's and to the
holder's ids, and every event, notification and partner callback that reaches beta is collected. None of
the holder's identifiers may appear anywhere: ids, names, its registration id, its external ref and project,
its managers, the time of its approval. Beta's own notifications (``GET /v1/notifications``, the console's
notifications page) are walked too, and the holder's notification ids are tried against beta's credentials.
"""
from __future__ import annotations

import json
import re

import pytest

from tests.functional.helpers import envelope_timestamp, example, post_webhook, signed_headers
from tests.functional.notification_receivers import Receiver

CUSTOMER = "深圳市腾讯计算机系统有限公司"


@pytest.fixture(autouse=True)
def _local_mode_without_registries(suite, monkeypatch):
    from chalicelib import settings
    from chalicelib.store import aws

    monkeypatch.setenv("DEALREG_REGISTRY_PROVIDERS", "")
    monkeypatch.setenv("DEALREG_LOCAL", "1")  # the local inbox channel and GET /v1/dev/inbox
    settings.reset()
    aws.forget_secrets()
    yield
    settings.reset()
    aws.forget_secrets()


def _directory(holder_kind: str, rx_beta: Receiver, rx_acme: Receiver) -> dict:
    from chalicelib.clock import now
    from chalicelib.domain.access import Role
    from chalicelib.store import directory

    t = now()
    keys: dict[str, str] = {}
    directory.create_team("channel", "Channel South", now=t)
    directory.create_team("north", "Channel North", now=t)
    directory.create_team("direct", "Direct Sales", now=t)
    keys["chief"] = directory.create_user("chief", "Chief", Role.MANAGER, now=t, team_id="channel")
    keys["northboss"] = directory.create_user("northboss", "North Boss", Role.MANAGER, now=t, team_id="north")
    keys["wangmgr"] = directory.create_user("wangmgr", "Wang Manager", Role.MANAGER, now=t, team_id="direct")
    keys["li"] = directory.create_user("lihold", "Li Holder", Role.REP, now=t, team_id="direct",
                                       manager_id="wangmgr")
    keys["admin"] = directory.create_user("root", "Root", Role.ADMIN, now=t)
    keys["beta_secret"], keys["beta"] = directory.create_partner(
        "beta", "Beta Systems", now=t, team_id="channel", callback_url=rx_beta.url + "/events")
    keys["acme_secret"], keys["acme"] = directory.create_partner(
        "acmehold", "Acme Holdings", now=t, team_id="north", callback_url=rx_acme.url + "/events")
    return keys


def _approve(suite, reg_id: str, manager_key: str, **body) -> None:
    suite.runner.pump()
    got = suite.api.post(f"/v1/registrations/{reg_id}/approve", body or {"reason": "ok"}, manager_key)
    assert got.status == 200, got.body
    suite.runner.pump()


@pytest.mark.parametrize("holder_kind", ["partner", "rep"])
def test_a_partner_learns_nothing_about_who_holds_its_customer(suite, holder_kind):
    from chalicelib.store.models import DeliveryItem

    rx_beta, rx_acme = Receiver(), Receiver()
    try:
        keys = _directory(holder_kind, rx_beta, rx_acme)
        # GIVEN the customer held by acme (a partner of another channel team) or by rep li
        holder_data = example(external_ref="HOLDER-SECRET-REF-77")["data"]
        holder_data["project"]["title"] = "持有方机密项目甲"
        if holder_kind == "partner":
            got = post_webhook(suite.api, "acmehold", keys["acme_secret"],
                               {"type": "opportunity.registered", "timestamp": envelope_timestamp(),
                                "data": holder_data})
            holder_reg = got.json()["id"]
            _approve(suite, holder_reg, keys["northboss"])
            holder_ids = ["acmehold", "Acme Holdings", "northboss", "North Boss"]
        else:
            got = suite.api.post("/v1/registrations", holder_data, keys["li"])
            holder_reg = got.json()["id"]
            _approve(suite, holder_reg, keys["wangmgr"])
            holder_ids = ["lihold", "Li Holder", "wangmgr", "Wang Manager"]
        assert got.status == 202
        holder_view = suite.api.get(f"/v1/registrations/{holder_reg}", keys["admin"]).json()
        assert holder_view["status"] == "approved"
        approved_at = holder_view["audit"][-1]["at"]
        secrets = [*holder_ids, holder_reg, "HOLDER-SECRET-REF-77", "持有方机密项目甲", approved_at,
                   approved_at.replace("+00:00", "Z")]

        # WHEN partner beta registers the same customer
        beta_body = example(external_ref="BETA-1")
        got = post_webhook(suite.api, "beta", keys["beta_secret"], beta_body)
        assert got.status == 202
        beta_reg = got.json()["id"]
        suite.runner.pump()
        # THEN staff see the conflict with its evidence (so the check really found the holder) ...
        staff_view = suite.api.get(f"/v1/registrations/{beta_reg}", keys["chief"]).json()
        evidence = " ".join(f"{line.get('reason')} {line.get('evidence')}" for line in staff_view["audit"])
        assert holder_reg in evidence and holder_ids[0] in evidence
        verdict = suite.api.get(f"/v1/registrations/{beta_reg}/verdict", keys["chief"]).json()
        assert verdict["answer"] == "protected" and verdict["verdict"]["conflict_with"] == [holder_reg]

        # ... and beta sees only "protected"
        assert suite.api.get(f"/v1/registrations/{beta_reg}/verdict", keys["beta"]).json() == {"answer": "protected"}
        # a manager's decision reaches beta too (rejected); the manager's own words name the holder, and are not
        # shared, so they must not reach beta anywhere (domain.visibility.reason_for)
        got = suite.api.post(f"/v1/registrations/{beta_reg}/reject",
                             {"reason": f"customer already protected by {holder_ids[1]}"}, keys["chief"])
        assert got.status == 200, got.body
        suite.runner.pump()
        # the holder's side has a skipped and a parked delivery (the admin pages list them): beta must see neither
        _undelivered_to_holder(holder_kind, holder_reg, holder_ids)
        # beta walks every route (twice: the first walk resubmits, edits and withdraws, the second reads after)
        notes = _notification_ids(holder_kind)
        seen = _walk_every_route(suite, keys, beta_reg=beta_reg, holder_reg=holder_reg, notes=notes)
        suite.runner.pump()
        notes = _notification_ids(holder_kind)
        seen += _walk_every_route(suite, keys, beta_reg=beta_reg, holder_reg=holder_reg, notes=notes)
        suite.runner.pump()
        # beta's notifications: its own (the rejection among them), each redacted; the holder's ids are not beta's
        mine = suite.api.get("/v1/notifications?limit=100", keys["beta"])
        assert mine.status == 200 and "registration.rejected" in {n["event_type"] for n in mine.json()["items"]}
        seen.append(("GET /v1/notifications", mine.body.decode()))
        assert notes["holder"], "the holder's side was told nothing: the check below would prove nothing"
        for other in notes["holder"]:
            got = suite.api.post(f"/v1/notifications/{other}/read", {}, keys["beta"])
            assert got.status == 404, got.body
        from tests.functional.console_client import ConsoleClient

        for lang in ("zh-CN", "en"):
            console = ConsoleClient(suite.api.base, lang)
            console.login(keys["beta"])
            status, _, page = console.get("/console/notifications")
            assert status == 200 and 'class="card note' in page
            seen.append((f"console notifications {lang}", page))
            for admin_page in ("/console/admin/parked", "/console/admin/skipped"):  # the holder's undelivered ones
                status, _, page = console.get(admin_page)
                assert status == 403, (admin_page, status)
                seen.append((f"console {admin_page} {lang}", page))

        # every notification and callback beta received (all channels: callback payload, inbox words)
        deliveries = [d for d in DeliveryItem.scan() if d.recipient == "partner:beta"]
        types = {d.event_type for d in deliveries}
        assert {"registration.submitted", "registration.rejected"} <= types
        for d in deliveries:
            seen.append((f"delivery {d.channel} {d.event_type}", json.dumps(
                {"title": d.title, "text": d.text, "payload": d.payload}, ensure_ascii=False, default=str)))
        assert rx_beta.requests, "beta's callback received nothing"
        seen += [("callback", r.body.decode()) for r in rx_beta.requests]
        # the callbacks are domain events v2: the registration's submitter is beta as {kind, id}
        callbacks = [r.json() for r in rx_beta.requests]
        assert any((c["data"].get("registration") or {}).get("submitter") == {"kind": "partner", "id": "beta"}
                   for c in callbacks)

        for what, text in seen:
            for secret in secrets:
                assert secret not in text, f"{secret!r} leaked to partner beta by {what}: {text[:400]}"
            # no party but beta itself (events v2 name every party {kind, id}; v1's flat ids are gone)
            compact = text.replace(" ", "")
            parties = re.findall(r'"(?:owner|previous_owner|holder|recipients?)":\[?\{"kind":"(\w+)","id":"([^"]*)"',
                                 compact)
            assert set(parties) <= {("partner", "beta")}, f"{what} names {parties}"
            assert not re.search(r'"(owner|previous_owner|holder)_id"|"(user|partner):[^"]*"', compact), what

        # AND the holder is told (item 5): a partner holder through its callback, without beta's identity
        conflicts = [d for d in DeliveryItem.scan() if d.event_type == "registration.conflict_detected"]
        told = {d.recipient for d in conflicts}
        if holder_kind == "partner":
            assert {"partner:acmehold", "user:northboss", "user:chief"} <= told
            acme_payloads = [r.json() for r in rx_acme.requests if r.json()["type"] == "registration.conflict_detected"]
            assert len(acme_payloads) == 1
            text = json.dumps(acme_payloads[0], ensure_ascii=False)
            assert beta_reg not in text and "beta" not in text.lower() and "chief" not in text
            assert acme_payloads[0]["data"]["conflict_with"] == [holder_reg]
        else:
            assert {"user:lihold", "user:wangmgr", "user:chief"} <= told
    finally:
        rx_beta.close()
        rx_acme.close()


def _undelivered_to_holder(holder_kind: str, holder_reg: str, holder_ids: list[str]) -> None:
    from chalicelib.clock import now
    from chalicelib.domain.notifications import Delivery, Message, delivery_id
    from chalicelib.store import notifications

    recipient = "partner:acmehold" if holder_kind == "partner" else "user:lihold"
    for n, (reason, record) in enumerate((("partner_inactive", notifications.skip), ("http_500", notifications.park))):
        event_id = f"{holder_reg}:{90 + n}"
        d = Delivery(id=delivery_id(event_id, recipient, "webhook"), event_id=event_id,
                     event_type="registration.approved", recipient=recipient, channel="webhook", locale="zh-CN",
                     due_at=now(), message=Message(f"已批准 {holder_ids[0]} {holder_reg}", holder_ids[-1]))
        item = notifications.create([d], {"id": event_id}, now=now())[0]
        assert record(item, now=now(), reason=reason)
    assert notifications.skipped() and notifications.parked()


def _notification_ids(holder_kind: str) -> dict[str, list[str]]:
    """Notification ids (the inbox deliveries) of beta and of the holder's side."""
    from chalicelib.store.models import DeliveryItem

    holders = {"partner:acmehold", "user:northboss"} if holder_kind == "partner" else {"user:lihold", "user:wangmgr"}
    items = [d for d in DeliveryItem.scan() if d.inbox_of]
    return {"beta": [d.id for d in items if d.inbox_of == "partner:beta"],
            "holder": [d.id for d in items if d.inbox_of in holders]}


def _walk_every_route(suite, keys, *, beta_reg: str, holder_reg: str,
                      notes: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Call every route the app has with beta's credentials; return (what was called, the answer's body)."""
    out: list[tuple[str, str]] = []
    bodies = [b"{}", json.dumps({"customer": {"name": CUSTOMER}}, ensure_ascii=False).encode(),
              json.dumps(example()["data"], ensure_ascii=False).encode()]
    for path, methods in sorted(suite.app.routes.items()):
        for method in sorted(methods):
            params = re.findall(r"{(\w+)}", path)
            for value_set in ({"reg_id": beta_reg, "partner_id": "beta", "notification_id": next(iter(notes["beta"]), "-")},
                              {"reg_id": holder_reg, "partner_id": "acmehold",
                               "notification_id": next(iter(notes["holder"]), "-")}):
                url = path
                for p in params:
                    url = url.replace(f"{{{p}}}", value_set.get(p, holder_reg))
                for body in (bodies if method in ("POST", "PUT", "PATCH") else [None]):
                    if path == "/v1/partners/{partner_id}/opportunities":
                        raw = json.dumps({**example(external_ref="BETA-WALK"),
                                          "type": "opportunity.updated"}).encode()
                        answer = suite.api.request("POST", url, raw, headers=signed_headers(keys["beta_secret"], raw))
                    else:
                        headers = {"Authorization": f"Bearer {keys['beta']}"}
                        if body is not None:
                            headers["Content-Type"] = "application/json"
                        answer = suite.api.request(method, url, body, headers=headers)
                    out.append((f"{method} {url} -> {answer.status}", answer.body.decode(errors="replace")))
    assert len(out) > 40
    return out
