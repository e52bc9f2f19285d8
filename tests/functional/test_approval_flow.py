"""The approval flow end to end through the local stack: a partner's signed webhook in -> dedup -> auto-checks
-> review -> a manager approves -> ownership granted -> the partner's callback, received by a local HTTP
receiver on 127.0.0.1 that verifies the Standard Webhooks signature. Also the partner's own edits
(``opportunity.updated``) and withdrawal, and redelivery."""
from __future__ import annotations

import copy
import json

import pytest

from tests.functional.helpers import EXAMPLE, envelope_timestamp, example, make_user, post_webhook
from tests.functional.notification_receivers import Receiver

SOUTH_CHINA = {"routes": [{"name": "south-china", "regions": ["广东省"],
                           "approvers": {"team_manager": False, "roles": [], "users": ["boss"]}}]}


@pytest.fixture
def receiver():
    rx = Receiver()
    yield rx
    rx.close()


@pytest.fixture
def world(suite, receiver, monkeypatch):
    """Partner ``acme`` with its callback on the local receiver; manager ``boss`` decides 广东省 (routing)."""
    from chalicelib import settings
    from chalicelib.clock import now
    from chalicelib.store import aws, directory

    monkeypatch.setenv("DEALREG_ROUTING_RULES", json.dumps(SOUTH_CHINA))
    settings.reset()
    aws.forget_secrets()
    secret, partner_key = directory.create_partner("acme", "Acme 渠道", now=now(),
                                                   callback_url=receiver.url + "/dealreg/events")
    yield {"secret": secret, "acme": partner_key, "boss": make_user("boss", "manager", "south"),
           "admin": make_user("admin", "admin")}
    aws.forget_secrets()


def _callbacks(receiver, secret: str) -> list[dict]:
    """Every callback the receiver got, each verified against the partner's secret (raises if one fails)."""
    from chalicelib import clock
    from connectors.standard_webhooks import verify

    out = []
    for got in receiver.requests:
        verify([secret], got.headers, got.body, now=int(clock.now().timestamp()))
        out.append({"webhook-id": got.headers["webhook-id"], **got.json()})
    return out


def _get(suite, reg_id: str, key: str) -> dict:
    answer = suite.api.get(f"/v1/registrations/{reg_id}", key)
    assert answer.status == 200, answer.body
    return answer.json()


def test_partner_webhook_to_approval_to_signed_callback(suite, world, receiver):
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.store import holders

    # WHEN the partner registers an opportunity and the events flow (stream -> dedup -> workflow)
    answer = post_webhook(suite.api, "acme", world["secret"], example(), msg_id="msg_flow_1")
    assert answer.status == 202, answer.body
    reg_id = answer.json()["id"]
    suite.runner.pump()
    # THEN the auto-checks have put it in review after the dedup verdict
    reg = _get(suite, reg_id, world["acme"])
    assert reg["status"] == "pending_review"
    assert reg["audit"][-1]["reason"].startswith("auto-checks passed")
    verdict = suite.api.get(f"/v1/registrations/{reg_id}/verdict", world["admin"])
    assert verdict.status == 200 and verdict.json()["verdict"]["outcome"] == "clear"
    # WHEN the partner's system redelivers the same webhook THEN the same answer, nothing new
    again = post_webhook(suite.api, "acme", world["secret"], example(), msg_id="msg_flow_1")
    assert again.status == 202 and again.json()["id"] == reg_id
    suite.runner.pump()
    assert _get(suite, reg_id, world["acme"])["version"] == reg["version"]
    # WHEN the manager the routing rules name approves (the owner defaults to the submitting partner)
    decided = suite.api.post(f"/v1/registrations/{reg_id}/approve", {"reason": "华南区，资料齐全"}, world["boss"])
    assert decided.status == 200, decided.body
    assert decided.json()["status"] == "approved" and decided.json()["owner"]["id"] == "acme"
    assert holders.held_count(HolderRef("partner", "acme")) == 1
    suite.runner.pump()
    # THEN the partner's callback received submitted and approved, each signed with its own secret, once
    calls = _callbacks(receiver, world["secret"])
    assert [c["type"] for c in calls] == ["registration.submitted", "registration.approved"]
    approved = calls[1]["data"]
    assert approved["registration"]["id"] == reg_id and approved["registration"]["status"] == "approved"
    assert approved["actor"] == {"kind": "user", "id": "boss"}
    assert "reason" not in approved  # a manager's note reaches a partner only when shared (domain.visibility)
    assert len({c["webhook-id"] for c in calls}) == 2
    # AND running the delivery schedule again sends nothing more
    suite.runner.run_schedule("deliver_notifications")
    assert len(receiver.requests) == 2


