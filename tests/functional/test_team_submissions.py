"""A member of a deactivated team opens no new registration, whatever path they submit through.

As in Salesforce PRM / Partner Center, an inactive partner group's people cannot open new deal registrations;
what they already hold stays theirs until handed over (test_team_deactivation.py). Every submission path is
walked: the rep API (``POST /v1/registrations``), the partner's signed webhook (a partner whose channel team is
deactivated), the console's register form (a rep's and a partner's), a tender turned into a registration and a
rejected registration sent back to review (resubmit).
Each is refused 403 ``team_inactive`` at ``submitter.team_id``, with a zh-CN and an en message, and stores
nothing; a retry of a request accepted before the deactivation still gets its first answer.
"""
from __future__ import annotations

import re

import pytest

from tests.functional.helpers import envelope_timestamp, post_webhook, signed_headers
from tests.functional.ownership_world import make_world
from tests.functional.test_tender_register import CONTACT, _cycle_lanes, demo  # noqa: F401 - the demo fixture

REFUSED = {"loc": "submitter.team_id", "type": "team_inactive"}


@pytest.fixture
def world(suite):
    return make_world(suite)


def _registrations() -> int:
    from chalicelib.store.models import RegistrationItem

    return sum(1 for _ in RegistrationItem.scan())


def _refused(answer) -> None:
    assert answer.status == 403, (answer.status, answer.body[:300])
    body = answer.json()
    assert body["code"] == "team_inactive" and body["errors"] == [REFUSED], body
    assert "已停用" in body["message"] and "deactivated" in body["message"], body["message"]


def _channel_partner(team: str) -> tuple[str, str]:
    """Partner ``acme`` of channel team ``team``: (signing secret, API key)."""
    from chalicelib.clock import now
    from chalicelib.store import directory

    return directory.create_partner("acme", "Acme", now=now(), team_id=team)


def _register_form(c, **fields) -> tuple[int, dict, str]:
    page = c.get("/console/register")[2]
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)
    form = {"csrf": c.csrf(page), "nonce": nonce, "customer.name": "深圳市示例科技有限公司", "customer.country": "CN",
            "contacts.0.name": "王磊", "contacts.0.role": "decision_maker", "project.title": "数据中心网络升级",
            "project.expected_amount.amount": "3800000.00", "project.expected_amount.currency": "CNY",
            "project.expected_close_date": "2027-03-31", **fields}
    return c.post("/console/register", form)


def test_members_and_channel_partners_of_a_deactivated_team_submit_nothing_by_api_or_webhook(suite, world):
    import json

    api = suite.api
    secret, _ = _channel_partner("south")
    # accepted before the deactivation, each with its idempotency key
    body = world.body()
    first = api.request("POST", "/v1/registrations", json.dumps(body, ensure_ascii=False).encode(),
                        headers={"Authorization": f"Bearer {world.keys['wang']}", "Content-Type": "application/json",
                                 "Idempotency-Key": "crm-1"})
    assert first.status == 202, first.body
    envelope = {"type": "opportunity.registered", "timestamp": envelope_timestamp(), "data": world.body()}
    raw = json.dumps(envelope, ensure_ascii=False).encode()
    hooked = api.request("POST", "/v1/partners/acme/opportunities", raw,
                         headers=signed_headers(secret, raw, msg_id="msg_before"))
    assert hooked.status == 202, hooked.body
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200
    stored = _registrations()

    # the rep API: a member (rep, and the team's manager) is refused; nothing is stored
    for who in ("wang", "boss"):
        _refused(api.post("/v1/registrations", world.body(), world.keys[who]))
    # the partner webhook: a partner whose channel team is deactivated is refused the same way
    _refused(post_webhook(api, "acme", secret, {**envelope, "data": world.body()}))
    assert _registrations() == stored

    # retries keep their meaning: the same key and body get the first answer, another body is still refused
    again = api.request("POST", "/v1/registrations", json.dumps(body, ensure_ascii=False).encode(),
                        headers={"Authorization": f"Bearer {world.keys['wang']}", "Content-Type": "application/json",
                                 "Idempotency-Key": "crm-1"})
    assert again.status == 202 and again.json() == first.json()
    reused = api.request("POST", "/v1/registrations", json.dumps(world.body()).encode(),
                         headers={"Authorization": f"Bearer {world.keys['wang']}", "Content-Type": "application/json",
                                  "Idempotency-Key": "crm-1"})
    assert reused.status == 422 and reused.json()["errors"] == [
        {"loc": "header.idempotency-key", "type": "idempotency_key_reused"}]
    replayed = api.request("POST", "/v1/partners/acme/opportunities", raw,
                           headers=signed_headers(secret, raw, msg_id="msg_before"))
    assert replayed.status == 202 and replayed.json() == hooked.json()
    assert _registrations() == stored

    # a member of another team is not affected; nor are the members' holdings (they still read theirs)
    assert api.post("/v1/registrations", world.body(), world.keys["zhao"]).status == 202
    assert api.get(f"/v1/registrations/{first.json()['id']}", world.keys["wang"]).status == 200
    # reactivated: members submit again
    assert world.post("/v1/admin/teams/south/reactivate", "admin").status == 200
    assert api.post("/v1/registrations", world.body(), world.keys["wang"]).status == 202
    assert post_webhook(api, "acme", secret, {**envelope, "data": world.body()}).status == 202


