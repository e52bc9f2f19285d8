"""First come, first served at intake: customer-key claims in the registration's own transaction.

Racers post over real HTTP to the local app (moto over HTTP behind it); exactly one registration of a
customer is first, every other one is stored at once and marked with the first one as ``duplicate_of``.
"""
from __future__ import annotations

import threading
import time
import urllib.error
from datetime import UTC

from tests.functional.helpers import example, make_user

RACERS = 16


def _registration_body(name: str, uscc: str | None, website: str | None, *, ref: str) -> dict:
    data = example()["data"]
    data["customer"]["name"] = name
    data["customer"]["registry_ids"] = [{"scheme": "uscc", "value": uscc}] if uscc else []
    if website is None:
        data["customer"].pop("website", None)
    else:
        data["customer"]["website"] = website
    data["external_ref"] = ref
    return data


def _stored(reg_id: str):
    from chalicelib.store.models import RegistrationItem

    return RegistrationItem.get(reg_id, consistent_read=True)


def test_sixteen_racers_for_one_customer_yield_exactly_one_first(suite):
    keys = [make_user(f"rep{i}", "rep", team="south") for i in range(RACERS)]
    admin = make_user("boss", "admin")
    # GIVEN sixteen reps registering the same customer under spellings that share its name key, some
    # also giving its registry id or website (so racers compete for different subsets of its keys)
    variants = [
        ("深圳市腾讯计算机系统有限公司", "91440300708461136T", "tencent.com"),
        # (the region is part of the name key: a name without it claims another key, issue 12 item 7)
        ("深圳腾讯计算机系统有限公司", None, None),
        ("腾讯计算机系统有限公司（深圳）", None, "https://www.tencent.com/"),
        ("深圳市腾讯计算机系统 有限公司", "91440300708461136T", None),
    ]
    bodies = [_registration_body(*variants[i % len(variants)], ref=f"r{i}") for i in range(RACERS)]
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(RACERS)

    def race(i: int) -> None:
        start.wait()
        # A safety net (the local server's listen backlog is 128): a connection reset under a burst is retried
        # with the same Idempotency-Key, so a retry can never create a second registration.
        for attempt in range(5):
            try:
                answer = suite.api.post("/v1/registrations", bodies[i], keys[i],
                                        headers={"Idempotency-Key": f"race-{i}"})
                break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.05 * (attempt + 1))
        else:
            raise AssertionError(f"racer {i} could not connect")
        with lock:
            answers.append((answer.status, answer.json()))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN every registration is accepted (a duplicate is never refused at intake)
    assert [s for s, _ in answers] == [202] * RACERS, answers
    ids = [body["id"] for _, body in answers]
    assert len(set(ids)) == RACERS
    # AND exactly one is first; every other one is marked, and its duplicate_of chain leads to the first
    items = {i: _stored(i) for i in ids}
    firsts = [i for i, it in items.items() if it.first_claim]
    assert len(firsts) == 1
    for reg_id, it in items.items():
        if reg_id == firsts[0]:
            assert it.duplicate_of is None
            continue
        assert it.first_claim is False
        seen = {reg_id}
        while items[reg_id].duplicate_of is not None:
            reg_id = items[reg_id].duplicate_of
            assert reg_id in items and reg_id not in seen
            seen.add(reg_id)
        assert reg_id == firsts[0]
    # AND the name key, shared by all, is held by the first
    from datetime import datetime

    from chalicelib.store.registrations import read_claim

    holder = read_claim("customer#name:腾讯计算机系统@深圳", now=datetime.now(UTC))
    assert holder is not None and holder.registration_id == firsts[0]
    # AND the read API shows the mark
    shown = {i: suite.api.get(f"/v1/registrations/{i}", admin).json()["first_claim"] for i in ids}
    assert sorted(shown.values()) == [False] * (RACERS - 1) + [True]


def test_claims_name_the_holder_of_the_strongest_key_and_keep_free_keys(suite):
    key = make_user("rep1", "rep", team="south")
    # GIVEN one registration of a customer by name only
    first = suite.api.post("/v1/registrations", _registration_body(
        "华为技术有限公司", uscc=None, website=None, ref="a"), key).json()["id"]
    # WHEN another customer record with a new website and the same name arrives
    second = suite.api.post("/v1/registrations", _registration_body(
        "华为技术有限公司", uscc=None, website="huawei.com", ref="b"), key).json()["id"]
    # AND a third arrives with that website only under another name
    third = suite.api.post("/v1/registrations", _registration_body(
        "Huawei", uscc=None, website="www.huawei.com", ref="c"), key).json()["id"]
    # THEN the first is first; the second is its duplicate but still took the free domain key
    assert _stored(first).first_claim is True and _stored(first).duplicate_of is None
    assert _stored(second).duplicate_of == first
    assert _stored(third).duplicate_of == second
    # AND an unrelated customer is first again
    other = suite.api.post("/v1/registrations", _registration_body(
        "小米科技有限责任公司", uscc=None, website="mi.com", ref="d"), key).json()["id"]
    assert _stored(other).first_claim is True


def test_replayed_idempotency_key_is_not_marked_a_duplicate_of_itself(suite):
    key = make_user("rep1", "rep", team="south")
    body = _registration_body("华为技术有限公司", uscc=None, website=None, ref="a")
    one = suite.api.post("/v1/registrations", body, key, headers={"Idempotency-Key": "k1"})
    two = suite.api.post("/v1/registrations", body, key, headers={"Idempotency-Key": "k1"})
    assert one.json() == two.json()
    assert _stored(one.json()["id"]).first_claim is True
