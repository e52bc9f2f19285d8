"""The intake's per-request work made cheaper in session 6 (issue 15 item 2), each pinned to what it replaced:
the same values, the same DynamoDB request, and the work it no longer does. No network: botocore's Stubber
answers the claims read (and checks its parameters)."""
from __future__ import annotations

import calendar
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import pytest
from botocore.stub import Stubber
from hypothesis import given, settings, strategies as st
from pynamodb.attributes import TTLAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import GetError

from chalicelib import http
from chalicelib.http import HttpError, parse_json
from chalicelib.store import registrations
from chalicelib.store.models import ClaimItem, RegistrationItem

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "opportunity.json").read_bytes()


# --- parse_json: the nesting walk only when the text could nest too deep ----------------------------------------

def test_a_body_with_few_brackets_is_not_walked(monkeypatch):
    def walked(value):
        raise AssertionError("json_depth walked a body that cannot nest deeper than the bound")

    monkeypatch.setattr(http, "json_depth", walked)
    assert parse_json(EXAMPLE) == json.loads(EXAMPLE)  # 6 objects + 3 arrays: at most 9 levels
    assert parse_json("[" * 16 + "{" * 0 + "]" * 16) is not None
    with pytest.raises(AssertionError):  # 33 brackets: the walk decides
        parse_json("[" * 33 + "]" * 33)


def test_brackets_in_strings_only_make_the_walk_run_and_the_bound_holds():
    shallow = json.dumps({"a": "[" * 40, "b": "{" * 40, "c": [1, {"d": []}]})
    assert parse_json(shallow) == json.loads(shallow)
    for deep in ("[" * 33 + "]" * 33, '{"a": ' * 33 + "1" + "}" * 33, "[" * 20 + '{"x": ' * 13 + "1" + "}" * 13 + "]" * 20):
        with pytest.raises(HttpError) as err:
            parse_json(deep)
        assert err.value.code == "json_too_deep"
    assert parse_json("[" * 20 + '{"x": ' * 12 + "1" + "}" * 12 + "]" * 20) is not None  # exactly 32 levels


# --- the idempotency fingerprint: one prebuilt encoder, the historic canonical text -------------------------------

BODIES = [
    EXAMPLE,
    b'{"b": 1, "a": [1.10, 1e5, -0.0, 2E-3, 3.141592653589793, 12345678901234567890, true, null, "x\\u00e9\\n"]}',
    '{"名称":"深圳市腾讯计算机系统有限公司","amount":3800000.00,"nested":{"z":{},"y":[],"a":{"k":"\\u2028"}}}'.encode(),
    b'[1, 2.5, "\\ud83d\\ude00", {"\\u00e9": 1, "e": 2, "E": 3}]',
]


@pytest.mark.parametrize("raw", BODIES)
def test_the_fingerprint_is_the_sha256_of_the_historic_canonical_json(raw):
    body = parse_json(raw)
    historic = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert registrations.json_fingerprint(body) == hashlib.sha256(historic.encode()).hexdigest()


def test_the_fingerprint_builds_no_encoder_per_call(monkeypatch):
    body = parse_json(EXAMPLE)
    want = registrations.json_fingerprint(body)

    def no_dumps(*args, **kwargs):
        raise AssertionError("json.dumps builds an encoder per call")

    monkeypatch.setattr(json, "dumps", no_dumps)
    assert registrations.json_fingerprint(body) == want


# --- timestamps: serialised once per value, as PynamoDB's attributes do -------------------------------------------

def _datetimes():
    rng = random.Random(15)
    zones = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
    yield datetime(2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC)
    yield datetime(2028, 2, 29, 23, 59, 59, 999999, tzinfo=zones[1])
    yield datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(300):
        yield datetime.fromtimestamp(rng.uniform(0, 4_102_444_800), tz=rng.choice(zones))


@pytest.mark.parametrize("at", list(_datetimes()))
def test_the_stamps_are_what_the_attributes_serialise(at):
    assert registrations.utc_stamp(at) == UTCDateTimeAttribute().serialize(at)
    assert registrations.ttl_epoch(at) == TTLAttribute().serialize(at) == ClaimItem.expires_at.serialize(at)
    assert registrations.ttl_epoch(at) == str(calendar.timegm(at.utctimetuple()))