def test_a_rejected_registration_is_not_resubmitted_from_a_deactivated_team(suite, world):
    """Sending a rejected registration back to review asks for protection again: refused alike, nothing moves."""
    reg_id = world.submit("wang")
    suite.runner.pump()  # the checks move it to review
    assert world.post(f"/v1/registrations/{reg_id}/reject", "boss", {"reason": "金额有误"}).status == 200
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200
    _refused(world.post(f"/v1/registrations/{reg_id}/resubmit", "wang"))
    assert suite.api.get(f"/v1/registrations/{reg_id}", world.keys["wang"]).json()["status"] == "rejected"
    assert world.post("/v1/admin/teams/south/reactivate", "admin").status == 200
    answer = world.post(f"/v1/registrations/{reg_id}/resubmit", "wang")
    assert answer.status == 200 and answer.json()["status"] == "submitted", answer.body


def test_the_console_register_form_shows_the_refusal_in_both_languages(suite, world):
    from tests.functional.console_client import ConsoleClient

    _, partner_key = _channel_partner("south")
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200
    stored = _registrations()
    zh = ConsoleClient(suite.api.base, lang="zh-CN")
    zh.login(world.keys["wang"])
    status, _, page = _register_form(zh)
    assert status == 403 and "submitter.team_id" in page and "您所在的团队已停用" in page
    en = ConsoleClient(suite.api.base, lang="en")
    en.login(world.keys["li"])
    status, _, page = _register_form(en)
    assert status == 403 and "Your team is deactivated" in page
    # a partner's form goes through its own signed webhook route: refused alike
    p = ConsoleClient(suite.api.base, lang="zh-CN")
    p.login(partner_key)
    status, _, page = _register_form(p)
    assert status == 403 and "您所在的团队已停用" in page
    assert _registrations() == stored


def test_a_tender_is_not_turned_into_a_registration_by_a_member_of_a_deactivated_team(suite, demo):  # noqa: F811
    from tests.functional.helpers import make_user

    rep = make_user("wang", "rep", team="east")
    admin = make_user("root", "admin")
    url = f"/v1/tenders/{_cycle_lanes()}/register"
    assert suite.api.post("/v1/admin/teams/east/deactivate", {}, admin).status == 200
    stored = _registrations()
    _refused(suite.api.post(url, {"contacts": [CONTACT]}, rep))
    assert _registrations() == stored
    assert suite.api.post("/v1/admin/teams/east/reactivate", {}, admin).status == 200
    assert suite.api.post(url, {"contacts": [CONTACT]}, rep).status == 202


def _move(kind: str, ident: str, team: str) -> None:
    """A user or partner moved to another team (a directory change; the API has no move): the stored record."""
    from chalicelib.store import directory
    from chalicelib.store.models import PartnerItem, UserItem

    item = directory.get_user(ident) if kind == "user" else directory.get_partner(ident)
    item.update(actions=[(UserItem if kind == "user" else PartnerItem).team_id.set(team)])
    directory.forget_partners()


def _rejected(suite, world, submit) -> str:
    reg_id = submit()
    suite.runner.pump()  # the checks move it to review
    assert world.post(f"/v1/registrations/{reg_id}/reject", "admin", {"reason": "金额有误"}).status == 200
    return reg_id


