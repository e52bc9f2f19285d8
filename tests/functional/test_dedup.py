"""The dedup handler, the verdict read and the live pre-check, end to end over HTTP and the event runner."""
from __future__ import annotations

import pytest

from tests.functional.helpers import drain, example, make_partner, make_user, post_webhook, tap_events

pytestmark = pytest.mark.usefixtures("no_registry_lookups")






def _body(name: str, *, uscc: str | None = None, website: str | None = None, ref: str, products=None) -> dict:
    body = example(external_ref=ref)
    customer = body["data"]["customer"]
    customer["name"] = name
    customer["registry_ids"] = [{"scheme": "uscc", "value": uscc}] if uscc else []
    if website:
        customer["website"] = website
    else:
        customer.pop("website", None)
    if products is not None:
        body["data"]["project"]["products"] = products
    return body


def _hold(reg_id: str, owner: str) -> None:
    """Make a registration an approved holding (the ownership issue's approval does this in production)."""
    from chalicelib.store.models import RegistrationItem

    RegistrationItem.get(reg_id).update(actions=[RegistrationItem.status.set("approved"),
                                                 RegistrationItem.owner_id.set(owner)])


def test_registration_of_a_customer_held_by_another_partner_is_a_conflict_and_the_holder_is_told(suite):
    tap = tap_events(suite, "dedup-tap")
    admin = make_user("boss", "admin")
    make_user("wang", "manager", team="south")
    from chalicelib.clock import now
    from chalicelib.domain.access import Role
    from chalicelib.store import directory

    directory.create_user("li", "li", Role.REP, now=now(), team_id="south", manager_id="wang")
    acme_secret, acme_key = make_partner("acme")
    beta_secret, beta_key = make_partner("beta")
    # GIVEN acme's registration of Tencent, approved and held by rep li
    held = post_webhook(suite.api, "acme", acme_secret, _body("深圳市腾讯计算机系统有限公司",
                                                             uscc="91440300708461136T", ref="a1")).json()["id"]
    suite.runner.pump()
    _hold(held, "li")
    # WHEN beta registers the same customer under another spelling, without the registry id
    reg = post_webhook(suite.api, "beta", beta_secret, _body("腾讯计算机系统有限公司（深圳）", ref="b1")).json()["id"]
    suite.runner.pump()
    # THEN the verdict is a conflict naming the holding, with the candidate and the rule that fired
    got = suite.api.get(f"/v1/registrations/{reg}/verdict", admin)
    assert got.status == 200, got.body
    verdict = got.json()["verdict"]
    assert got.json()["answer"] == "protected"
    assert verdict["outcome"] == "conflict" and verdict["conflict"] and verdict["duplicate"]
    assert verdict["conflict_with"] == [held] and verdict["holder"] == {"kind": "user", "id": "li"}
    assert verdict["rule"] == "same_name" and verdict["action"] == "block"
    top = verdict["candidates"][0]
    assert top["customer_key"] == "uscc:91440300708461136T" and top["score"] == 100 and held in top["registration_ids"]
    assert verdict["first_claim"] is False
    # AND beta sees only the closed answer
    assert suite.api.get(f"/v1/registrations/{reg}/verdict", beta_key).body == b'{"answer":"protected"}'
    # AND the holder and their manager are told, once per registration id
    conflicts = [e for e in drain(suite, tap) if e["type"] == "registration.conflict_detected"]
    assert [c["id"] for c in conflicts] == [f"{reg}:conflict"]
    assert conflicts[0]["notify"] == ["li", "wang"] and conflicts[0]["conflict_with"] == [held]
    # AND the registration itself went on through the workflow untouched
    assert suite.api.get(f"/v1/registrations/{reg}", admin).json()["status"] == "pending_review"


def test_holder_aware_answers_yours_free_and_no_overlap(suite):
    admin = make_user("boss", "admin")
    acme_secret, acme_key = make_partner("acme")
    beta_secret, _ = make_partner("beta")
    first = post_webhook(suite.api, "acme", acme_secret, _body("华为技术有限公司", ref="a1",
                                                              products=["core-switch-9k"])).json()["id"]
    suite.runner.pump()
    # an unowned earlier registration: the next one may claim
    free = post_webhook(suite.api, "beta", beta_secret, _body("华为技术有限公司", ref="b1")).json()["id"]
    suite.runner.pump()
    got = suite.api.get(f"/v1/registrations/{free}/verdict", admin)
    assert got.status == 200, got.body
    verdict = got.json()["verdict"]
    assert verdict["outcome"] == "may_claim" and verdict["earlier"] == [first]
    # once acme holds it, acme's own second registration is a duplicate of its holding
    _hold(first, "acme")
    mine = post_webhook(suite.api, "acme", acme_secret, _body("华为技术 有限公司", ref="a2")).json()["id"]
    # and beta's registration for another product line does not conflict
    other = post_webhook(suite.api, "beta", beta_secret, _body("华为技术有限公司", ref="b2",
                                                              products=["wifi-7-ap"])).json()["id"]
    suite.runner.pump()
    got = suite.api.get(f"/v1/registrations/{mine}/verdict", admin)
    assert got.status == 200, got.body
    mine_v = got.json()["verdict"]
    assert mine_v["outcome"] == "duplicate" and mine_v["duplicate_of"] == first
    assert suite.api.get(f"/v1/registrations/{mine}/verdict", acme_key).json() == {"answer": "yours"}
    other_v = suite.api.get(f"/v1/registrations/{other}/verdict", admin).json()["verdict"]
    assert other_v["outcome"] == "may_claim" and not other_v["conflict"]