@settings(max_examples=3000, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.one_of(st.none(), st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                                          max_value=timedelta(hours=23, minutes=59)).map(timezone)))
def test_the_stamp_is_the_attributes_text_for_any_datetime(at, zone):
    """Session 8: ``utc_stamp`` formats the fields itself; the text is PynamoDB's for every year (the attribute pads
    a short ``%Y`` by ``zfill``), offset, microsecond and a naive datetime (read as UTC)."""
    at = at.replace(tzinfo=zone)
    registrations.utc_stamp.cache_clear()
    assert registrations.utc_stamp(at) == UTCDateTimeAttribute().serialize(at)


def test_the_stamp_does_not_go_through_strftime(monkeypatch):
    """What session 8 removed: the attribute's ``strftime`` (it imports ``time`` on every call)."""
    def refused(self, value):
        raise AssertionError("UTCDateTimeAttribute.serialize ran")

    at = datetime(2026, 12, 6, 20, 0, 0, 1, tzinfo=timezone(timedelta(hours=8)))
    expected = UTCDateTimeAttribute().serialize(at)
    registrations.utc_stamp.cache_clear()
    monkeypatch.setattr(UTCDateTimeAttribute, "serialize", refused)
    assert registrations.utc_stamp(at) == expected == "2026-12-06T12:00:00.000001+0000"


class _NoOffset(tzinfo):
    """A zone that knows no offset (``utcoffset`` None): PynamoDB reads its time tuple as UTC."""

    def utcoffset(self, dt):
        return None

    def dst(self, dt):
        return None


def test_the_claim_times_are_what_the_attributes_serialise():
    """Session 9: the expiry epoch of a whole-second TTL is now's epoch plus the TTL's seconds; over 3,000 generated
    times (three zones and a zone without an offset) and TTLs (whole seconds and not), every field is what ClaimItem's
    attributes serialise for ``now`` and ``now + ttl``."""
    rng = random.Random(9)
    zones = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30)), _NoOffset()]
    for i in range(3_000):
        now = datetime.fromtimestamp(rng.uniform(0, 4_000_000_000), tz=UTC).astimezone(zones[i % 3])
        if i % 4 == 3:
            now = now.replace(tzinfo=zones[3])
        ttl = rng.choice((timedelta(0), timedelta(seconds=1), timedelta(days=1), timedelta(days=30, seconds=7),
                          timedelta(seconds=rng.randint(0, 10**8)),
                          timedelta(seconds=rng.randint(0, 10**6), microseconds=rng.randint(1, 999_999))))
        times = registrations._ClaimTimes.at(now, ttl)
        assert times == (UTCDateTimeAttribute().serialize(now), TTLAttribute().serialize(now),
                         TTLAttribute().serialize(now + ttl)), (now, ttl)


def test_a_whole_second_ttl_takes_no_second_epoch(monkeypatch):
    """What session 9 removed: the second ``ttl_epoch`` (of ``now + ttl``) per create."""
    calls = []
    original = registrations.ttl_epoch
    monkeypatch.setattr(registrations, "ttl_epoch", lambda at: calls.append(at) or original(at))
    now = datetime(2026, 12, 6, 22, 0, 0, 999_999, tzinfo=UTC)
    times = registrations._ClaimTimes.at(now, timedelta(days=1))
    assert times.expires_epoch == TTLAttribute().serialize(now + timedelta(days=1))
    assert calls == [now]


def test_a_naive_datetime_has_no_ttl_epoch_like_pynamodb():
    naive = datetime(2026, 12, 6, 10, 0)
    with pytest.raises(ValueError):
        TTLAttribute().serialize(naive)
    with pytest.raises(ValueError):
        registrations.ttl_epoch(naive)