def test_a_tampered_callback_would_fail_the_receivers_check(suite, world, receiver):
    """The receiver's verification is real: a callback checked against another secret is refused."""
    from connectors.errors import SignatureInvalidError

    post_webhook(suite.api, "acme", world["secret"], example())
    suite.runner.pump()
    assert len(receiver.requests) == 1
    with pytest.raises(SignatureInvalidError):
        _callbacks(receiver, "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==")


def _updated(data: dict) -> dict:
    return {"type": "opportunity.updated", "timestamp": envelope_timestamp(), "data": data}


def test_partner_updates_rerun_the_checks_and_redelivery_is_idempotent(suite, world, monkeypatch):
    from chalicelib import settings

    monkeypatch.setenv("DEALREG_WORKFLOW_RULES", json.dumps({"eligibility": {"min_expected_amount": {"CNY": "100000"}}}))
    settings.reset()
    reg_id = post_webhook(suite.api, "acme", world["secret"], example()).json()["id"]
    suite.runner.pump()
    assert _get(suite, reg_id, world["acme"])["status"] == "pending_review"
    data = copy.deepcopy(EXAMPLE["data"])
    data["project"]["expected_close_date"] = "2027-02-28"
    # WHEN the partner sends the opportunity as it now is
    answer = post_webhook(suite.api, "acme", world["secret"], _updated(data), msg_id="msg_upd_1")
    assert answer.status == 202, answer.body
    assert answer.json() == {"id": reg_id, "status": "pending_review"}
    reg = _get(suite, reg_id, world["acme"])
    assert reg["project"]["expected_close_date"] == "2027-02-28"
    assert reg["audit"][-1]["action"] == "updated" and reg["audit"][-1]["actor"] == {"kind": "partner", "id": "acme"}
    suite.runner.pump()
    reg = _get(suite, reg_id, world["acme"])
    assert reg["audit"][-1]["action"] == "checked" and reg["status"] == "pending_review"
    # WHEN the same webhook is redelivered, or the same state is sent again THEN nothing is written
    for msg_id in ("msg_upd_1", "msg_upd_2"):
        again = post_webhook(suite.api, "acme", world["secret"], _updated(data), msg_id=msg_id)
        assert again.status == 202 and again.json()["id"] == reg_id
    suite.runner.pump()
    assert _get(suite, reg_id, world["acme"])["version"] == reg["version"]
    # An unknown reference is 404; an update that fails the checks is rejected by the re-check
    unknown = post_webhook(suite.api, "acme", world["secret"], _updated({**data, "external_ref": "NOPE-1"}))
    assert unknown.status == 404
    data["project"]["expected_amount"] = {"amount": "9000.00", "currency": "CNY"}
    assert post_webhook(suite.api, "acme", world["secret"], _updated(data)).status == 202
    suite.runner.pump()
    reg = _get(suite, reg_id, world["acme"])
    assert reg["status"] == "rejected" and "below the minimum" in reg["audit"][-1]["reason"]


def test_the_partner_withdraws_and_cannot_update_afterwards(suite, world):
    reg_id = post_webhook(suite.api, "acme", world["secret"], example()).json()["id"]
    suite.runner.pump()
    answer = suite.api.post(f"/v1/registrations/{reg_id}/withdraw", {"reason": "客户暂停采购"}, world["acme"])
    assert answer.status == 200 and answer.json()["status"] == "withdrawn"
    before = _get(suite, reg_id, world["acme"])
    late = post_webhook(suite.api, "acme", world["secret"], _updated({**EXAMPLE["data"], "sales_stage": "negotiation"}))
    assert late.status == 409 and late.json()["code"] == "not_editable"
    assert _get(suite, reg_id, world["acme"]) == before
