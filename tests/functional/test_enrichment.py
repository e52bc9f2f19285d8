"""Customer enrichment, the look-up API and CLI, end to end: the app and moto over HTTP, registries served by
local servers on 127.0.0.1 in their recorded formats (企查查 and GLEIF)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.contract.harness import LocalServer, Reply
from tests.functional.helpers import example, make_partner, make_user, post_webhook

SOURCES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
REVOKED_USCC = "91440300MA5F3K7PX1"
REVOKED_NAME = "深圳市示例电子科技有限公司"


def _body(provider: str, name: str) -> bytes:
    return (SOURCES / provider / name).read_bytes()


@pytest.fixture()
def registries(suite, monkeypatch):
    """企查查 and GLEIF stand-ins; the app's settings point at them."""
    from chalicelib import settings
    from chalicelib.services import registry_lookup

    with LocalServer() as qcc, LocalServer() as gleif:
        monkeypatch.setenv("DEALREG_REGISTRY_PROVIDERS", "qcc,gleif")
        monkeypatch.setenv("DEALREG_REGISTRY_QCC_BASE_URL", qcc.base_url + "/")
        monkeypatch.setenv("DEALREG_REGISTRY_GLEIF_BASE_URL", gleif.base_url + "/api/v1/")
        monkeypatch.setenv("DEALREG_REGISTRY_QCC_SECRET", json.dumps({"app_key": "k", "secret_key": "s"}))
        monkeypatch.setenv("DEALREG_REGISTRY_TIMEOUT_SECONDS", "1")
        settings.reset()
        registry_lookup.forget()
        qcc.responder = lambda seen: Reply(200, _body("qcc", "verify_revoked.json"))
        gleif.responder = lambda seen: Reply(200, _body("gleif", "search_page.json"))
        yield SimpleNamespace(qcc=qcc, gleif=gleif)
    settings.reset()
    registry_lookup.forget()


def _customer(name: str, uscc: str | None = None, country: str = "CN") -> dict:
    ids = [{"scheme": "uscc", "value": uscc}] if uscc else []
    return {"name": name, "registry_ids": ids, "country": country}


def _watch_events(suite, event_type: str) -> str:
    """A test queue subscribed to the topic for ``event_type``; returns its URL."""
    from chalicelib import settings

    sqs = suite.client("sqs")
    url = sqs.create_queue(QueueName=f"test-watch-{event_type.replace('.', '-')}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    suite.client("sns").subscribe(TopicArn=settings.get().events_topic_arn, Protocol="sqs", Endpoint=arn,
                                  Attributes={"RawMessageDelivery": "true",
                                              "FilterPolicy": json.dumps({"type": [event_type]})})
    return url


def _drain(suite, url: str) -> list[dict]:
    msgs = suite.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in msgs.get("Messages", [])]


def test_a_registration_for_a_revoked_uscc_company_is_flagged_once(suite, registries, monkeypatch):
    from chalicelib import settings
    from chalicelib.store import companies
    from chalicelib.store.models import DeliveryItem, PartnerItem

    monkeypatch.setenv("DEALREG_LOCAL", "1")  # everyone has the local inbox channel
    settings.reset()
    watch = _watch_events(suite, "customer.review_flagged")
    secret, key = make_partner("acme")
    make_user("chief", "manager", team="channel")
    PartnerItem("partner#acme").update(actions=[PartnerItem.team_id.set("channel")])
    # WHEN a partner registers an opportunity with a company that 企查查 reports as 吊销
    answer = post_webhook(suite.api, "acme", secret, example(customer=_customer(REVOKED_NAME, REVOKED_USCC)))
    assert answer.status == 202
    suite.runner.pump()
    # THEN the customer's enrichment item carries the canonical record and the review flag
    item = companies.get_enrichment(f"uscc:{REVOKED_USCC}")
    assert item.state == "enriched" and item.match == "id" and item.review_flag == "revoked"
    assert item.company["name"] == REVOKED_NAME and item.company["industry"] == "软件和信息技术服务业"
    assert item.company["registry_ids"] == [{"scheme": "uscc", "value": REVOKED_USCC}]
    # AND one customer.review_flagged event was published
    events = _drain(suite, watch)
    assert [(e["type"], e["subject"], e["reason"], e["registration_id"]) for e in events] == [
        ("customer.review_flagged", f"uscc:{REVOKED_USCC}", "revoked", answer.json()["id"])]
    # AND the workflow went on as usual: enrichment never blocks intake or review
    reg = suite.api.get(f"/v1/registrations/{answer.json()['id']}", key).json()
    assert reg["status"] == "pending_review"
    # AND the registration shows the flag, and its submitter and the team's managers are told (issue 12 item 13)
    assert reg["review_flag"] == "revoked"
    told = {d.recipient: d.title for d in DeliveryItem.scan() if d.event_type == "customer.review_flagged"}
    assert set(told) == {"partner:acme", "user:chief"} and REVOKED_NAME in told["user:chief"]
    # WHEN a second registration for the same customer arrives
    second = post_webhook(suite.api, "acme", secret,
                          example(customer=_customer(REVOKED_NAME, REVOKED_USCC), external_ref="CRM-2"))
    assert second.status == 202
    suite.runner.pump()
    # THEN the cached answer is used (one registry call in all) and the flag is not announced again
    assert len(registries.qcc.seen) == 1
    assert _drain(suite, watch) == []


