"""The cockpit (issue 18): figures kept from the registrations stream, read with a bounded number of key-range
queries, rebuilt by the recount; the console page and its CSV show the API's numbers; same access as the board."""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest

from tests.functional.helpers import EXAMPLE, make_user, post_webhook


def _data(name: str, amount: str, stage: str = "proposal", close: str | None = None) -> dict:
    data = {k: v for k, v in EXAMPLE["data"].items() if k != "external_ref"}
    project = {**data["project"], "expected_amount": {"amount": amount, "currency": "CNY"}}
    if close:
        project["expected_close_date"] = close
    return {**data, "customer": {"name": name}, "sales_stage": stage, "project": project}


# A fixed start, not today: the figures below depend on the calendar (ISO weeks, months of expected close). Started
# from the real date they failed on some days of the year: from 16 December the overdue test's "March next year"
# was computed after the history had crossed into the new year (a year too far); before mid-July next January is
# not among the 6 forecast months. Reproduced by starting the system clock elsewhere with libfaketime (Debian
# package faketime): FAKETIME='@2026-12-20 10:00:00' LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def history(suite):
    """Team ``channel``: 3 rep registrations and 1 partner registration; 3 approved after 2 days in review,
    1 rejected; one moved proposal -> negotiation after 4 days and won 10 days later."""
    from chalicelib import clock

    frozen = clock.FrozenClock(T0)
    clock.set_clock(frozen)
    boss, rita = make_user("boss", "manager", "channel"), make_user("rita", "rep", "channel")
    admin = make_user("admin", "admin")
    close = f"{frozen.now().year + 1}-01-15"
    ids = [suite.api.post("/v1/registrations", _data(n, a, close=close), rita).json()["id"]
           for n, a in (("甲公司", "100.00"), ("乙公司", "250.50"), ("丙公司", "70.00"))]
    from chalicelib.store import directory

    secret, _ = directory.create_partner("acme", "Acme", now=frozen.now(), team_id="channel")
    partner = "acme"
    answer = post_webhook(suite.api, partner, secret, {"type": "opportunity.registered", "timestamp":
                          frozen.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "data": _data("丁公司", "10.00", close=close)},
                          ts=int(frozen.now().timestamp()))  # signed at the frozen time, which the check reads
    assert answer.status == 202, answer.body
    suite.runner.pump()
    frozen.advance(days=2)
    for reg_id in ids[:2]:
        assert suite.api.post(f"/v1/registrations/{reg_id}/approve", {}, boss).status == 200
    assert suite.api.post(f"/v1/registrations/{answer.json()['id']}/approve", {}, admin).status == 200
    assert suite.api.post(f"/v1/registrations/{ids[2]}/reject", {"reason": "not eligible"}, boss).status == 200
    suite.runner.pump()
    frozen.advance(days=4)
    assert suite.api.post(f"/v1/registrations/{ids[0]}/stage", {"stage": "negotiation"}, rita).status == 200
    suite.runner.pump()
    frozen.advance(days=10)
    won = suite.api.post(f"/v1/registrations/{ids[0]}/won", {"amount": {"amount": "100.00", "currency": "CNY"}}, rita)
    assert won.status == 200, won.body
    suite.runner.pump()
    return {"boss": boss, "rita": rita, "admin": admin, "ids": ids, "partner_reg": answer.json()["id"], "clock": frozen}


def test_cockpit_figures_follow_the_registrations(suite, history):
    answer = suite.api.get("/v1/pipeline/cockpit?weeks=4", history["admin"])
    assert answer.status == 200, answer.body
    c = answer.json()
    assert sum(d["new"] for d in c["days"]) == 4 and sum(w["new"] for w in c["weeks"]) == 4
    conv = c["conversion"]
    assert (conv["submitted"], conv["approved"], conv["won"], conv["lost"]) == (4, 3, 1, 0)
    assert float(conv["approval_rate"]) == 0.75 and float(conv["win_rate"]) == 1.0
    stages = {s["stage"]: s for s in c["stages"]}
    assert stages["review"]["stays"] == 4 and float(stages["review"]["avg_days"]) == 2.0
    assert float(stages["review"]["p90_days"]) == 2  # bucket "<= 2 days"
    assert stages["proposal"]["stays"] == 1 and float(stages["proposal"]["avg_days"]) == 4.0
    assert stages["negotiation"]["stays"] == 1 and float(stages["negotiation"]["avg_days"]) == 10.0
    assert c["bottleneck"] == "negotiation" and stages["negotiation"]["name_zh"] == "谈判审核"
    # open approved: 乙公司 250.50 and 丁公司 10.00 at proposal (0.6), closing in January next year
    month = next(f for f in c["forecast"] if f["amounts"])
    assert month["month"].endswith("-01")
    assert [(m["currency"], float(m["amount"])) for m in month["amounts"]] == [("CNY", 260.5)]
    assert [(m["currency"], float(m["amount"])) for m in month["weighted"]] == [("CNY", 156.3)]
    assert [(p["partner_id"], p["submitted"], p["approved"]) for p in c["top_partners"]] == [("acme", 1, 1)]
    assert c["cells_read"] > 0