def test_a_create_serialises_its_now_once(monkeypatch):
    from chalicelib.domain.registration import new_registration
    from chalicelib.store import models
    from schemas.common import Actor
    from schemas.registration import RegistrationCreate, Source

    now = datetime(2031, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)  # a value no other test serialised (the cache is shared)
    reg = new_registration(RegistrationCreate.model_validate(json.loads(EXAMPLE)["data"]), reg_id="reg_stamps",
                           source=Source.PARTNER, submitter=Actor(kind="partner", id="acme"), now=now,
                           partner_id="acme")
    calls = {"utc": 0, "ttl": 0}
    utc, ttl = UTCDateTimeAttribute.serialize, TTLAttribute.serialize
    monkeypatch.setattr(UTCDateTimeAttribute, "serialize",
                        lambda self, v: calls.__setitem__("utc", calls["utc"] + 1) or utc(self, v))
    monkeypatch.setattr(TTLAttribute, "serialize", lambda self, v: calls.__setitem__("ttl", calls["ttl"] + 1) or ttl(self, v))
    monkeypatch.setattr(registrations, "held_claims", lambda keys, reg_id: {})
    monkeypatch.setattr(registrations, "_pending_cap", lambda: 20)
    sent: list[dict] = []
    monkeypatch.setattr(models.connection(), "transact_write_items", lambda **kw: sent.append(kw) or {})
    registrations.create(reg, now=now, idempotency_key="webhook#acme#m1", idempotency_ttl=timedelta(days=1),
                         fingerprint="f" * 64)
    (call,) = sent
    # was 6 and 2: the registration's created/updated, its audit line, the customer, the claims, the pending
    # counter (store.holders, left as it is); the claims' two epochs. Session 8: utc_stamp formats the text itself
    # (test_the_stamp_is_the_attributes_text_for_any_datetime), so only the pending counter's is left.
    assert calls == {"utc": 1, "ttl": 0}
    stamp = utc(UTCDateTimeAttribute(), now)
    reg_put = call["put_items"][0]["Item"]
    assert reg_put["created_at"] == reg_put["updated_at"] == reg_put["audit"]["L"][0]["M"]["at"] == {"S": stamp}
    webhook_claim = next(p["Item"] for p in call["put_items"] if p["Item"].get("key") == {"S": "webhook#acme#m1"})
    assert webhook_claim["expires_at"] == {"N": ttl(ClaimItem.expires_at, now + timedelta(days=1))}
    assert webhook_claim["response"] == {"S": ClaimItem.response.serialize({"id": "reg_stamps", "status": "submitted"})}


# --- the claims read: the request PynamoDB's batch_get sends, without a model per answer --------------------------

KEYS = ["customer#uscc:91440300708461136T", "customer#name:腾讯计算机系统@深圳", "customer#domain:tencent.com"]


def _keys(keys):
    return [{"key": {"S": k}} for k in keys]


def _claim(key, reg_id):
    return {"key": {"S": key}, "registration_id": {"S": reg_id}, "created_at": {"S": "2026-12-06T10:00:00.000000+0000"}}


@pytest.fixture
def stubbed():
    client = ClaimItem._get_connection().connection.client  # noqa: SLF001 - the models' shared client
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def _request(keys):
    return {"RequestItems": {ClaimItem.Meta.table_name: {"ConsistentRead": True, "Keys": _keys(keys)}},
            "ReturnConsumedCapacity": "TOTAL"}


def test_the_claims_read_is_pynamodbs_batch_get_request(stubbed):
    table = ClaimItem.Meta.table_name
    answer = {"Responses": {table: [_claim(KEYS[0], "reg_other"), _claim(KEYS[2], "reg_me")]}, "UnprocessedKeys": {}}
    # what PynamoDB sends for ClaimItem.batch_get(keys, consistent_read=True) (it batches from a set: any order)
    sent: list[dict] = []
    client = ClaimItem._get_connection().connection.client  # noqa: SLF001
    client.meta.events.register("before-parameter-build.dynamodb.BatchGetItem",
                                lambda params, **_: sent.append(json.loads(json.dumps(params))), unique_id="t-batch")
    try:
        stubbed.add_response("batch_get_item", answer)
        via_pynamodb = {c.key: c.registration_id for c in ClaimItem.batch_get(KEYS, consistent_read=True)}
        stubbed.add_response("batch_get_item", answer, _request(KEYS))
        held = registrations.held_claims(KEYS, "reg_me")
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.BatchGetItem", unique_id="t-batch")
    assert held == {k: v for k, v in via_pynamodb.items() if v != "reg_me"} == {KEYS[0]: "reg_other"}
    pynamodb_request, ours = sent
    pynamodb_request["RequestItems"][table]["Keys"].sort(key=json.dumps)
    ours["RequestItems"][table]["Keys"].sort(key=json.dumps)
    assert ours == pynamodb_request