def test_intake_keeps_working_with_the_registry_down(suite, registries):
    from chalicelib.store import companies

    registries.qcc.responder = lambda seen: Reply(503, b"maintenance", {"Retry-After": "120"})
    secret, key = make_partner("acme")
    answer = post_webhook(suite.api, "acme", secret, example(customer=_customer(REVOKED_NAME, REVOKED_USCC)))
    assert answer.status == 202
    suite.runner.pump()
    # the registration was saved and reviewed as usual
    assert suite.api.get(f"/v1/registrations/{answer.json()['id']}", key).json()["status"] == "pending_review"
    # enrichment recorded the failed attempt and left the message on its queue for a later try
    item = companies.get_enrichment(f"uscc:{REVOKED_USCC}")
    assert (item.state, item.attempts, item.last_error) == ("retrying", 1, "server_error")
    sqs = suite.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{suite.prefix}-enrichment")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert int(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) == 1


def test_enrichment_is_parked_after_the_last_attempt(suite, registries):
    from chalicelib.handlers.enrichment import handle_event
    from chalicelib.store import companies
    from schemas.events import EVENT_ADAPTER

    registries.qcc.responder = lambda seen: Reply(500, b"down")
    secret, _ = make_partner("acme")
    reg_id = post_webhook(suite.api, "acme", secret,
                          example(customer=_customer(REVOKED_NAME, REVOKED_USCC))).json()["id"]
    suite.runner.pump()
    # GIVEN the fifth delivery of the registration.submitted event
    body = json.dumps({"type": "registration.submitted", "id": f"{reg_id}:1", "subject": reg_id,
                       "occurred_at": "2026-01-01T00:00:00Z", "actor": {"kind": "system", "id": "t"},
                       "registration": {"id": reg_id, "status": "submitted", "source": "partner",
                                        "submitter": {"kind": "partner", "id": "acme"},
                                        "customer_key": f"uscc:{REVOKED_USCC}", "customer_name": REVOKED_NAME,
                                        "project_title": "x", "expected_amount": "1", "currency": "CNY",
                                        "version": 1}})
    record = SimpleNamespace(body=body, message_id="m-5", receipt_handle="r-5",
                             attributes=SimpleNamespace(approximate_receive_count="5"))
    # WHEN it fails again, THEN it is acknowledged (no exception), marked parked and sent to the DLQ
    handle_event(EVENT_ADAPTER.validate_json(body), record)
    item = companies.get_enrichment(f"uscc:{REVOKED_USCC}")
    assert (item.state, item.attempts) == ("parked", 5)
    sqs = suite.client("sqs")
    dlq = sqs.get_queue_url(QueueName=f"{suite.prefix}-enrichment-dlq")["QueueUrl"]
    parked = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert [m["MessageAttributes"]["parked_reason"]["StringValue"] for m in parked] == [
        "registry unavailable after 5 attempts: server_error"]


