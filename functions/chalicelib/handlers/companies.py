"""Company look-up for pre-check screens: ``GET /v1/companies/lookup?id=…`` or ``?name=…``.

Trigger: HTTP (bearer API key, any role). Side effects: registry answers are cached (registry_cache).
Answers: 200 ``CompanyLookupResponse`` (``found`` false when no registry has it, or no name match
clears the threshold); 422 for a missing/ambiguous query or an invalid id (with ``reason``); 503 +
``Retry-After`` when a registry is unavailable; 502 when a registry refuses the request.
"""
from __future__ import annotations

import math

from chalice import Blueprint

from chalicelib.http import HttpError, api, bearer_principal, json_response, parse_query

bp = Blueprint(__name__)


@bp.route("/v1/companies/lookup", methods=["GET"])
@api(responses={200: "CompanyLookupResponse"}, query="schemas.company:CompanyLookupQuery",
     summary="Look a company up in the business registries by id (USCC, LEI, UK company number) or name")
def lookup_company():
    from chalicelib import clock
    from chalicelib.domain.enrichment import detect_scheme
    from chalicelib.services import registry_lookup
    from connectors.errors import PermanentError, RetryableError
    from schemas.company import CompanyLookupQuery, CompanyLookupResponse
    from schemas.identifiers import InvalidIdentifierError

    bearer_principal(bp.current_request.headers)
    q = parse_query(CompanyLookupQuery, bp.current_request.query_params)
    ident, name = (q.id or "").strip(), (q.name or "").strip()
    if bool(ident) == bool(name):
        raise HttpError(422, "validation_failed", "give exactly one of id or name",
                        errors=[{"loc": "query", "type": "missing" if not (ident or name) else "extra_forbidden"}])
    now = clock.now()
    try:
        if ident:
            try:
                scheme, value = detect_scheme(ident)
            except InvalidIdentifierError as exc:
                raise HttpError(422, "validation_failed", "not a valid company identifier",
                                errors=[{"loc": "query.id", "type": "value_error", "reason": exc.reason}]) from None
            if scheme not in registry_lookup.supported_schemes():
                raise HttpError(422, "validation_failed", f"no enabled registry looks up {scheme} identifiers",
                                errors=[{"loc": "query.id", "type": "unsupported_scheme"}])
            result = registry_lookup.lookup_id(scheme, value, now=now)
            query = f"{scheme}:{value}"
        else:
            result = registry_lookup.search_name(name, now=now, country=q.country)
            query = name
    except RetryableError as exc:
        wait = str(max(1, math.ceil(exc.retry_after or 5)))
        raise HttpError(503, "registry_unavailable", "the registry is unavailable; retry later",
                        headers={"Retry-After": wait}) from None
    except PermanentError as exc:
        raise HttpError(502, "registry_error", f"the registry refused the request ({exc.reason})") from None
    return json_response(200, CompanyLookupResponse(
        query=query, found=result.company is not None, company=result.company, candidates=list(result.candidates),
        score=result.score, cached=result.cached, checked_at=now,
    ))