def test_unprocessed_keys_are_asked_again_and_no_model_is_built(stubbed, monkeypatch):
    table = ClaimItem.Meta.table_name

    def no_model(*args, **kwargs):
        raise AssertionError("a ClaimItem was built for an answer")

    monkeypatch.setattr(ClaimItem, "from_raw_data", classmethod(no_model))
    stubbed.add_response("batch_get_item", {"Responses": {table: [_claim(KEYS[1], "reg_a")]},
                                            "UnprocessedKeys": {table: {"Keys": _keys([KEYS[2]])}}}, _request(KEYS))
    stubbed.add_response("batch_get_item", {"Responses": {table: [_claim(KEYS[2], "reg_b")]}, "UnprocessedKeys": {}},
                         _request([KEYS[2]]))
    assert registrations.held_claims([*KEYS, KEYS[0]], "reg_me") == {KEYS[1]: "reg_a", KEYS[2]: "reg_b"}


def test_a_failed_claims_read_is_pynamodbs_get_error(stubbed):
    stubbed.add_client_error("batch_get_item", service_error_code="ProvisionedThroughputExceededException",
                             http_status_code=400)
    with pytest.raises(GetError) as err:
        registrations.held_claims(KEYS, "reg_me")
    assert err.value.cause_response_code == "ProvisionedThroughputExceededException"
    assert http._is_unavailable(err.value)  # still a 503 + Retry-After at the edge


def test_the_stored_item_uses_the_stamp_of_each_value():
    from chalicelib.domain.registration import new_registration
    from schemas.common import Actor
    from schemas.registration import RegistrationCreate, Source

    now = datetime(2026, 12, 6, 10, 0, 0, 5, tzinfo=UTC)
    reg = new_registration(RegistrationCreate.model_validate(json.loads(EXAMPLE)["data"]), reg_id="reg_x",
                           source=Source.PARTNER, submitter=Actor(kind="partner", id="acme"), now=now)
    later = reg.model_copy(update={"updated_at": now + timedelta(microseconds=1)})
    item = registrations.item_attributes(later)
    assert item["created_at"] == {"S": RegistrationItem.created_at.serialize(now)}
    assert item["updated_at"] == {"S": RegistrationItem.updated_at.serialize(now + timedelta(microseconds=1))}


# --- session 7 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    {"id": "reg_0123456789abcdef0123456789abcdef", "status": "submitted"},
    {"id": 'reg_"quoted"\\back\nline', "status": "pending_review"},
    {"id": "reg_深圳\u2028\x01", "status": "submitted"},
    {"status": "submitted", "id": "reg_x"},  # another key order: the attribute's own text
    {"id": "reg_x", "status": "submitted", "extra": 1},
    {"id": 5, "status": "submitted"},
])
def test_the_answer_text_is_what_the_response_attribute_stores(answer):
    assert registrations.answer_text(answer) == ClaimItem.response.serialize(answer) == json.dumps(answer)


def test_the_ttl_epoch_of_a_zone_without_offset_is_the_time_tuples():
    class NoOffset(tzinfo):
        def utcoffset(self, dt):
            return None

        def tzname(self, dt):
            return None

        def dst(self, dt):
            return None

    at = datetime(2026, 12, 6, 10, 0, 0, 500000, tzinfo=NoOffset())
    assert registrations.ttl_epoch(at) == str(calendar.timegm(at.utctimetuple()))
    before_epoch = datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)
    assert registrations.ttl_epoch(before_epoch) == str(calendar.timegm(before_epoch.utctimetuple())) == "-1"


