"""The AWS calls of one dedup message (issue 15 item 1): on a cold ``detect_duplicates`` each call costs ~1.5 ms
CPU of botocore, so a judgement reads what it needs in as few requests as the races allow."""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

import pytest

from tests.functional.helpers import example, make_partner, post_webhook

_HOOK = "test-dedup-calls"


pytestmark = pytest.mark.usefixtures("no_registry_lookups")


@contextmanager
def aws_calls():
    """Every DynamoDB and SNS request made meanwhile: (operation, the tables it names)."""
    from chalicelib.store import aws, models

    calls: list[tuple[str, tuple[str, ...]]] = []

    def hook(params, model, **_):
        tables = params.get("TableName") or params.get("RequestItems") or params.get("TopicArn") or ()
        calls.append((model.name, (tables,) if isinstance(tables, str) else tuple(sorted(tables))))

    clients = [models.connection().client, aws.client("sns")]
    for client in clients:
        client.meta.events.register("before-parameter-build", hook, unique_id=_HOOK)
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build", unique_id=_HOOK)


def _body(name: str, ref: str) -> dict:
    body = example(external_ref=ref)
    body["data"]["customer"].update(name=name, registry_ids=[])
    body["data"]["customer"].pop("website", None)
    return body


def _submitted_event(reg_id: str):
    """The registration.submitted event of a registration the dedup queue has not judged yet."""
    from chalicelib.domain.events import snapshot
    from chalicelib.store import registrations
    from schemas.events import RegistrationSubmitted

    reg = registrations.get(reg_id)
    return RegistrationSubmitted(id=f"{reg_id}:1", occurred_at=reg.created_at, subject=reg_id, actor=reg.submitter,
                                 registration=snapshot(reg), to_status="submitted")


def _table(suffix: str) -> str:
    from chalicelib import settings

    return settings.get().table(suffix)


def test_a_first_judgement_reads_registration_verdict_facts_and_index_heads_in_two_batch_reads(suite):
    from chalicelib.services import dedup as service
    from chalicelib.store import dedup_verdicts
    from chalicelib.store.models import DedupIndexItem

    secret, _ = make_partner("acme")
    for i, name in enumerate(["杭州星辰信息技术有限公司", "杭州星辰软件有限公司", "成都星辰信息技术有限公司"]):
        post_webhook(suite.api, "acme", secret, _body(name, f"a{i}"))
    suite.runner.pump()  # GIVEN an index with names that share keys with the next one
    reg = post_webhook(suite.api, "acme", secret, _body("杭州星辰网络信息技术有限公司", "a9")).json()["id"]
    evt = _submitted_event(reg)
    # WHEN the dedup function judges its registration (a first delivery)
    with aws_calls() as calls:
        service.judge(evt)
    ops = Counter(op for op, _ in calls)
    # THEN the registration, its (absent) stored verdict and its customer's registry facts are one BatchGetItem
    # over three tables, and the index heads that candidates and indexing read are one more: no GetItem at all
    assert ops["GetItem"] == 0, calls
    batch_reads = [tables for op, tables in calls if op == "BatchGetItem"]
    assert batch_reads == [tuple(sorted([_table("registrations"), _table("dedup_verdicts"), _table("enrichments")])),
                           (_table("dedup_index"),)], calls
    assert ops["Publish"] == 1
    # AND it judged and indexed as before: the verdict is stored, the name found by the next check
    stored = dedup_verdicts.get_verdict(reg)
    assert stored is not None and stored["registration_id"] == reg
    assert [c.name for c in _candidates("杭州星辰网络信息技术有限公司") if c.name == "杭州星辰网络信息技术有限公司"]
    # AND every mark the indexing raised is its list's count (counted after posting, as before)
    from chalicelib.domain.dedup_match import count_mark

    for key in _posted_keys(reg):
        head = DedupIndexItem.get(key, "#")
        rest = DedupIndexItem.count(key, DedupIndexItem.sk > "#", consistent_read=True)
        assert head.n == count_mark(rest + (1 if head.ref else 0))


def _candidates(name: str):
    from chalicelib.domain.dedup_keys import name_forms
    from chalicelib.store import dedup as store

    return store.candidates(name_forms(name), [])


def _posted_keys(reg_id: str) -> list[str]:
    from chalicelib.domain.dedup_keys import name_forms
    from chalicelib.domain.dedup_match import stored_keys
    from chalicelib.store import registrations

    reg = registrations.get(reg_id)
    return stored_keys(name_forms(reg.customer.name), [])


def test_a_redelivered_judgement_reads_the_stored_verdict_in_the_same_batch_read_and_writes_nothing(suite):
    from chalicelib.services import dedup as service

    secret, _ = make_partner("acme")
    reg = post_webhook(suite.api, "acme", secret, _body("厦门远航物流有限公司", "b1")).json()["id"]
    evt = _submitted_event(reg)
    service.judge(evt)
    with aws_calls() as calls:
        service.judge(evt)  # an SQS redelivery
    ops = Counter(op for op, _ in calls)
    assert ops["GetItem"] == 0 and ops["BatchGetItem"] == 2, calls  # the first read, then the marker's
    assert not {"PutItem", "BatchWriteItem", "UpdateItem"} & set(ops), calls


def test_the_facts_read_with_the_registration_score_as_a_separate_read_does(suite):
    from chalicelib.clock import now
    from chalicelib.store import dedup_verdicts, registrations
    from chalicelib.store.models import CustomerEnrichmentItem
    from chalicelib.store.scoring import attribute_scorer

    secret, _ = make_partner("acme")
    reg_id = post_webhook(suite.api, "acme", secret, _body("青岛海纳重工有限公司", "c1")).json()["id"]
    reg = registrations.get(reg_id)
    CustomerEnrichmentItem(reg.customer_key, state="enriched", registration_id=reg_id, checked_at=now(),
                           company={"name": "青岛海纳重工有限公司", "registered_capital": "50000万元"}).save()
    got, stored, facts = dedup_verdicts.read_for_judging(reg_id, verdict=True, customer_key=reg.customer_key)
    assert got == reg and stored is None and facts[reg.customer_key]  # the capital band is a fact
    assert attribute_scorer(facts)(reg) == attribute_scorer()(reg)
    assert attribute_scorer({"name:other": {}})(reg) == attribute_scorer()(reg)  # another customer's: read
    assert dedup_verdicts.read_for_judging("reg_missing", verdict=True, customer_key=None) == (None, None, {})
