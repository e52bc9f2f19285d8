"""The partner record is read once per burst of webhooks, like the signing secrets (issue 15 item 6)."""
from __future__ import annotations

import pytest

from tests.functional.helpers import example, make_partner, post_webhook


@pytest.fixture
def dynamodb_calls(suite):
    """(operation, table) of every DynamoDB call this process makes while the test runs."""
    from chalicelib.store import models

    calls: list[tuple[str, str | None]] = []

    def record(model, params, **_):
        calls.append((model.name, params.get("TableName")))

    events = models.connection().client.meta.events
    events.register("before-parameter-build.dynamodb", record, unique_id="count-calls")
    yield calls
    events.unregister("before-parameter-build.dynamodb", unique_id="count-calls")


def _directory_reads(calls, suite) -> int:
    return sum(1 for op, table in calls if op == "GetItem" and table == f"{suite.prefix}-directory")


def test_a_burst_of_webhooks_reads_the_partner_once(suite, dynamodb_calls):
    secret, _ = make_partner()
    for n in range(3):
        assert post_webhook(suite.api, "acme", secret, example(external_ref=f"CRM-CACHE-{n}")).status == 202
    assert _directory_reads(dynamodb_calls, suite) == 1


def test_a_deactivated_partner_is_refused_at_once_in_this_process(suite, dynamodb_calls):
    from chalicelib.store import directory

    secret, _ = make_partner()
    assert post_webhook(suite.api, "acme", secret, example(external_ref="CRM-CACHE-A")).status == 202
    directory.deactivate_partner("acme")
    assert post_webhook(suite.api, "acme", secret, example(external_ref="CRM-CACHE-B")).status == 401


def test_the_cache_can_be_turned_off(suite, dynamodb_calls, monkeypatch):
    from chalicelib import settings

    monkeypatch.setenv("DEALREG_PARTNER_CACHE_SECONDS", "0")
    settings.reset()
    secret, _ = make_partner()
    for n in range(2):
        assert post_webhook(suite.api, "acme", secret, example(external_ref=f"CRM-NOCACHE-{n}")).status == 202
    assert _directory_reads(dynamodb_calls, suite) == 2