def test_customer_without_id_is_matched_by_name_only_above_the_threshold(suite, registries):
    from chalicelib.domain.registration import customer_key
    from chalicelib.store import companies
    from schemas.registration import Customer

    secret, _ = make_partner("acme")
    # the legal name of an Indian sole proprietor in the search page: a clear match
    post_webhook(suite.api, "acme", secret, example(customer=_customer("Northwind Harbour Trading", country="IN"),
                                                    external_ref="A"))
    # a company that is only similar to either candidate must not be matched
    post_webhook(suite.api, "acme", secret, example(customer=_customer("Example Green Partners", country="IE"),
                                                    external_ref="B"))
    suite.runner.pump()
    good = companies.get_enrichment(customer_key(Customer(name="Northwind Harbour Trading")))
    assert good.state == "enriched" and good.match == "name" and good.score == 100
    assert good.company["registry_ids"] == [{"scheme": "lei", "value": "984500DEA1E9F1X7A272"}]
    weak = companies.get_enrichment(customer_key(Customer(name="Example Green Partners")))
    assert weak.state == "not_found" and weak.company is None
    # the CN-only provider was never asked about Indian or Irish companies
    assert registries.qcc.seen == []


def test_lookup_api_answers_from_the_cache_the_second_time(suite, registries):
    key = make_user("wang", "rep", team="south")
    first = suite.api.get(f"/v1/companies/lookup?id={REVOKED_USCC.lower()}", key)
    assert first.status == 200, first.body
    body = first.json()
    assert body["found"] is True and body["cached"] is False and body["query"] == f"uscc:{REVOKED_USCC}"
    assert body["company"]["status"] == "revoked" and body["company"]["legal_representative"] == "张三"
    again = suite.api.get(f"/v1/companies/lookup?id={REVOKED_USCC}", key).json()
    assert again["cached"] is True and again["company"] == body["company"]
    assert len(registries.qcc.seen) == 1


def test_lookup_api_by_name_lists_candidates(suite, registries):
    key = make_user("wang", "rep", team="south")
    answer = suite.api.get("/v1/companies/lookup?name=NORTHWIND%20HARBOUR%20TRADING&country=IN", key).json()
    assert answer["found"] is True and answer["score"] == 100
    assert [c["source_id"] for c in answer["candidates"]] == ["984500DEA1E9F1X7A272", "635400DEA1E9LAPS3D41"]


def test_lookup_api_refuses_bad_queries_and_reports_outages(suite, registries):
    key = make_user("wang", "rep", team="south")
    bad = suite.api.get("/v1/companies/lookup?id=91440300708461136X", key)
    assert bad.status == 422 and bad.json()["errors"] == [{"loc": "query.id", "type": "value_error",
                                                           "reason": "check_digit"}]
    assert suite.api.get("/v1/companies/lookup", key).status == 422
    assert suite.api.get("/v1/companies/lookup?id=x&name=y", key).status == 422
    assert suite.api.get(f"/v1/companies/lookup?id={REVOKED_USCC}").status == 401
    registries.qcc.responder = lambda seen: Reply(429, b"", {"Retry-After": "17"})
    down = suite.api.get(f"/v1/companies/lookup?id={REVOKED_USCC}", key)
    assert down.status == 503 and down.headers["retry-after"] == "17"
    registries.qcc.responder = lambda seen: Reply(200, b"<html>gateway</html>")
    assert suite.api.get(f"/v1/companies/lookup?id={REVOKED_USCC}", key).status == 503


def test_cli_registry_lookup(suite, registries, capsys):
    from infra.cli import main

    assert main(["registry", "lookup", REVOKED_USCC]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["company"]["name"] == REVOKED_NAME and out["company"]["status"] == "revoked"
    assert main(["registry", "lookup", "91440300708461136X"]) == 2
    assert "check_digit" in capsys.readouterr().err
    registries.qcc.responder = lambda seen: Reply(200, _body("qcc", "verify_not_found.json"))
    assert main(["registry", "lookup", "91440300708461136T", "--no-cache"]) == 1
