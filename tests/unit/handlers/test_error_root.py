"""One error root (issue 17 item 6): every refusal is a DealregError and ``http.api`` alone maps it to HTTP."""
from __future__ import annotations

import json

import pytest

from chalicelib import http
from chalicelib.domain import access, ownership, pipeline, workflow
from chalicelib.domain.errors import DealregError, NotFoundError, PendingCapError
from schemas.common import PrincipalKind
from schemas.registration import RegistrationStatus as S


def _answer(exc: Exception, caller=None):
    @http.api()
    def route():
        if caller is not None:
            http._CALLER.set(caller)  # what bearer_principal records for the request
        raise exc

    response = route()
    return response.status_code, json.loads(response.body), response.headers


@pytest.mark.parametrize("cls", [workflow.WorkflowError, workflow.IllegalTransitionError,
                                 workflow.ReasonRequiredError, ownership.OwnershipError,
                                 ownership.LimitExceededError, access.ListForbiddenError, pipeline.StageMoveError,
                                 http.HttpError, NotFoundError, PendingCapError])
def test_every_refusal_class_is_under_the_one_root(cls):
    assert issubclass(cls, DealregError)


def test_the_pending_cap_is_one_error_for_the_ownership_rule_and_the_store():
    from chalicelib.store import registrations

    assert ownership.PendingCapError is PendingCapError
    assert not hasattr(registrations, "PendingCapReached")
    err = PendingCapError(submitter="wang", cap=3)
    assert (err.status, err.code, err.cap) == (409, "pending_cap", 3) and "pending_cap = 3" in err.message


def test_the_edge_answers_a_domain_refusal_with_its_status_code_and_field_paths():
    status, body, _ = _answer(workflow.IllegalTransitionError(S.APPROVED, S.SUBMITTED))
    assert (status, body["code"]) == (409, "illegal_transition") and body["errors"] == []
    status, body, _ = _answer(workflow.ReasonRequiredError("a reason is required to move to rejected"))
    assert (status, body["code"], body["errors"]) == (422, "validation_failed",
                                                       [{"loc": "body.reason", "type": "missing"}])
    status, body, _ = _answer(access.ListForbiddenError("you do not manage this team"))
    assert (status, body) == (403, {"code": "forbidden", "message": "you do not manage this team", "errors": []})
    status, body, headers = _answer(http.HttpError(401, "unauthorized", "no key", headers={"WWW-Authenticate": "x"}))
    assert (status, body["code"], headers["WWW-Authenticate"]) == (401, "unauthorized", "x")


def test_an_ownership_refusal_is_worded_generically_for_a_partner_only():
    partner = access.Principal(kind=PrincipalKind.PARTNER, id="acme", role=access.Role.PARTNER)
    rep = access.Principal(kind=PrincipalKind.USER, id="wang", role=access.Role.REP)
    exc = ownership.CooldownError("wang released it at 09:00; user:li may claim it after 10:00")
    assert _answer(exc, partner)[1]["message"] == "you may not claim this registration yet"
    assert _answer(exc, rep)[1]["message"] == exc.message
    # a workflow refusal is not an ownership one: its text is the caller's own business, never redacted
    wf = workflow.IllegalTransitionError(S.APPROVED, S.SUBMITTED)
    assert _answer(wf, partner)[1]["message"] == str(wf)


def test_the_caller_of_one_request_never_words_the_next_ones_refusal():
    partner = access.Principal(kind=PrincipalKind.PARTNER, id="acme", role=access.Role.PARTNER)
    exc = ownership.CooldownError("wang released it")
    _answer(exc, partner)
    assert _answer(exc)[1]["message"] == "wang released it"


def test_no_handler_maps_refusals_itself():
    from pathlib import Path

    handlers = Path(http.__file__).parent / "handlers"
    for path in handlers.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "_refusal" not in text and 'getattr(exc, "status"' not in text, path.name