def test_the_batch_read_is_dispatchs_request_without_its_uuid_unless_a_signal_listens(stubbed, monkeypatch):
    """Session 8: ``models.batch_get_rows`` sends exactly what PynamoDB's ``dispatch`` sends (the same parameters in
    the same order, ``ReturnConsumedCapacity`` included) without dispatch's per-call ``uuid4`` (a test that fails
    if that cost comes back); with a receiver on PynamoDB's send signals, dispatch itself runs and they fire."""
    import pynamodb.connection.base as pynamodb_base
    from pynamodb.constants import BATCH_GET_ITEM
    from pynamodb.signals import pre_dynamodb_send

    from chalicelib.store import models

    table = ClaimItem.Meta.table_name
    ask = {table: {"ConsistentRead": True, "Keys": _keys(KEYS)}}
    answer = {"Responses": {table: [_claim(KEYS[0], "reg_other")]}, "UnprocessedKeys": {}}
    sent: list[list] = []
    client = models.connection().client
    client.meta.events.register("before-parameter-build.dynamodb.BatchGetItem",
                                lambda params, **_: sent.append(list(json.loads(json.dumps(params)).items())),
                                unique_id="t-dispatch")
    try:
        stubbed.add_response("batch_get_item", answer)
        via_dispatch = models.connection().dispatch(BATCH_GET_ITEM, {"RequestItems": json.loads(json.dumps(ask))})
        uuid4 = pynamodb_base.uuid.uuid4
        monkeypatch.setattr(pynamodb_base.uuid, "uuid4", lambda: pytest.fail("uuid4 made for a batch read"))
        stubbed.add_response("batch_get_item", answer)
        assert models.batch_get_rows(ask) == {table: via_dispatch["Responses"][table]}
        monkeypatch.setattr(pynamodb_base.uuid, "uuid4", uuid4)
        heard: list[str] = []

        def listen(sender, operation_name, **_):
            heard.append(operation_name)

        pre_dynamodb_send.connect(listen)
        try:
            stubbed.add_response("batch_get_item", answer)
            models.batch_get_rows(ask)
        finally:
            pre_dynamodb_send.disconnect(listen)
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.BatchGetItem", unique_id="t-dispatch")
    assert sent[0] == sent[1] == sent[2] and [name for name, _ in sent[0]] == ["RequestItems", "ReturnConsumedCapacity"]
    assert heard == ["BatchGetItem"]


_WITHOUT_BLINKER = """
import sys
sys.modules["blinker"] = None  # the deployment zip has no blinker: only a dev dependency (Flask, for moto) brings it
from pynamodb import signals
from chalicelib.store import models
assert not signals.signals_available
sent = []
conn = models.connection()
conn._make_api_call = lambda operation, kwargs: sent.append((operation, kwargs)) or {"Responses": {"t": [{"k": 1}]}}
rows = models.batch_get_rows({"t": {"Keys": [{"pk": {"S": "a"}}]}})
assert rows == {"t": [{"k": 1}]}, rows
assert sent == [("BatchGetItem", {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}]}},
                                  "ReturnConsumedCapacity": "TOTAL"})], sent
print("ok")
"""


