"""Tender feeds end to end: local feed servers -> scheduled poll -> DynamoDB (moto over HTTP) -> alerts.

Sources are configuration (DEALREG_TENDER_SOURCES); feeds are real corpus files served from 127.0.0.1,
next to hostile ones (entity bomb, oversized body, malformed XML, a 503) that must end as per-source
errors while the good sources are stored.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.contract.harness import LocalServer, Reply
from tests.corpora import corpora_root
from tests.functional.helpers import make_partner, make_user

# Real corpus files (shared third-party corpus, tests/corpora.py); tests that serve them skip without it.
CORPUS = corpora_root()
BOMB = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<rss version="2.0"><channel><item><title>&d;</title><guid>x</guid></item></channel></rss>"""


class Feeds:
    """One local server for every source; paths map to bodies, ETags honoured unless told otherwise."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[bytes, dict[str, str]]] = {
            "/ocds/process.json": ((CORPUS / "ocds/fictional-example/1.1/ocds-213czf-000-00001.json").read_bytes(),
                                   {"Content-Type": "application/json", "ETag": '"ocds-1"'}),
            "/ted/notice.xml": ((CORPUS / "tenders/ted_xml/development-notices/ted-xml/18-151256-001-EXP.xml").read_bytes(),
                                {"Content-Type": "application/xml"}),
            "/eforms/cn.xml": ((CORPUS / "tenders/eforms_sdk_examples/cn_24_minimal.xml").read_bytes(),
                               {"Content-Type": "application/xml"}),
            "/eforms/void.xml": ((CORPUS / "tenders/eforms_sdk_examples/change-cn_24_void.xml").read_bytes(),
                                 {"Content-Type": "application/xml"}),
            "/tw/award.json": ((CORPUS / "ocds/real-examples/taiwan/sample/releases/ocid-6as3t2-51179519-ocid-6as3t2-51179519.json").read_bytes(),
                               {"Content-Type": "application/json"}),
            "/bad/bomb.xml": (BOMB, {"Content-Type": "application/rss+xml"}),
            "/bad/huge.xml": (b"<rss>" + b" " * (2 * 1024 * 1024), {"Content-Type": "application/rss+xml"}),
            "/bad/broken.xml": (b"<TED_EXPORT DOC_ID='1'><CODED_DATA_SECTION>", {"Content-Type": "application/xml"}),
        }
        self.down: set[str] = set()
        self.server = LocalServer(self.respond)

    def respond(self, seen: Any) -> Reply:
        path = seen.path.split("?")[0]
        if path in self.down:
            return Reply(503, b"maintenance", {"Retry-After": "120"})
        body, headers = self.bodies.get(path, (None, {}))
        if body is None:
            return Reply(404, b"")
        if headers.get("ETag") and seen.headers.get("if-none-match") == headers["ETag"]:
            return Reply(304, b"")
        return Reply(200, body, dict(headers))

    def sources(self) -> list[dict[str, Any]]:
        url = self.server.url

        def src(name: str, connector: str, path: str, **config: Any) -> dict[str, Any]:
            return {"name": name, "connector": connector, "every_minutes": 15,
                    "config": {"source": name, "feed_url": url(path), **config}}

        return [
            src("ocds_demo", "tender_ocds", "/ocds/process.json"),
            src("ted_demo", "tender_ted", "/ted/notice.xml"),
            src("eforms_cn", "tender_ted", "/eforms/cn.xml"),
            src("eforms_changes", "tender_ted", "/eforms/void.xml"),
            src("taiwan", "tender_ocds", "/tw/award.json"),
            src("bomb", "tender_rss", "/bad/bomb.xml"),
            src("huge", "tender_rss", "/bad/huge.xml", max_bytes=1024 * 1024),
            src("broken", "tender_ted", "/bad/broken.xml"),
            src("gone", "tender_rss", "/bad/nothing-here.xml"),
            {"name": "misconfigured", "connector": "tender_rss", "config": {"source": "misconfigured"}},
        ]


@pytest.fixture
def feeds(suite, monkeypatch):
    from chalicelib import settings
    from tests.corpora import corpus

    corpus("ocds")
    corpus("tenders")

    f = Feeds()
    with f.server:
        monkeypatch.setenv("DEALREG_TENDER_SOURCES", json.dumps(f.sources()))
        monkeypatch.setenv("DEALREG_TENDER_ALLOW_LOOPBACK", "1")
        settings.reset()
        yield f
    settings.reset()


def _state(source: str) -> Any:
    from chalicelib.store import tenders as store

    return store.feed_state(source)


def _all_tenders() -> list[Any]:
    from chalicelib.store.models import TenderItem

    return list(TenderItem.scan())


def subscribe(api, key: str, body: dict) -> dict:
    answer = api.post("/v1/subscriptions", body, key)
    assert answer.status == 201, answer.body
    return answer.json()


def test_poll_stores_links_alerts_once_and_isolates_hostile_sources(suite, feeds):
    from chalicelib import clock
    from chalicelib.store import tenders as store

    clock.set_clock(clock.FrozenClock(datetime(2024, 5, 6, 8, 0, tzinfo=UTC)))
    rep_key = make_user("wang", "rep")
    other_key = make_user("li", "rep")
    cycle = subscribe(suite.api, rep_key, {"keywords": {"include": ["cycle lane"]}, "delivery": "immediate"})
    subscribe(suite.api, rep_key, {"categories": ["cpv:4523"], "regions": ["london"], "delivery": "daily_digest"})
    subscribe(suite.api, other_key, {"keywords": {"include": ["場地布置"]}})  # Chinese, no segmentation
    subscribe(suite.api, other_key, {"buyers": ["The Publications Office of the European Union."], "keywords": {"include": ["IT services"]}})
    subscribe(suite.api, other_key, {"keywords": {"include": ["cycle lane"], "exclude": ["improvements"]}})

    # WHEN the schedule fires
    suite.runner.run_schedule("poll_tender_feeds")

    # THEN the good sources are stored: six OCDS releases of one process are one tender (linked by ocid),
    # the eForms notice and its cancellation are one tender, marked cancelled
    tenders = {t.tender_id: t for t in _all_tenders()}
    assert len(tenders) == 4
    by_title = {t.title: t for t in tenders.values()}
    process = next(t for t in tenders.values() if "ocds:ocds-213czf-000-00001" in t.data["refs"])
    assert len([s for s in process.sources if s.startswith("src:ocds_demo:")]) == 6
    assert process.data["status"] == "award"  # the latest stage wins
    assert process.data["deadline"] == "2010-04-08T18:00:00Z"  # from the tender amendment
    eforms = next(t for t in tenders.values() if t.title.startswith("Provision of IT Services"))
    assert eforms.cancelled == "yes" and len(eforms.sources) == 2
    assert "102年全國中小學客家藝文競賽總決賽之場地布置採購" in by_title
    assert by_title["Projektwettbewerb Wohnen im Alter Balzers"].data["deadline"] == "2018-05-07T15:00:00Z"

    # AND the hostile sources each recorded a clear error, with backoff, without stopping the run
    assert _state("bomb").last_error == "xml_entities_refused"
    assert _state("huge").last_error == "too_large"
    assert _state("broken").last_error == "malformed_xml"
    assert _state("gone").last_error == "not_found"
    assert _state("ocds_demo").last_error is None and _state("ocds_demo").etag == '"ocds-1"'
    assert _state("bomb").failures == 1 and _state("bomb").next_due_at > clock.now()

    # AND one alert per rep per tender: wang's two subscriptions on the cycle-lane process make one alert,
    # li's excluded subscription did not fire, li's Chinese keyword did — except on the Taiwan notice,
    # an award (an awarded process is never an opportunity to alert on)
    wang = {a.tender_id: a for a in store.alerts_for("wang")}
    li = {a.tender_id: a for a in store.alerts_for("li")}
    assert set(wang) == {process.tender_id}
    assert wang[process.tender_id].delivery == "immediate"
    assert sorted(wang[process.tender_id].subscription_ids)[0].startswith("sub_")
    assert cycle["id"] in wang[process.tender_id].subscription_ids
    taiwan = by_title["102年全國中小學客家藝文競賽總決賽之場地布置採購"]
    assert taiwan.data["status"] == "award"
    assert set(li) == {eforms.tender_id}

    # WHEN polled again (everything due, a server that ignores ETags for most sources)
    clock.set_clock(clock.FrozenClock(datetime(2024, 5, 6, 12, 0, tzinfo=UTC)))
    suite.runner.run_schedule("poll_tender_feeds")
    # THEN nothing is duplicated
    assert len(_all_tenders()) == 4
    assert len(store.alerts_for("wang")) == 1 and len(store.alerts_for("li")) == 1
    assert _state("ocds_demo").stats.get("not_modified") == 1  # conditional GET answered 304
    assert _state("bomb").failures == 2


def test_a_source_that_recovers_clears_its_error(suite, feeds):
    from chalicelib import clock

    clock.set_clock(clock.FrozenClock(datetime(2024, 5, 6, 8, 0, tzinfo=UTC)))
    feeds.down.add("/ted/notice.xml")
    suite.runner.run_schedule("poll_tender_feeds")
    state = _state("ted_demo")
    assert state.last_error == "server_error" and state.failures == 1
    # Retry-After: 120 s is shorter than the 30-minute backoff, so the backoff decides
    assert (state.next_due_at - clock.now()).total_seconds() == 30 * 60
    feeds.down.clear()
    clock.set_clock(clock.FrozenClock(datetime(2024, 5, 6, 9, 0, tzinfo=UTC)))
    suite.runner.run_schedule("poll_tender_feeds")
    state = _state("ted_demo")
    assert state.last_error is None and state.failures == 0
    assert any(t.title == "Projektwettbewerb Wohnen im Alter Balzers" for t in _all_tenders())


def test_list_and_read_tenders(suite, feeds):
    from chalicelib import clock

    clock.set_clock(clock.FrozenClock(datetime(2024, 5, 6, 8, 0, tzinfo=UTC)))
    key = make_user("wang", "rep")
    suite.runner.run_schedule("poll_tender_feeds")
    page = suite.api.get("/v1/tenders?days=1", key)
    assert page.status == 200, page.body
    items = page.json()["items"]
    assert len(items) == 4
    one = suite.api.get(f"/v1/tenders/{items[0]['id']}", key).json()
    assert one["id"] == items[0]["id"] and one["tender"]["title"]
    found = suite.api.get("/v1/tenders?q=%E5%A0%B4%E5%9C%B0", key).json()["items"]  # q=場地
    assert [i["tender"]["buyer"]["name"] for i in found] == ["南投縣魚池鄉五城國民小學"]
    cancelled = [i for i in items if i["cancelled"]]
    assert len(cancelled) == 1 and cancelled[0]["tender"]["status"] == "cancellation"
    assert suite.api.get("/v1/tenders?days=99", key).status == 422
    assert suite.api.get("/v1/tenders/tnd_nope", key).status == 404
    assert suite.api.get("/v1/tenders").status == 401


def test_subscriptions_api(suite):
    key = make_user("wang", "rep")
    other = make_user("li", "rep")
    _, partner_key = make_partner("acme")
    created = subscribe(suite.api, key, {"name": "cloud", "keywords": {"include": ["云平台", "cloud hosting"],
                                                                       "exclude": ["培训"]},
                                         "value_min": "100000", "currency": "CNY", "delivery": "daily_digest"})
    assert created["rep_id"] == "wang" and created["delivery"] == "daily_digest"
    listed = suite.api.get("/v1/subscriptions", key).json()["items"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert suite.api.get("/v1/subscriptions", other).json()["items"] == []
    # GIVEN someone else's id, WHEN deleting THEN 404 (ids cannot be probed)
    assert suite.api.request("DELETE", f"/v1/subscriptions/{created['id']}",
                             headers={"Authorization": f"Bearer {other}"}).status == 404
    assert suite.api.request("DELETE", f"/v1/subscriptions/{created['id']}",
                             headers={"Authorization": f"Bearer {key}"}).status == 204
    assert suite.api.get("/v1/subscriptions", key).json()["items"] == []
    # validation: at least one criterion; a value range needs a currency; unknown fields refused
    bad = suite.api.post("/v1/subscriptions", {"delivery": "immediate"}, key)
    assert bad.status == 422 and bad.json()["errors"][0]["loc"] == "body"
    assert suite.api.post("/v1/subscriptions", {"regions": ["GB"], "value_max": 5}, key).status == 422
    assert suite.api.post("/v1/subscriptions", {"regions": ["GB"], "colour": "red"}, key).status == 422
    # partners do not subscribe
    assert suite.api.post("/v1/subscriptions", {"regions": ["GB"]}, partner_key).status == 403


def test_index_is_rebuilt_when_subscriptions_change(suite, feeds):
    from chalicelib import clock
    from chalicelib.services import tenders as handler
    from chalicelib.store import tenders as store

    clock.set_clock(clock.FrozenClock(datetime(2024, 5, 6, 8, 0, tzinfo=UTC)))
    key = make_user("wang", "rep")
    first = handler.current_index()
    assert len(first) == 0
    subscribe(suite.api, key, {"regions": ["LI"]})
    second = handler.current_index()
    assert len(second) == 1 and second.version == store.subscriptions_version() > first.version
    assert handler.current_index() is second  # unchanged version: the cached index is reused


def test_index_cached_before_the_table_was_recreated_is_not_reused(suite):
    from chalicelib.services import tenders as handler
    from chalicelib.store import tenders as store
    from chalicelib.store.models import SubscriptionItem

    key = make_user("wang", "rep")
    subscribe(suite.api, key, {"regions": ["LI"]})
    before = handler.current_index()
    assert [c.regions for c in before.by_id.values()] == [("li",)]
    # GIVEN the table emptied (recreated, or restored from an older backup): the counter starts over
    for item in SubscriptionItem.scan():
        item.delete()
    subscribe(suite.api, key, {"regions": ["GB"]})
    assert store.subscriptions_version() == before.version  # same counter value as the cached index...
    after = handler.current_index()
    assert after is not before and [c.regions for c in after.by_id.values()] == [("gb",)]  # ...yet rebuilt


def test_a_poll_that_dies_before_publishing_its_alerts_alerts_on_the_next_poll(suite, feeds, monkeypatch):
    """Nothing is lost: the tender is stored "alerts pending" in the same write, and the source's validators
    do not advance past a failed run, so the next poll sees the notice again and finishes the alerts."""
    from chalicelib import clock
    from chalicelib.store import publisher, tenders as store
    from tests.functional.helpers import drain, tap_events

    clock.set_clock(clock.FrozenClock(datetime(2024, 5, 6, 8, 0, tzinfo=UTC)))
    key = make_user("wang", "rep")
    subscribe(suite.api, key, {"keywords": {"include": ["cycle lane"]}, "delivery": "immediate"})
    tap = tap_events(suite)
    real_publish = publisher.publish

    def outage(events):
        if any(e.type == "tender.alert" for e in events):
            raise RuntimeError("SNS unavailable")
        return real_publish(events)

    monkeypatch.setattr(publisher, "publish", outage)
    suite.runner.run_schedule("poll_tender_feeds")
    assert _state("ocds_demo").last_error == "internal_error:RuntimeError"
    process = next(t for t in _all_tenders() if "ocds:ocds-213czf-000-00001" in t.data["refs"])
    assert process.alert_state == "pending"
    assert [e for e in drain(suite, tap) if e["type"] == "tender.alert"] == []

    monkeypatch.setattr(publisher, "publish", real_publish)
    clock.set_clock(clock.FrozenClock(datetime(2024, 5, 6, 9, 0, tzinfo=UTC)))  # past the 30-minute backoff
    suite.runner.run_schedule("poll_tender_feeds")
    alerts = [e for e in drain(suite, tap) if e["type"] == "tender.alert"]
    assert [(e["rep_id"], e["subject"]) for e in alerts] == [("wang", process.tender_id)]
    assert store.get_tender(process.tender_id).alert_state is None
    assert len(store.alerts_for("wang")) == 1

    clock.set_clock(clock.FrozenClock(datetime(2024, 5, 6, 12, 0, tzinfo=UTC)))
    suite.runner.run_schedule("poll_tender_feeds")  # done: a later poll publishes nothing again
    assert [e for e in drain(suite, tap) if e["type"] == "tender.alert"] == []
