"""Over-limit reclaim order through the daily job (issue 19): the lowest-scored holdings are taken back first,
even when they are the most recently active; equal scores fall back to the least recently active."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.functional.helpers import drain, tap_events
from tests.functional.ownership_world import frozen_world, granted, held, publish_stream, set_rules

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RULES = {"base": 10, "rules": [{"id": "south", "points": 50, "when": [{"field": "customer.region", "prefix": ["广东"]}],
                                "label": {"zh-CN": "华南", "en": "South China"}}]}


@pytest.fixture
def world(suite, monkeypatch):
    from chalicelib import settings
    from chalicelib.store import scoring

    monkeypatch.setenv("DEALREG_ATTRIBUTE_RULES", json.dumps(RULES))
    settings.reset()
    scoring.forget_cached_model()
    yield from frozen_world(suite, monkeypatch, T0)


def test_the_limit_job_reclaims_the_lowest_score_first(suite, world, monkeypatch):
    plain_body = world.body
    regions = iter(["广东省深圳市", "北京市", "广东省广州市"])

    def body():
        data = plain_body()
        data["customer"]["region"] = next(regions)
        return data

    monkeypatch.setattr(world, "body", body)
    ids = granted(world, suite, "wang", n=3)  # scores 60, 10, 60
    world.clock.advance(hours=1)
    for r in ids[1:]:  # ids[0] is the least recently active, ids[1] the lowest score
        assert world.post(f"/v1/registrations/{r}/followups", "wang", {"type": "call"}).status == 201
    publish_stream(suite)
    tap = tap_events(suite)
    set_rules(monkeypatch, holder_limits={"user:wang": 2}, over_limit="reclaim")
    suite.runner.run_schedule("enforce_holding_limits")
    [report] = [e for e in drain(suite, tap) if e["type"] == "ownership.over_limit"]
    assert report["reclaimed"] == [ids[1]] and held("user:wang") == 2  # activity alone would take ids[0]


def test_company_size_from_registry_enrichment_counts_in_the_reclaim_order(suite, world, monkeypatch):
    from chalicelib import settings
    from chalicelib.store import companies, registrations

    monkeypatch.setenv("DEALREG_ATTRIBUTE_RULES", json.dumps({"base": 10, "rules": [
        {"id": "large", "points": 50, "when": [{"field": "customer.capital_band", "min": 4}],
         "label": {"zh-CN": "注册资本过亿", "en": "registered capital over 100 million"}}]}))
    settings.reset()
    ids = granted(world, suite, "wang", n=3)
    world.clock.advance(hours=1)
    assert world.post(f"/v1/registrations/{ids[1]}/followups", "wang", {"type": "call"}).status == 201
    world.clock.advance(hours=1)
    assert world.post(f"/v1/registrations/{ids[2]}/followups", "wang", {"type": "call"}).status == 201
    big = registrations.get(ids[0])  # the least recently active, but a large company (60 against 10)
    companies.save_answer(big.customer_key, state="enriched", company={"registered_capital": "185000万元"},
                          match="id", score=100.0, review_flag=None, registration_id=ids[0], now=world.clock.now(),
                          previous=None)
    publish_stream(suite)
    tap = tap_events(suite)
    set_rules(monkeypatch, holder_limits={"user:wang": 2}, over_limit="reclaim")
    suite.runner.run_schedule("enforce_holding_limits")
    [report] = [e for e in drain(suite, tap) if e["type"] == "ownership.over_limit"]
    assert report["reclaimed"] == [ids[1]] and held("user:wang") == 2  # without the company size: ids[0]
