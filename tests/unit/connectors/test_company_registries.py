"""Registry connectors against local servers that answer in each provider's recorded format.

For GLEIF, Companies House and 企查查: found, not found, many results, 429 with Retry-After, 500,
timeout and a malformed body. Plus what each request looks like on the wire (paths, auth headers) and
the status mapping of each provider.
"""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from connectors.base import FetchRequest, split_parsed
from connectors.cn_enterprise.connector import QccConnector
from connectors.cn_enterprise.mapping import cn_status
from connectors.companies_house.connector import CompaniesHouseConnector
from connectors.errors import PermanentError, RetryableError
from connectors.gleif.connector import GleifConnector, gleif_status
from connectors.http import HttpClient
from schemas.company import CompanyStatus
from tests.contract.harness import LocalServer, Reply

SOURCES = Path(__file__).resolve().parents[2] / "fixtures" / "sources"

# provider -> (connector, config pointing at the server, id look-up, found fixture, many-results fixture,
#              name expected from the found fixture, number of results in the many fixture)
CASES = {
    "gleif": (GleifConnector, {}, "984500DEA1E9F1X7A272", "lei_record_issued.json", "search_page.json",
              "NORTHWIND HARBOUR TRADING", 2),
    "companies_house": (CompaniesHouseConnector, {"api_key": "ch-test-key"}, "09876543", "company_profile.json",
                        "search_companies.json", "HARBOURSIDE ROBOTICS LTD", 2),
    "qcc": (QccConnector, {"app_key": "qcc-app", "secret_key": "qcc-secret"}, "91440300MA5F3K7PX1",
            "verify_revoked.json", "fuzzy_search.json", "深圳市示例电子科技有限公司", 2),
}


def _fixture(provider: str, name: str) -> bytes:
    return (SOURCES / provider / name).read_bytes()


def _connector(provider: str, server: LocalServer, read_timeout: float = 5.0):
    cls, secrets, *_ = CASES[provider]
    return cls({"base_url": server.base_url + "/api/", **secrets}, HttpClient(read_timeout=read_timeout))


def _records(connector, request: FetchRequest):
    records, rejected = split_parsed(item for raw in connector.fetch(request) for item in connector.parse(raw))
    return records, rejected


@pytest.fixture()
def server():
    with LocalServer() as srv:
        yield srv


@pytest.mark.parametrize("provider", sorted(CASES))
def test_found_by_id(provider: str, server: LocalServer) -> None:
    _, _, ident, found, _, name, _ = CASES[provider]
    server.responder = lambda seen: Reply(200, _fixture(provider, found), {"Content-Type": "application/json"})
    records, rejected = _records(_connector(provider, server), FetchRequest(identifier=ident))
    assert [r.name for r in records] == [name] and not rejected
    assert records[0].source == provider


@pytest.mark.parametrize("provider", sorted(CASES))
def test_not_found_is_an_answer(provider: str, server: LocalServer) -> None:
    _, _, ident, *_ = CASES[provider]
    if provider == "qcc":
        # QCC answers HTTP 200 with its own "no result" code.
        server.responder = lambda seen: Reply(200, _fixture("qcc", "verify_not_found.json"))
    else:
        server.responder = lambda seen: Reply(404, b'{"errors":[{"status":"404","title":"Not Found"}]}')
    assert _records(_connector(provider, server), FetchRequest(identifier=ident)) == ([], [])


@pytest.mark.parametrize("provider", sorted(CASES))
def test_name_search_returns_ranked_results(provider: str, server: LocalServer) -> None:
    _, _, _, _, many, _, count = CASES[provider]
    server.responder = lambda seen: Reply(200, _fixture(provider, many))
    records, rejected = _records(_connector(provider, server), FetchRequest(name="Renable Pharma & Co"))
    assert len(records) == count and not rejected
    # the name travels percent-encoded in the provider's search parameter
    assert "Renable%20Pharma%20%26%20Co" in server.seen[-1].path


