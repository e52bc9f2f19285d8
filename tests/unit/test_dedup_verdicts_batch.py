"""``store.dedup_verdicts._get_many`` over ``store.models.batch_get_rows``: one BatchGetItem over several tables;
the keys DynamoDB leaves unprocessed are asked again (and only they), with the one back-off, and a read that never
completes fails loudly (``GetError``) instead of answering "absent". No network: botocore's Stubber answers and
checks each request."""
from __future__ import annotations

import time

import pytest
from botocore.stub import Stubber
from pynamodb.exceptions import GetError

from chalicelib.store import dedup_verdicts, models
from chalicelib.store.models import CustomerEnrichmentItem, DedupVerdictItem, RegistrationItem, connection

VERDICT = {"registration_id": {"S": "reg_1"}, "outcome": {"S": "unique"}, "verdict": {"S": '{"a": 1}'},
           "computed_at": {"S": "2026-12-06T10:00:00.000000+0000"}}
ENRICHMENT = {"customer_key": {"S": "name:c1"}, "state": {"S": "enriched"}}
REQUESTS = [(RegistrationItem, "reg_1", True), (DedupVerdictItem, "reg_1", True),
            (CustomerEnrichmentItem, "name:c1", False)]


def _ask(*tables: tuple[type, str, str, bool]) -> dict:
    return {name: {"Keys": [{attr: {"S": key}}], "ConsistentRead": consistent} for name, attr, key, consistent in
            [(cls.Meta.table_name, a, k, c) for cls, a, k, c in tables]}


REG = (RegistrationItem, "id", "reg_1", True)
VER = (DedupVerdictItem, "registration_id", "reg_1", True)
ENR = (CustomerEnrichmentItem, "customer_key", "name:c1", False)


@pytest.fixture
def stub(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    with Stubber(connection().client) as s:
        s.waits = waits
        yield s
        s.assert_no_pending_responses()


def test_unprocessed_keys_are_asked_again_alone_until_answered(stub):
    assert RegistrationItem._hash_key_attribute().attr_name == "id"  # noqa: SLF001 - the key the request names
    stub.add_response("batch_get_item", {"Responses": {}, "UnprocessedKeys": _ask(VER, ENR)},
                      {"ReturnConsumedCapacity": "TOTAL", "RequestItems": _ask(REG, VER, ENR)})
    stub.add_response("batch_get_item", {"Responses": {DedupVerdictItem.Meta.table_name: [VERDICT]},
                                         "UnprocessedKeys": _ask(ENR)}, {"ReturnConsumedCapacity": "TOTAL", "RequestItems": _ask(VER, ENR)})
    stub.add_response("batch_get_item", {"Responses": {CustomerEnrichmentItem.Meta.table_name: [ENRICHMENT]}},
                      {"ReturnConsumedCapacity": "TOTAL", "RequestItems": _ask(ENR)})
    reg, verdict, enrichment = dedup_verdicts._get_many(REQUESTS)  # noqa: SLF001
    assert reg is None  # answered (not unprocessed) and absent
    assert verdict.verdict == {"a": 1} and enrichment.state == "enriched"
    assert stub.waits == [0.1, 0.2]  # domain.backoff: base 0.1 s, doubled


def test_a_read_that_stays_unprocessed_fails_instead_of_answering_absent(stub):
    stub.add_response("batch_get_item", {"Responses": {}, "UnprocessedKeys": _ask(REG, VER, ENR)},
                      {"ReturnConsumedCapacity": "TOTAL", "RequestItems": _ask(REG, VER, ENR)})
    for _ in range(models.BATCH_GET_ATTEMPTS - 1):
        stub.add_response("batch_get_item", {"Responses": {}, "UnprocessedKeys": _ask(REG, VER, ENR)},
                          {"ReturnConsumedCapacity": "TOTAL", "RequestItems": _ask(REG, VER, ENR)})
    with pytest.raises(GetError, match="unprocessed"):
        dedup_verdicts._get_many(REQUESTS)  # noqa: SLF001
    assert stub.waits == [0.1, 0.2, 0.4, 0.8]