def test_resubmit_and_claim_are_judged_by_the_callers_team_now_not_the_registrations(suite, world):
    """A rep filed a registration under team south, then moved: back to review is judged by the team they are in
    now. Moved from the deactivated south to the active north: accepted; moved from north into the deactivated
    south: refused (403, nothing moves). A partner's by its channel team now, and a claim by the claimer's team now."""
    import json

    secret, partner_key = _channel_partner("south")
    wang_s = _rejected(suite, world, lambda: world.submit("wang"))  # filed under south
    zhao_s = _rejected(suite, world, lambda: world.submit("zhao"))  # filed under north
    envelope = {"type": "opportunity.registered", "timestamp": envelope_timestamp(), "data": world.body()}
    partner_s = _rejected(suite, world, lambda: post_webhook(suite.api, "acme", secret, envelope).json()["id"])
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200

    _move("user", "wang", "north")
    _move("user", "zhao", "south")
    _move("partner", "acme", "north")
    answer = world.post(f"/v1/registrations/{wang_s}/resubmit", "wang")
    assert answer.status == 200 and answer.json()["status"] == "submitted", answer.body
    _refused(world.post(f"/v1/registrations/{zhao_s}/resubmit", "zhao"))
    assert suite.api.get(f"/v1/registrations/{zhao_s}", world.keys["zhao"]).json()["status"] == "rejected"
    answer = suite.api.request("POST", f"/v1/registrations/{partner_s}/resubmit", json.dumps({}).encode(),
                               headers={"Authorization": f"Bearer {partner_key}", "Content-Type": "application/json"})
    assert answer.status == 200 and answer.json()["status"] == "submitted", answer.body
    _move("partner", "acme", "south")
    _refused(post_webhook(suite.api, "acme", secret, {**envelope, "data": world.body()}))

    # a claim from the pool: the claimer's team now (zhao, moved into the deactivated south, is refused 403)
    from tests.functional.ownership_world import granted

    pooled = granted(world, suite, None)[0]  # in south's pool
    r = world.post(f"/v1/registrations/{pooled}/claim", "zhao")
    assert r.status == 403 and r.json()["errors"] == [{"loc": "principal.team_id", "type": "team_inactive"}], r.body
    assert world.ownership(pooled)["in_pool"] is True


def test_the_console_says_why_a_claim_or_resubmit_is_refused_in_the_callers_language(suite, world):
    """The pool's claim button and a rejected registration's resubmit button of a deactivated team's member show the
    team refusal in the member's language (not a generic "forbidden")."""
    from tests.functional.console_client import ConsoleClient
    from tests.functional.ownership_world import granted

    pooled = granted(world, suite, None)[0]
    rejected = _rejected(suite, world, lambda: world.submit("wang"))
    assert world.post("/v1/admin/teams/south/deactivate", "admin").status == 200
    for who, lang, reg_id, op, back, said in (
            ("li", "zh-CN", pooled, "claim", "pool", "您所在的团队已停用"),
            ("wang", "en", rejected, "resubmit", None, "Your team is deactivated")):
        c = ConsoleClient(suite.api.base, lang=lang)
        c.login(world.keys[who])
        page = c.get(f"/console/registrations/{reg_id}")[2] if back is None else c.get("/console/pool")[2]
        status, headers, _ = c.post(f"/console/registrations/{reg_id}/act",
                                    {"csrf": c.csrf(page), "op": op, **({"back": back} if back else {})})
        assert status == 303 and "e=team_inactive" in headers["location"], (status, headers)
        status, _, shown = c.get(headers["location"])
        assert status == 200 and said in shown, shown[:500]


def test_claim_and_resubmit_see_a_deactivation_made_in_another_container_at_once(suite, world):
    """Review of session 8: the intake routes (the hot path) may trust this process's cached team for
    ``partner_cache_seconds``; a claim and a resubmit read the team every time. Here the deactivation is written
    the way another Lambda container's would be — not through this process, whose cached team stays active."""
    from chalicelib.store import directory
    from chalicelib.store.models import TeamItem
    from tests.functional.ownership_world import granted

    wang_s = _rejected(suite, world, lambda: world.submit("wang"))  # wang is in south
    pooled = granted(world, suite, None)[0]  # in south's pool
    assert not directory.is_deactivated(directory.cached_team("south"))
    TeamItem.get("team#south").update(actions=[TeamItem.active.set("no")])
    assert not directory.is_deactivated(directory.cached_team("south"))  # this process still holds it active

    _refused(world.post(f"/v1/registrations/{wang_s}/resubmit", "wang"))
    r = world.post(f"/v1/registrations/{pooled}/claim", "wang")
    assert r.status == 403 and r.json()["errors"] == [{"loc": "principal.team_id", "type": "team_inactive"}], r.body
    assert world.ownership(pooled)["in_pool"] is True
