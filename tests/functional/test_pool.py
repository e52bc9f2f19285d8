"""The pool (公海, issue 12 item 14): reps list and read reclaimed registrations with filters, without the
previous owner's private fields; partners cannot browse it."""
from __future__ import annotations

import pytest

from tests.functional.helpers import example, make_partner, make_user

pytestmark = pytest.mark.usefixtures("no_registry_lookups")


def _pooled(suite, rep_key: str, boss_key: str, ref: str, **customer) -> str:
    data = example(external_ref=ref)["data"]
    data["customer"].update(customer)
    data["customer"].pop("registry_ids", None)
    data["customer"].pop("website", None)
    reg_id = suite.api.post("/v1/registrations", data, rep_key).json()["id"]
    suite.runner.pump()
    assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {"reason": "ok"}, boss_key).status == 200
    assert suite.api.post(f"/v1/registrations/{reg_id}/release", {"reason": "no time"}, rep_key).status == 200
    return reg_id


def test_reps_list_and_read_the_pool_with_filters_and_without_private_fields(suite):
    boss = make_user("boss", "manager", team="south")
    wang = make_user("wang", "rep", team="south")
    zhao = make_user("zhao", "rep", team="south")
    north = make_user("bei", "rep", team="north")
    _, partner_key = make_partner("acme")
    gd = _pooled(suite, wang, boss, "P-1", name="深圳市甲科技有限公司", region="广东省深圳市", industry="互联网")
    bj = _pooled(suite, wang, boss, "P-2", name="北京乙科技有限公司", region="北京市", industry="金融")
    page = suite.api.get("/v1/pool", zhao).json()
    assert {r["id"] for r in page["items"]} == {gd, bj}
    item = next(r for r in page["items"] if r["id"] == gd)
    # the previous owner's private fields are not shown
    assert item["contacts"] == [] and "external_ref" not in item and item["audit"] == []
    assert "wang" not in str(item) and "王磊" not in str(item) and "background" not in item["project"]
    # filters
    assert [r["id"] for r in suite.api.get("/v1/pool?region=%E5%B9%BF%E4%B8%9C", zhao).json()["items"]] == [gd]
    assert [r["id"] for r in suite.api.get("/v1/pool?industry=%E9%87%91%E8%9E%8D", zhao).json()["items"]] == [bj]
    assert suite.api.get("/v1/pool?min_amount=9999999&currency=CNY", zhao).json()["items"] == []
    assert len(suite.api.get("/v1/pool?min_amount=100&currency=CNY", zhao).json()["items"]) == 2
    assert suite.api.get("/v1/pool?since=2999-01-01T00:00:00Z", zhao).json()["items"] == []
    assert suite.api.get("/v1/pool?min_amount=abc", zhao).status == 422
    # one item, read and then claimed by its id
    one = suite.api.get(f"/v1/pool/{gd}", zhao)
    assert one.status == 200 and one.json()["contacts"] == []
    assert suite.api.post(f"/v1/registrations/{gd}/claim", {}, zhao).status == 200
    assert suite.api.get(f"/v1/pool/{gd}", zhao).status == 404  # no longer in the pool
    # another team's rep sees none of it; a partner may not browse
    assert suite.api.get("/v1/pool", north).json()["items"] == []
    assert suite.api.get(f"/v1/pool/{bj}", north).status == 404
    assert suite.api.get("/v1/pool", partner_key).status == 403
