"""A manager's free text reaches a partner only when shared (issue 12, weak point; domain.visibility.reason_for).

A reject reason may name another party ("already registered by <competitor>"): by default the partner submitter
reads the rejection without it (its registration's audit line and its callback); a reviewer who sets
``share_reason`` lets the partner read it. Staff always read it.
"""
from __future__ import annotations

from tests.functional.helpers import example, make_partner, make_user, post_webhook


def _rejected(suite, secret, boss, ref: str, body: dict) -> str:
    answer = post_webhook(suite.api, "sharep", secret, example(external_ref=ref))
    assert answer.status == 202, answer.body
    reg_id = answer.json()["id"]
    suite.runner.pump()
    got = suite.api.post(f"/v1/registrations/{reg_id}/reject", body, boss)
    assert got.status == 200, got.body
    return reg_id


def _last_reason(suite, reg_id: str, key: str):
    reg = suite.api.get(f"/v1/registrations/{reg_id}", key).json()
    assert reg["audit"][-1]["to_status"] == "rejected"
    return reg["audit"][-1].get("reason")


def test_a_reject_reason_reaches_the_partner_only_when_shared(suite):
    secret, partner = make_partner("sharep")
    boss = make_user("shareboss", "admin")
    hidden = _rejected(suite, secret, boss, "SHARE-1", {"reason": "已由竞争渠道 Zeta 报备"})
    assert _last_reason(suite, hidden, partner) is None
    assert _last_reason(suite, hidden, boss) == "已由竞争渠道 Zeta 报备"
    shared = _rejected(suite, secret, boss, "SHARE-2", {"reason": "请补充客户联系人", "share_reason": True})
    assert _last_reason(suite, shared, partner) == "请补充客户联系人"
    assert _last_reason(suite, shared, boss) == "请补充客户联系人"
