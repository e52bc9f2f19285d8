"""Query parameters as models (issue 17 item 7): ``parse_query`` reads them with field paths, and the OpenAPI
documents every field of the route's model."""
from __future__ import annotations

import pytest

from chalicelib import http


def test_parse_query_coerces_defaults_and_refuses_with_field_paths():
    from schemas.tender import TenderQuery

    q = http.parse_query(TenderQuery, {"days": "3", "q": "场地", "unknown": "x"})
    assert (q.days, q.limit, q.q, q.status) == (3, 50, "场地", None)
    with pytest.raises(http.HttpError) as refused:
        http.parse_query(TenderQuery, {"days": "99", "limit": "x"})
    err = refused.value
    assert err.status == 422 and err.message == "the query failed validation"
    assert {(e["loc"], e["type"]) for e in err.errors} == {("query.days", "less_than_equal"),
                                                           ("query.limit", "int_parsing")}


def test_the_openapi_documents_the_query_models_of_tenders_and_the_dev_inbox():
    import app
    from infra.openapi import openapi

    doc = openapi(app.app)
    tenders = {p["name"]: p for p in doc["paths"]["/v1/tenders"]["get"]["parameters"] if p["in"] == "query"}
    assert set(tenders) == {"days", "status", "source", "q", "limit"}
    assert tenders["days"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 31, "default": 7}
    assert tenders["q"]["schema"] == {"type": "string", "maxLength": 200} and not tenders["q"]["required"]
    inbox = [p for p in doc["paths"]["/v1/dev/inbox"]["get"]["parameters"] if p["in"] == "query"]
    assert [p["name"] for p in inbox] == ["limit"]


def test_the_registration_list_is_documented_from_its_model_not_a_special_case():
    from pathlib import Path

    import app
    from infra import openapi as oa
    from schemas.registration import RegistrationStatus

    params = {p["name"]: p for p in oa.openapi(app.app)["paths"]["/v1/registrations"]["get"]["parameters"]}
    assert set(params) == {"status", "owner", "team", "cursor", "limit", "sort", "min_score"}  # scoring in lists
    assert params["status"]["schema"] == {"type": "string", "enum": [s.value for s in RegistrationStatus]}
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 25}
    source = Path(oa.__file__).read_text(encoding="utf-8")
    assert 'if path == "/v1/registrations" and method == "GET"' not in source
    assert 'if path == "/v1/companies/lookup"' not in source
    # "exactly one of id, name" is a rule across parameters: one form-exploded object carries it (and the fields)
    [lookup] = [p for p in oa.openapi(app.app)["paths"]["/v1/companies/lookup"]["get"]["parameters"]
                if p["in"] == "query"]
    assert (lookup["name"], lookup["style"], lookup["explode"]) == ("CompanyLookupQuery", "form", True)
    assert set(lookup["schema"]["properties"]) == {"id", "name", "country"} and "oneOf" in lookup["schema"]


def test_an_unknown_status_is_refused_with_its_field_path():
    from schemas.registration import RegistrationListQuery

    with pytest.raises(http.HttpError) as refused:
        http.parse_query(RegistrationListQuery, {"status": "bogus"})
    assert [(e["loc"], e["type"]) for e in refused.value.errors] == [("query.status", "enum")]


def test_the_headers_a_route_reads_are_documented_where_it_declares_them():
    import app
    from infra import openapi as oa

    doc = oa.openapi(app.app)
    patch = {p["name"]: p for p in doc["paths"]["/v1/registrations/{reg_id}"]["patch"]["parameters"]}
    assert patch["If-Match"]["in"] == "header" and not patch["If-Match"]["required"]
    post = {p["name"]: p for p in doc["paths"]["/v1/registrations"]["post"]["parameters"]}
    assert post["Idempotency-Key"]["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}  # blank: 400


def test_the_pool_documents_its_filters_from_its_model_not_a_special_case():
    from pathlib import Path

    import app
    from infra import openapi as oa

    params = {p["name"]: p for p in oa.openapi(app.app)["paths"]["/v1/pool"]["get"]["parameters"]
              if p["in"] == "query"}
    assert set(params) == {"region", "industry", "min_amount", "max_amount", "currency", "since", "team",
                           "cursor", "limit", "sort", "min_score"}
    assert params["since"]["schema"] == {"type": "string", "format": "date-time"}
    assert params["min_score"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 100}
    assert params["region"]["description"]
    assert 'if path == "/v1/pool"' not in Path(oa.__file__).read_text(encoding="utf-8")


def test_a_bad_pool_filter_is_refused_with_its_field_paths():
    from schemas.registration import PoolQuery

    with pytest.raises(http.HttpError) as refused:
        http.parse_query(PoolQuery, {"min_amount": "abc", "since": "yesterday", "limit": "0"})
    assert sorted(e["loc"] for e in refused.value.errors) == ["query.limit", "query.min_amount", "query.since"]
    q = http.parse_query(PoolQuery, {"min_amount": "100.50", "since": "2026-01-01T08:00:00+08:00"})
    assert (str(q.min_amount), q.since.utcoffset().total_seconds(), q.limit, q.sort) == ("100.50", 8 * 3600, 25,
                                                                                       "newest")


def test_a_pool_since_without_a_zone_is_utc():
    from datetime import UTC, datetime

    from chalicelib.handlers.pool import _filter
    from schemas.registration import PoolQuery

    flt = _filter(http.parse_query(PoolQuery, {"since": "2026-03-01T10:00:00", "region": "广东"}))
    assert (flt.since, flt.region) == (datetime(2026, 3, 1, 10, tzinfo=UTC), "广东")