@pytest.mark.parametrize("provider", sorted(CASES))
def test_429_is_retryable_and_keeps_retry_after(provider: str, server: LocalServer) -> None:
    _, _, ident, *_ = CASES[provider]
    server.responder = lambda seen: Reply(429, b"slow down", {"Retry-After": "42"})
    with pytest.raises(RetryableError) as err:
        _records(_connector(provider, server), FetchRequest(identifier=ident))
    assert err.value.retry_after == 42.0 and err.value.reason == "rate_limited"


@pytest.mark.parametrize("provider", sorted(CASES))
def test_500_is_retryable(provider: str, server: LocalServer) -> None:
    _, _, ident, *_ = CASES[provider]
    server.responder = lambda seen: Reply(500, b"<html>oops</html>")
    with pytest.raises(RetryableError) as err:
        _records(_connector(provider, server), FetchRequest(identifier=ident))
    assert err.value.status == 500


@pytest.mark.parametrize("provider", sorted(CASES))
def test_timeout_is_retryable(provider: str, server: LocalServer) -> None:
    _, _, ident, found, *_ = CASES[provider]
    server.responder = lambda seen: Reply(200, _fixture(provider, found), wait=3.0)
    with pytest.raises(RetryableError) as err:
        _records(_connector(provider, server, read_timeout=0.3), FetchRequest(identifier=ident))
    assert err.value.reason == "timeout"


@pytest.mark.parametrize("provider", sorted(CASES))
def test_malformed_body_is_a_rejection_not_a_crash(provider: str, server: LocalServer) -> None:
    _, _, ident, *_ = CASES[provider]
    server.responder = lambda seen: Reply(200, b"<html><body>Gateway says hi</body></html>")
    records, rejected = _records(_connector(provider, server), FetchRequest(identifier=ident))
    assert records == []
    assert [e.errors for e in rejected] == [[{"loc": "body", "type": "json_invalid"}]]