def test_the_batch_read_works_where_pynamodbs_signals_are_stand_ins_without_blinker():
    """Review of session 8: the deployment zip has no ``blinker``, so PynamoDB's signals are ``_FakeSignal`` objects
    without ``receivers``; the batch read asked them for receivers and failed (AttributeError) on every intake create
    on Lambda while every test, run with blinker installed, passed. Run where blinker cannot be imported."""
    import os
    import subprocess
    import sys

    functions = Path(__file__).resolve().parents[2] / "functions"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(functions), str(functions.parent)])}
    done = subprocess.run([sys.executable, "-c", _WITHOUT_BLINKER], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


# --- the envelope's timestamp: one difference against both bounds (session 9) --------------------------------------

def _envelope_refusal_before_session_9(stamp, now, tolerance):
    """The check as it was: ``stamp`` against ``now`` shifted by the tolerance, and by the maximum age."""
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
    if stamp > now + timedelta(seconds=tolerance):
        return "future_timestamp"
    if stamp < now - timedelta(days=366):
        return "stale_timestamp"
    return None


def test_the_envelope_time_check_answers_as_before_at_and_around_its_bounds():
    """4,000 generated envelope times (naive, UTC and other offsets, pydantic's own tz) at, one microsecond either
    side of, and anywhere around both bounds: the same refusal (or none) as the two shifted comparisons."""
    from pydantic import TypeAdapter

    from chalicelib import settings as settings_mod
    from chalicelib.handlers import intake
    from chalicelib.http import HttpError
    from schemas.common import Timestamp

    timestamps = TypeAdapter(Timestamp)
    tolerance = settings_mod.get().webhook_tolerance_seconds
    rng = random.Random(9)
    zones = [None, UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-9, minutes=-30))]
    micro = timedelta(microseconds=1)
    for i in range(4_000):
        now = datetime(2026, 12, 6, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**8), microseconds=rng.randint(0, 999_999))
        edge = rng.choice((now + timedelta(seconds=tolerance), now - timedelta(days=366), now))
        at = edge + rng.choice((-micro, timedelta(0), micro, timedelta(seconds=rng.uniform(-4e7, 4e7))))
        zone = zones[i % 4]
        stamp = at.astimezone(UTC).replace(tzinfo=None) if zone is None else at.astimezone(zone)
        if i % 7 == 0 and stamp.tzinfo is not None:  # as the envelope's validation gives it (pydantic's TzInfo)
            stamp = timestamps.validate_python(stamp.isoformat())
        want = _envelope_refusal_before_session_9(stamp, now, tolerance)
        try:
            intake._check_envelope_time(stamp, now)
            got = None
        except HttpError as exc:
            assert exc.status == 422 and exc.code == "validation_failed"
            got = exc.errors[0]["type"]
        assert got == want, (stamp, now)


def test_the_partner_standing_is_what_the_items_attributes_read(monkeypatch):
    """Session 9: ``cached_partner_standing`` reads the item's values directly; for every combination of stored
    values (and a partner stored before ``active`` existed, and one read back from DynamoDB's wire form) it answers
    what the attribute descriptors read, and None for an unknown partner."""
    from chalicelib.store import directory
    from chalicelib.store.models import PartnerItem

    items = [PartnerItem("partner#a", name="A", active=active, team_id=team)
             for active in ("yes", "no", "", None) for team in ("t1", None)]
    items += [PartnerItem.from_raw_data({"pk": {"S": "partner#b"}, "name": {"S": "B"}}),
              PartnerItem.from_raw_data({"pk": {"S": "partner#c"}, "name": {"S": "C"}, "active": {"S": "no"},
                                         "team_id": {"S": "t9"}})]
    for item in items:
        monkeypatch.setattr(directory, "cached_partner", lambda _id, _item=item: _item)
        assert directory.cached_partner_standing("x") == (item.active == "yes", item.team_id)
    monkeypatch.setattr(directory, "cached_partner", lambda _id: None)
    assert directory.cached_partner_standing("x") is None


def test_the_edge_walks_no_query_when_there_is_none(monkeypatch):
    """Session 9: a request without query parameters (every webhook) goes straight to the route; one with them is
    still checked (a credential in the query is refused before the route runs)."""
    from types import SimpleNamespace

    from chalice import Response

    from chalicelib import http

    def refused(params):
        raise AssertionError("walked an empty query")

    answered = Response(body="", status_code=202)
    with monkeypatch.context() as patch:
        patch.setattr(http, "credentials_in_query", refused)
        for params in (None, {}):
            assert http.edge(SimpleNamespace(query_params=params), lambda event: answered) is answered
    refusal = http.edge(SimpleNamespace(query_params={"api_key": "drk_x"}),
                        lambda event: pytest.fail("the route ran with a credential in the query"))
    assert refusal.status_code == 401
