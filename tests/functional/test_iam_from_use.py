"""IAM proven from use: the roles `make package` builds allow every call the functions make in these tests,
and a grant taken away is caught, naming the function, the action and the resource."""
from __future__ import annotations

from infra import iam, iam_check
from tests.functional.helpers import example, make_partner, post_webhook

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/{prefix}-{name}"


def _without(function: str, action: str, table: str) -> dict:
    """GRANTS with ``action`` on ``table`` taken away from ``function`` (other tables keep it)."""
    grants = dict(iam.GRANTS)
    out = []
    for g in grants[function]:
        if action in g.actions and table in g.tables:
            rest = tuple(t for t in g.tables if t != table)
            if rest:
                out.append(iam.Grant(g.actions, tables=rest, queues=g.queues, events_topic=g.events_topic,
                                     secrets=g.secrets, arns=g.arns))
            others = tuple(a for a in g.actions if a != action)
            if others:
                out.append(iam.Grant(others, tables=(table,)))
        else:
            out.append(g)
    grants[function] = tuple(out)
    return grants


def test_a_registration_is_allowed_end_to_end_and_a_missing_grant_is_named(suite):
    secret, _ = make_partner("acme")
    claims = TABLE.format(prefix=suite.prefix, name="claims")
    mark = iam_check.RECORDER.mark()
    # WHEN a partner registers and every event is delivered
    assert post_webhook(suite.api, "acme", secret, example()).status == 202
    suite.runner.pump()
    made = iam_check.RECORDER.since(mark)
    # THEN the API function checked the claims in one BatchGetItem (issue 14: denied before the fix)...
    assert any(r.function == "api_handler" and r.action == "dynamodb:BatchGetItem" and r.resource == claims
               for r in made)
    # ...which its role allows, like everything else the functions did
    real = iam_check.RoleChecker(suite.app, suite.prefix, "us-east-1")
    assert real.denied(made) == []
    # WHEN the grant is missing, the check names exactly that call
    broken = iam_check.RoleChecker(suite.app, suite.prefix, "us-east-1",
                                   grants=_without("api_handler", "dynamodb:BatchGetItem", "claims"))
    denied = broken.denied(made)
    assert {(r.function, r.action, r.resource) for r in denied} == {
        ("api_handler", "dynamodb:BatchGetItem", claims)}
    assert "api_handler: dynamodb:BatchGetItem on " + claims in iam_check.report(denied)


def test_the_api_function_writes_the_directory_only_as_the_admin_routes_need(suite):
    # Issue 18: the admin routes create and change directory items (conditional Put/Update in transactions);
    # nothing deletes or batch-writes the directory, and only partner signing secrets may be written.
    real = iam_check.RoleChecker(suite.app, suite.prefix, "us-east-1")
    directory = TABLE.format(prefix=suite.prefix, name="directory")
    for action in ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem"):
        req = iam_check.Request("api_handler", action, directory, action.split(":")[1], suite.prefix)
        assert real.denied([req]) == [req], action
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"):
        req = iam_check.Request("api_handler", action, directory, action.split(":")[1], suite.prefix)
        assert real.denied([req]) == [], action
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:{prefix}/{name}-AbCdEf"
    partner = iam_check.Request("api_handler", "secretsmanager:PutSecretValue",
                                arn.format(prefix=suite.prefix, name="partners/acme/webhook"), "PutSecretValue",
                                suite.prefix)
    assert real.denied([partner]) == []
    for name in ("console/session", "registries/qcc", "notify/bot"):
        other = iam_check.Request("api_handler", "secretsmanager:PutSecretValue", arn.format(prefix=suite.prefix,
                                  name=name), "PutSecretValue", suite.prefix)
        assert real.denied([other]) == [other], name