def test_gleif_requests_lei_record_path(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(200, _fixture("gleif", "lei_record_issued.json"))
    _records(_connector("gleif", server), FetchRequest(identifier="984500DEA1E9F1X7A272"))
    assert server.seen[-1].path == "/api/lei-records/984500DEA1E9F1X7A272"
    assert server.seen[-1].headers["accept"] == "application/vnd.api+json"


def test_companies_house_sends_the_key_as_basic_user(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(200, _fixture("companies_house", "company_profile.json"))
    _records(_connector("companies_house", server), FetchRequest(identifier="09876543"))
    seen = server.seen[-1]
    assert seen.path == "/api/company/09876543"
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"ch-test-key:").decode()


def test_qcc_signs_each_request_per_its_docs(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(200, _fixture("qcc", "verify_revoked.json"))
    _records(_connector("qcc", server), FetchRequest(identifier="91440300MA5F3K7PX1"))
    seen = server.seen[-1]
    assert seen.path == "/api/EnterpriseInfo/Verify?searchKey=91440300MA5F3K7PX1&key=qcc-app"
    expected = hashlib.md5(("qcc-app" + seen.headers["timespan"] + "qcc-secret").encode()).hexdigest().upper()
    assert seen.headers["token"] == expected


def test_qcc_error_code_in_body_is_permanent(server: LocalServer) -> None:
    body = json.dumps({"Status": "101", "Message": "KEY无效"}, ensure_ascii=False).encode()
    server.responder = lambda seen: Reply(200, body)
    with pytest.raises(PermanentError) as err:
        _records(_connector("qcc", server), FetchRequest(identifier="91440300MA5F3K7PX1"))
    assert err.value.reason == "provider_status"


def test_qcc_verify_answer_maps_every_field() -> None:
    connector = QccConnector(QccConnector.example_config, HttpClient())
    raw = connector.raw_from_fixture(_fixture("qcc", "verify_found.json"), name="verify_found.json")
    (company,), _ = split_parsed(connector.parse(raw))
    assert company.model_dump(mode="json", exclude_none=True) == {
        "source": "qcc", "source_id": "dea1e9f0c0ffee00000000000000a1b2", "name": "杭州示例云数据科技有限公司",
        "registry_ids": [{"scheme": "uscc", "value": "91330106MA2DEA1E7F"}],
        "status": "active", "status_text": "存续（在营、开业、在册）", "legal_representative": "王示例",
        "registered_capital": "5000万元", "industry": "软件和信息技术服务业", "address": "浙江省杭州市西湖区示例路 88 号 5 幢",
        "country": "CN", "established_on": "2018-06-20",
    }


def test_revoked_fixture_keeps_a_validated_uscc() -> None:
    connector = QccConnector(QccConnector.example_config, HttpClient())
    raw = connector.raw_from_fixture(_fixture("qcc", "verify_revoked.json"), name="verify_revoked.json")
    (company,), _ = split_parsed(connector.parse(raw))
    assert [(r.scheme.value, r.value) for r in company.registry_ids] == [("uscc", "91440300MA5F3K7PX1")]
    assert company.status is CompanyStatus.REVOKED and company.needs_review


def test_gleif_lapsed_record_needs_review() -> None:
    connector = GleifConnector(GleifConnector.example_config, HttpClient())
    raw = connector.raw_from_fixture(_fixture("gleif", "lei_record_lapsed.json"), name="lapsed")
    (company,), _ = split_parsed(connector.parse(raw))
    assert company.status is CompanyStatus.LAPSED and company.needs_review
    assert company.country == "IE" and company.status_text == "registration LAPSED, entity ACTIVE"


@pytest.mark.parametrize(("text", "status"), [
    ("存续（在营、开业、在册）", CompanyStatus.ACTIVE),
    ("存续", CompanyStatus.ACTIVE),
    ("在业", CompanyStatus.ACTIVE),
    ("个体转企业", CompanyStatus.UNKNOWN),
    ("注销", CompanyStatus.DISSOLVED),
    ("吊销，未注销", CompanyStatus.REVOKED),
    ("吊销，已注销", CompanyStatus.DISSOLVED),
    ("撤销", CompanyStatus.DISSOLVED),
    ("迁出", CompanyStatus.INACTIVE),
    ("清算", CompanyStatus.INACTIVE),
    ("", CompanyStatus.UNKNOWN),
    (None, CompanyStatus.UNKNOWN),
])
def test_chinese_status_words(text, status) -> None:
    assert cn_status(text) is status


@pytest.mark.parametrize(("registration", "entity", "status"), [
    ("ISSUED", "ACTIVE", CompanyStatus.ACTIVE),
    ("LAPSED", "ACTIVE", CompanyStatus.LAPSED),
    ("RETIRED", "INACTIVE", CompanyStatus.RETIRED),
    ("ISSUED", "INACTIVE", CompanyStatus.INACTIVE),
    ("ANNULLED", "ACTIVE", CompanyStatus.INACTIVE),
    ("PENDING_TRANSFER", "ACTIVE", CompanyStatus.ACTIVE),
    (None, None, CompanyStatus.UNKNOWN),
])
def test_gleif_status(registration, entity, status) -> None:
    assert gleif_status(registration, entity) is status


@pytest.mark.parametrize(("status", "expected"), [
    ("active", CompanyStatus.ACTIVE), ("dissolved", CompanyStatus.DISSOLVED),
    ("liquidation", CompanyStatus.INACTIVE), ("converted-closed", CompanyStatus.DISSOLVED),
    ("something-new", CompanyStatus.UNKNOWN),
])
def test_companies_house_status(status: str, expected: CompanyStatus) -> None:
    doc = json.loads(_fixture("companies_house", "company_profile.json"))
    doc["company_status"] = status
    connector = CompaniesHouseConnector(CompaniesHouseConnector.example_config, HttpClient())
    (company,), _ = split_parsed(connector.parse(connector.raw_from_fixture(json.dumps(doc).encode(), name="x")))
    assert company.status is expected and company.status_text == status


def test_a_record_without_a_name_is_rejected_with_its_location_only() -> None:
    doc = json.loads(_fixture("companies_house", "search_companies.json"))
    del doc["items"][1]["title"]
    connector = CompaniesHouseConnector(CompaniesHouseConnector.example_config, HttpClient())
    records, rejected = split_parsed(connector.parse(connector.raw_from_fixture(json.dumps(doc).encode(), name="x")))
    assert [r.source_id for r in records] == ["09876543"]
    assert rejected[0].source_id == "SC000123"
    assert rejected[0].errors == [{"loc": "items.1.name", "type": "string_too_short"}]