def test_a_close_without_a_stage_move_ends_that_stages_stay(suite, history):
    """乙公司 was approved at proposal and never moved: closing it as lost 3 days later is a proposal stay."""
    from chalicelib import clock
    from chalicelib.services.pipeline import recount

    history["clock"].advance(days=3)
    lost = suite.api.post(f"/v1/registrations/{history['ids'][1]}/lost", {"reason": "budget cut"}, history["rita"])
    assert lost.status == 200, lost.body
    suite.runner.pump()

    def proposal():
        body = suite.api.get("/v1/pipeline/cockpit?weeks=4", history["admin"]).json()
        return next(s for s in body["stages"] if s["stage"] == "proposal")

    streamed = proposal()
    # before: 1 stay (ids[0], 4 days); now also ids[1]: approved on day 2, closed on day 2+4+10+3
    assert streamed["stays"] == 2 and float(streamed["avg_days"]) == (4 + 17) / 2
    recount(now=clock.now())
    assert proposal() == streamed


def test_open_deals_past_their_expected_close_month_show_as_overdue(suite, history):
    """乙公司 and 丁公司 (260.50 CNY, closing next January) are still open in March: overdue, in API, page, CSV."""
    from tests.functional.console_client import ConsoleClient

    frozen = history["clock"]
    frozen.advance(days=(datetime(frozen.now().year + 1, 3, 10, tzinfo=UTC) - frozen.now()).days)
    c = suite.api.get("/v1/pipeline/cockpit?past_months=3&months=2", history["admin"]).json()
    assert [(f["month"][5:], f.get("overdue", False)) for f in c["forecast"]] == [
        ("12", True), ("01", True), ("02", True), ("03", False), ("04", False)]
    january = c["forecast"][1]
    assert [(m["currency"], float(m["amount"])) for m in january["amounts"]] == [("CNY", 260.5)]
    default = suite.api.get("/v1/pipeline/cockpit", history["admin"]).json()["forecast"]
    assert len(default) == 3 + 6 and default[1] == january  # the default shows 3 past months
    assert suite.api.get("/v1/pipeline/cockpit?past_months=25", history["admin"]).json()["errors"] == [
        {"loc": "query.past_months", "type": "less_than_equal"}]
    console = ConsoleClient(suite.api.base)
    console.login(history["boss"])
    _, _, page = console.get("/console/cockpit")
    row = re.search(rf'<tr data-month="{january["month"]}" data-overdue="(\w+)"[^>]*>.*?data-k="amount-CNY">([^<]*)<',
                    page, re.S)
    assert row and row.groups() == ("yes", "260.5")
    _, _, text = console.get("/console/cockpit.csv")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert ["forecast", january["month"], "overdue", "yes"] in rows
    assert ["forecast", january["month"], "amounts CNY", "260.5"] in rows


def test_cockpit_access_and_bad_input(suite, history):
    api = suite.api
    assert api.get("/v1/pipeline/cockpit", history["boss"]).status == 200  # their one team
    assert api.get("/v1/pipeline/cockpit", history["rita"]).status == 403
    olga = make_user("olga", "manager", "other")
    assert api.get("/v1/pipeline/cockpit?team=channel", olga).status == 403
    bad = api.get("/v1/pipeline/cockpit?weeks=0", history["admin"])
    assert bad.status == 422 and bad.json()["errors"] == [{"loc": "query.weeks", "type": "greater_than_equal"}]
    assert api.get("/v1/pipeline/cockpit?weeks=x", history["admin"]).json()["errors"][0]["type"] == "int_parsing"
    assert api.get("/v1/pipeline/cockpit?months=25", history["admin"]).status == 422
    assert api.get("/v1/pipeline/cockpit").status == 401


def test_a_redelivery_counts_once_and_the_recount_rebuilds_the_same_cockpit(suite, history):
    from chalicelib.clock import now
    from chalicelib.services.pipeline import recount
    from chalicelib.store.models import AggregateItem

    def figures():
        body = suite.api.get("/v1/pipeline/cockpit", history["admin"]).json()
        body.pop("cells_read")
        return body

    before = figures()
    for item in list(AggregateItem.query("cockpit#all")):  # lose the all-teams cockpit
        item.delete()
    AggregateItem("cockpit#all", "dwell#review#99", count=5, cents=1).save()  # and a stray cell
    assert figures() != before
    assert recount(now=now()) == 4
    assert figures() == before
    assert not list(AggregateItem.query("cockpit#all", AggregateItem.sk == "dwell#review#99"))


def test_console_cockpit_page_and_csv_show_the_api_numbers(suite, history):
    from tests.functional.console_client import ConsoleClient

    api = suite.api.get("/v1/pipeline/cockpit", history["boss"]).json()
    c = ConsoleClient(suite.api.base)
    c.login(history["boss"])
    status, headers, page = c.get("/console/cockpit")
    assert status == 200 and "<svg" in page and "<script" not in page
    assert "script-src" not in headers["content-security-policy"] and "default-src 'none'" in \
        headers["content-security-policy"]
    kpi = dict(re.findall(r'data-kpi="(\w+)"[^>]*>([^<]*)<', page))
    assert kpi["submitted"] == str(api["conversion"]["submitted"]) == "4"
    assert kpi["approval_rate"] == "75.0%" and kpi["bottleneck"] == "Negotiation"
    stays = dict(re.findall(r'<tr data-stage="(\w+)"[^>]*>\s*<th scope="row">[^<]*</th><td data-k="stays">(\d+)<', page))
    assert stays == {s["stage"]: str(s["stays"]) for s in api["stages"]}
    status, headers, text = c.get("/console/cockpit.csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["section", "key", "measure", "value"]
    conv = {r[2]: r[3] for r in rows if r[0] == "conversion"}
    assert conv["submitted"] == "4" and conv["won"] == "1"
    assert ["bottleneck", "negotiation", "stage", "negotiation"] in rows
    rep = ConsoleClient(suite.api.base)
    rep.login(history["rita"])
    assert rep.get("/console/cockpit")[0] == 403 and rep.get("/console/cockpit.csv")[0] == 403