def test_fuzzy_candidate_from_the_blocking_index_is_flagged(suite):
    admin = make_user("boss", "admin")
    secret, _ = make_partner("acme")
    post_webhook(suite.api, "acme", secret, _body("京东方科技集团股份有限公司", ref="a1"))
    post_webhook(suite.api, "acme", secret, _body("北京京东世纪贸易有限公司", ref="a2"))
    suite.runner.pump()
    reg = post_webhook(suite.api, "acme", secret, _body("京东方", ref="a3")).json()["id"]
    suite.runner.pump()
    verdict = suite.api.get(f"/v1/registrations/{reg}/verdict", admin).json()["verdict"]
    names = {c["name"]: c for c in verdict["candidates"]}
    assert names["京东方科技集团股份有限公司"]["rule"] == "similar_name"
    assert names["京东方科技集团股份有限公司"]["action"] == "flag"
    assert "北京京东世纪贸易有限公司" not in names or names["北京京东世纪贸易有限公司"]["action"] != "flag"
    assert verdict["outcome"] == "duplicate"  # acme registered it before, unheld: yours already


def test_redelivery_keeps_one_verdict_and_index_counts(suite):
    from chalicelib.store.models import DedupIndexItem

    secret, _ = make_partner("acme")
    reg = post_webhook(suite.api, "acme", secret, _body("小米科技有限责任公司", ref="a1")).json()["id"]
    suite.runner.pump()
    from chalicelib.domain.events import snapshot
    from chalicelib.services import dedup as service
    from chalicelib.store import dedup_verdicts as store, registrations
    from schemas.events import RegistrationSubmitted

    first = store.get_verdict(reg)
    counter = DedupIndexItem.get("g:小米", "#").n
    r = registrations.get(reg)
    evt = RegistrationSubmitted(id=f"{reg}:1", occurred_at=r.created_at, subject=reg, actor=r.submitter,
                                registration=snapshot(r), to_status="submitted")
    service.judge(evt)  # a redelivered message
    assert store.get_verdict(reg) == first
    assert DedupIndexItem.get("g:小米", "#").n == counter == 1


def test_partner_precheck_bytes_do_not_depend_on_who_holds_or_the_details(suite):
    staff = make_user("rep1", "rep", team="south")
    acme_secret, _ = make_partner("acme")
    beta_secret, _ = make_partner("beta")
    _, gamma_key = make_partner("gamma")
    a = post_webhook(suite.api, "acme", acme_secret, _body("中国石油化工股份有限公司", ref="a1")).json()["id"]
    b = post_webhook(suite.api, "beta", beta_secret, _body("贵州茅台酒股份有限公司", uscc="91520000214434146R",
                                                           ref="b1", products=["x", "y"])).json()["id"]
    suite.runner.pump()
    _hold(a, "acme")
    _hold(b, "beta")

    def check(name, key, **customer):
        return suite.api.post("/v1/duplicates/check", {"customer": {"name": name, **customer}}, key)

    protected_1 = check("中国石油化工股份有限公司", gamma_key)
    protected_2 = check("贵州茅台酒股份有限公司", gamma_key, registry_ids=[{"scheme": "uscc", "value": "91520000214434146R"}])
    free = check("中国石油天然气股份有限公司", gamma_key)
    assert protected_1.status == protected_2.status == free.status == 200
    assert protected_1.body == protected_2.body == b'{"answer":"protected"}'
    assert free.body == b'{"answer":"free"}'
    # staff see the evidence
    detail = check("中国石油化工股份有限公司", staff).json()
    assert detail["answer"] == "protected" and detail["verdict"]["conflict_with"] == [a]
    # a bad body is a 422 with field paths
    bad = suite.api.post("/v1/duplicates/check", {"customer": {}}, gamma_key)
    assert bad.status == 422 and bad.json()["errors"][0]["loc"].startswith("body.customer")


def test_an_updated_registration_never_matches_itself(suite):
    # Issue 12 item 6: after an opportunity.updated (or an edit, or a resubmission) the registration was
    # judged against the index entry its own first judgement wrote: score 100, "same customer registered
    # before", sent to review as a duplicate of itself.
    admin = make_user("boss", "admin")
    secret, _ = make_partner("acme")
    body = _body("深圳市星河数码科技有限公司", ref="self-1")
    reg = post_webhook(suite.api, "acme", secret, body).json()["id"]
    suite.runner.pump()
    first = suite.api.get(f"/v1/registrations/{reg}/verdict", admin).json()["verdict"]
    assert first["outcome"] == "clear" and first["candidates"] == []
    from chalicelib import clock

    stamp = clock.now().isoformat().replace("+00:00", "Z")
    updated = {"type": "opportunity.updated", "timestamp": stamp, "data": body["data"]}
    updated["data"]["project"]["expected_close_date"] = "2027-05-14"
    assert post_webhook(suite.api, "acme", secret, updated, msg_id="msg_self_upd").status == 202
    suite.runner.pump()
    audit = suite.api.get(f"/v1/registrations/{reg}", admin).json()["audit"]
    assert [a["action"] for a in audit][-2:] == ["updated", "checked"], audit
    again = suite.api.get(f"/v1/registrations/{reg}/verdict", admin).json()["verdict"]
    assert again["outcome"] == "clear", again
    assert again["candidates"] == [] and again.get("rule") is None
    # AND a second registration of the same customer still finds the first one
    other = post_webhook(suite.api, "acme", secret, _body("深圳市星河数码科技有限公司", ref="self-2")).json()["id"]
    suite.runner.pump()
    second = suite.api.get(f"/v1/registrations/{other}/verdict", admin).json()["verdict"]
    assert second["outcome"] == "duplicate" and second["duplicate_of"] == reg
