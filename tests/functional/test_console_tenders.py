"""Console tender inbox, register-from-tender and the subscriptions editor (issue 18), over the API's routes."""
from __future__ import annotations

import re
from urllib.parse import quote

from tests.functional.helpers import make_user
from tests.functional.test_tender_register import _tender_id, demo  # noqa: F401  (the demo feeds fixture)


def test_rep_lists_tenders_registers_one_and_edits_subscriptions(suite, demo):  # noqa: F811
    from tests.functional.console_client import ConsoleClient

    rep = make_user("wang", "rep", team="east")
    c = ConsoleClient(suite.api.base, lang="zh-CN")
    c.login(rep)
    status, _, page = c.get("/console/tenders?q=" + quote("云平台"))
    assert status == 200
    listed = re.findall(r'<li class="card" data-id="([^"]+)">', page)
    cloud = _tender_id("示例市政务云平台扩容")
    assert cloud in listed and len(listed) == 2  # the two 云平台 notices
    status, _, page = c.get(f"/console/tenders/{cloud}")
    assert status == 200 and "据此报备" in page
    # no contact: the API's 422 is shown next to the contact field
    status, _, page = c.post(f"/console/tenders/{cloud}/register", {"csrf": c.csrf(page), "contact.name": ""})
    assert status == 422 and 'id="tr-contact.name-err"' in page
    status, headers, _ = c.post(f"/console/tenders/{cloud}/register",
                                {"csrf": c.csrf(page), "contact.name": "张伟", "contact.role": "decision_maker"})
    assert status == 303 and "/console/registrations/reg_" in headers["location"]
    reg_id = headers["location"].split("/console/registrations/")[1].split("?")[0]
    assert suite.api.get(f"/v1/registrations/{reg_id}", rep).json()["submitter"]["id"] == "wang"

    # subscriptions: an empty one is refused by the API (shown on the page), a real one is listed, then deleted
    status, _, page = c.get("/console/subscriptions")
    assert status == 200
    status, _, page = c.post("/console/subscriptions", {"csrf": c.csrf(page), "name": "空"})
    assert status == 422 and 'role="alert"' in page
    status, headers, _ = c.post("/console/subscriptions", {"csrf": c.csrf(page), "name": "云",
                                                           "keywords.include": "云平台，数据中台", "regions": "广东",
                                                           "delivery": "daily_digest"})
    assert status == 303, _
    subs = suite.api.get("/v1/subscriptions", rep).json()["items"]
    assert [(s["name"], s["keywords"]["include"], s["regions"], s["delivery"]) for s in subs] == [
        ("云", ["云平台", "数据中台"], ["广东"], "daily_digest")]
    page = c.get("/console/subscriptions")[2]
    assert f'data-id="{subs[0]["id"]}"' in page
    status, _, _ = c.post(f"/console/subscriptions/{subs[0]['id']}/delete", {"csrf": c.csrf(page)})
    assert status == 303 and suite.api.get("/v1/subscriptions", rep).json()["items"] == []
    # without the CSRF token nothing is created
    assert c.post("/console/subscriptions", {"name": "x", "keywords.include": "云"})[0] == 403
    assert suite.api.get("/v1/subscriptions", rep).json()["items"] == []
