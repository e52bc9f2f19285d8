"""A TransactWriteItems that times out after DynamoDB committed it, then retried by botocore (issue 15 item 3).

The stub below stands where the network is: it delivers the first attempt to the AWS stand-in (so the
writes commit) and then raises botocore's read timeout, as when the answer is lost on the way back; botocore
retries the identical request, with the same ClientRequestToken (ours, derived from the registration id; botocore
would otherwise fill in a random one, also kept across its retries). DynamoDB answers such a retry with the
first call's success; moto ignored the token and ran the retry again, so every condition failed on the call's
own writes (the 500s and 409s under local load) — ``infra.local.stack._honour_client_request_tokens`` makes the
stand-in behave as DynamoDB.
"""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from tests.functional.helpers import example, make_partner, post_webhook


class LostAnswer:
    """On the first TransactWriteItems: deliver it, then raise a read timeout. Records every attempt."""

    def __init__(self) -> None:
        self.http = URLLib3Session()
        self.attempts: list[tuple[str | None, int]] = []  # (ClientRequestToken, HTTP status)
        self.armed = False

    def __call__(self, request, **_):
        body = json.loads(request.body)
        response = self.http.send(request)
        self.attempts.append((body.get("ClientRequestToken"), response.status_code))
        if self.armed:
            self.armed = False
            raise ReadTimeoutError(endpoint_url=request.url)
        return response


@pytest.fixture
def lost_answer(suite):
    from chalicelib.store import models

    stub = LostAnswer()
    events = models.connection().client.meta.events  # the one DynamoDB client every model shares
    events.register("before-send.dynamodb.TransactWriteItems", stub, unique_id="lost-answer")
    yield stub
    events.unregister("before-send.dynamodb.TransactWriteItems", unique_id="lost-answer")


def test_a_retried_registration_is_answered_once_and_stored_once(suite, lost_answer):
    from chalicelib.store.models import RegistrationItem

    secret, _ = make_partner()
    lost_answer.attempts.clear()  # creating the partner is a transaction too (issue 18: object + key + audit)
    lost_answer.armed = True
    r = post_webhook(suite.api, "acme", secret, example(external_ref="CRM-RETRY-1"))
    assert r.status == 202, r.body
    from chalicelib.store.registrations import request_token

    (token, first), (retry_token, retried) = lost_answer.attempts
    assert token == retry_token == request_token("create", r.json()["id"], 0) and first == 200
    assert retried == 200  # DynamoDB treated the retry as the same call: nothing ran twice
    stored = list(RegistrationItem.scan())
    assert [i.id for i in stored] == [r.json()["id"]] and stored[0].first_claim


def test_a_retried_withdrawal_answers_200_not_a_lost_race(suite, lost_answer):
    secret, key = make_partner()
    reg_id = post_webhook(suite.api, "acme", secret, example()).json()["id"]
    suite.runner.pump()
    assert suite.api.get(f"/v1/registrations/{reg_id}", key).json()["status"] == "pending_review"
    lost_answer.attempts.clear()
    lost_answer.armed = True
    # pending_review -> withdrawn moves the partner's pending counter: one transaction
    r = suite.api.post(f"/v1/registrations/{reg_id}/withdraw", {"reason": "customer postponed"}, key)
    assert r.status == 200, r.body
    assert r.json()["status"] == "withdrawn"
    (token, _), (retry_token, retried) = lost_answer.attempts
    assert token and retry_token == token and retried == 200


def test_one_token_per_write():
    from chalicelib.store.registrations import request_token

    assert request_token("create", "reg_1", 0) == request_token("create", "reg_1", 0)
    assert len({request_token("create", "reg_1", 0), request_token("create", "reg_1", 1),
                request_token("create", "reg_2", 0)}) == 3
    assert len(request_token("create", "reg_1", 0)) <= 36
