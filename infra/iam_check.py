"""IAM proven from use: record the AWS calls each Lambda function makes and check them against its role.

The functional tests run every handler in-process (the Chalice local server for the API function, the local
event runner for the others). While a handler runs, :func:`acting_as` names the Lambda function it belongs
to; a botocore event hook on every client (:func:`install`) turns each call made meanwhile into the IAM
requests AWS would authorise — ``(action, resource ARN)`` pairs, e.g. one ``dynamodb:BatchGetItem`` per
table of a ``BatchGetItem`` and one item-level action per item of a ``TransactWriteItems`` — and keeps them.

:class:`RoleChecker` resolves the policies ``make package`` puts on each function's role (the merge
template from ``infra.package.merge_template``, i.e. ``infra.iam``) into concrete ARNs for the stand-in's
account and region, and says which recorded requests no statement allows. ``tests/conftest.py`` fails the
test that made a denied call, naming the function, the action and the resource.

Only identity policies with ``Allow`` statements, ``Action`` and ``Resource`` (as ``infra.iam`` writes them)
are evaluated; a ``Deny``, ``NotAction``, ``NotResource`` or ``Condition`` is refused rather than guessed.
"""
from __future__ import annotations

import contextvars
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

API_FUNCTION = "api_handler"  # Chalice's name for the function that serves every route
ACCOUNT = "123456789012"  # moto's default account: the ARNs the stand-in hands out
PARTITION = "aws"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("dealreg_lambda_function", default=None)


@contextmanager
def acting_as(function: str) -> Iterator[None]:
    """AWS calls made inside the block are made by Lambda function ``function`` (its Chalice name)."""
    token = _current.set(function)
    try:
        yield
    finally:
        _current.reset(token)


def current_function() -> str | None:
    return _current.get()


@dataclass(frozen=True)
class Request:
    """One IAM authorisation request made by a function's code."""

    function: str
    action: str  # "dynamodb:BatchGetItem"
    resource: str  # concrete ARN
    operation: str  # the API call it came from ("BatchGetItem", "TransactWriteItems")
    prefix: str  # the stage's DEALREG_PREFIX when the call was made

    def describe(self) -> str:
        via = "" if self.action.endswith(":" + self.operation) else f" (in {self.operation})"
        return f"{self.function}: {self.action} on {self.resource}{via}"


# --- recording -------------------------------------------------------------------------------------------


class Recorder:
    """Every :class:`Request` made inside :func:`acting_as`, in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []

    def add(self, requests: Iterable[Request]) -> None:
        with self._lock:
            self._requests.extend(requests)

    def mark(self) -> int:
        with self._lock:
            return len(self._requests)

    def since(self, mark: int) -> list[Request]:
        with self._lock:
            return self._requests[mark:]

    def all(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def discard_since(self, mark: int) -> None:
        """Forget what was recorded after ``mark`` (a test of the recorder itself cleans up after it)."""
        with self._lock:
            del self._requests[mark:]


RECORDER = Recorder()
_installed = False


def install(recorder: Recorder = RECORDER) -> None:
    """Hook every botocore client created from now on (PynamoDB's and ``chalicelib.store.aws``'s)."""
    global _installed
    if _installed:
        return
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build", _hook(client, recorder))
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]

    # Lambda calls the API function as ``app(event, context)`` (so does Chalice's local server); event
    # handlers go through ``app.handler_map`` and the local runner names them itself.
    from chalice.app import Chalice

    call = Chalice.__call__

    def api_call(self: Any, event: Any, context: Any) -> Any:
        if _current.get() is not None:
            return call(self, event, context)
        with acting_as(API_FUNCTION):
            return call(self, event, context)

    Chalice.__call__ = api_call  # type: ignore[method-assign]
    _installed = True


def _hook(client: Any, recorder: Recorder) -> Any:
    def before_parameter_build(params: Mapping[str, Any], model: Any, **_: Any) -> None:
        function = _current.get()
        if function is None:  # test setup, the runner acting as the Lambda service, the CLI
            return
        from chalicelib import settings

        prefix = settings.get().prefix
        service = model.service_model.signing_name or model.service_model.endpoint_prefix
        region = client.meta.region_name
        recorder.add(Request(function, action, resource, model.name, prefix)
                     for action, resource in iam_requests(service, model.name, dict(params), region))

    return before_parameter_build


# --- API call -> IAM requests -------------------------------------------------------------------------------


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"


def _table(region: str, name: str, index: str | None = None) -> str:
    return _arn("dynamodb", region, f"table/{name}" + (f"/index/{index}" if index else ""))


_TRANSACT_ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                          "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
_SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def iam_requests(service: str, operation: str, params: Mapping[str, Any], region: str) -> list[tuple[str, str]]:
    """The ``(action, resource)`` pairs IAM authorises for one API call (the parts dealreg uses)."""
    if service == "dynamodb":
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", _table(region, t)) for t in params.get("RequestItems", {})]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            out = []
            for item in params.get("TransactItems", []):
                for kind, body in item.items():
                    out.append((f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}", _table(region, body["TableName"])))
            return list(dict.fromkeys(out))
        if "StreamArn" in params:
            return [(f"dynamodb:{operation}", params["StreamArn"])]
        if "TableName" in params:
            return [(f"dynamodb:{operation}", _table(region, params["TableName"], params.get("IndexName")))]
        return [(f"dynamodb:{operation}", "*")]
    if service == "sqs":
        action = "sqs:" + _SQS_BATCH.get(operation, operation)
        if "QueueUrl" in params:
            owner, name = params["QueueUrl"].rstrip("/").split("/")[-2:]
            return [(action, f"arn:{PARTITION}:sqs:{region}:{owner}:{name}")]
        if "QueueName" in params:
            return [(action, _arn("sqs", region, params["QueueName"]))]
        return [(action, "*")]
    if service == "sns":
        action = "sns:Publish" if operation == "PublishBatch" else f"sns:{operation}"
        target = params.get("TopicArn") or params.get("TargetArn")
        return [(action, target or "*")]
    if service == "secretsmanager":
        secret = params.get("SecretId") or params.get("Name")
        if secret is None:
            return [(f"secretsmanager:{operation}", "*")]
        # A secret's ARN ends in "-" and six random characters; grants must allow for them.
        arn = secret if secret.startswith("arn:") else _arn("secretsmanager", region, f"secret:{secret}-AbCdEf")
        return [(f"secretsmanager:{operation}", arn)]
    if service in ("ses", "email"):
        source = params.get("Source") or params.get("FromEmailAddress") or ""
        address = source.rsplit("<", 1)[-1].rstrip(">").strip()
        return [(f"ses:{operation}", _arn("ses", region, f"identity/{address}") if address else "*")]
    return [(f"{service}:{operation}", "*")]


# --- evaluating against the roles ----------------------------------------------------------------------------


class PolicyError(Exception):
    """A policy uses something this evaluator does not model."""


@dataclass(frozen=True)
class _Statement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def allows(self, action: str, resource: str) -> bool:
        return (any(fnmatchcase(action.lower(), a.lower()) for a in self.actions)
                and any(fnmatchcase(resource, r) for r in self.resources))


_SUB = re.compile(r"\$\{([^}]+)\}")


class _Resolver:
    """Intrinsic functions of the template's policy resources -> concrete ARNs in one region/account."""

    def __init__(self, resources: Mapping[str, Any], region: str, parameters: Mapping[str, str]) -> None:
        self.resources, self.region, self.parameters = resources, region, parameters

    def attribute(self, logical: str, attribute: str) -> str:
        res = self.resources[logical]
        props = res.get("Properties", {})
        kind = res.get("Type")
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return _table(self.region, props["TableName"])
        if kind == "AWS::DynamoDB::Table" and attribute == "StreamArn":
            return _table(self.region, props["TableName"]) + "/stream/*"
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return _arn("logs", self.region, f"log-group:{props['LogGroupName']}:*")
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return _arn("sqs", self.region, props["QueueName"])
        raise PolicyError(f"cannot resolve {logical}.{attribute} ({kind})")

    def ref(self, name: str) -> str:
        pseudo = {"AWS::Partition": PARTITION, "AWS::Region": self.region, "AWS::AccountId": ACCOUNT}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        res = self.resources.get(name)
        if res is not None and res.get("Type") == "AWS::SNS::Topic":
            return _arn("sns", self.region, res["Properties"]["TopicName"])
        raise PolicyError(f"cannot resolve Ref {name}")

    def resolve(self, node: Any) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and list(node) == ["Ref"]:
            return self.ref(node["Ref"])
        if isinstance(node, dict) and list(node) == ["Fn::GetAtt"]:
            logical, attribute = node["Fn::GetAtt"]
            return self.attribute(logical, attribute)
        if isinstance(node, dict) and list(node) == ["Fn::Sub"] and isinstance(node["Fn::Sub"], str):
            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                return self.attribute(*name.split(".", 1)) if "." in name else self.ref(name)
            return _SUB.sub(one, node["Fn::Sub"])
        raise PolicyError(f"cannot resolve {node!r}")


def role_statements(template_resources: Mapping[str, Any], role_logical_id: str, region: str,
                    parameters: Mapping[str, str] | None = None) -> list[_Statement]:
    """The resolved Allow statements of one role in a (merge) template."""
    resolver = _Resolver(template_resources, region, parameters or {})
    out = []
    for policy in template_resources[role_logical_id]["Properties"]["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            unknown = set(st) - {"Effect", "Action", "Resource", "Sid"}
            if st.get("Effect") != "Allow" or unknown:
                raise PolicyError(f"{role_logical_id}: statement {st} is not a plain Allow")
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            out.append(_Statement(tuple(actions), tuple(resolver.resolve(r) for r in resources)))
    return out


class RoleChecker:
    """Which requests each function's role (as ``make package`` builds it) would deny.

    Args:
        app: the imported Chalice app (its functions and event sources, as ``make package`` lists them), or
            its ``infra.package.AppShape``.
        prefix: the stage prefix the app was imported with.
        region: the stand-in's region.
        grants: ``infra.iam.GRANTS`` or a variant (tests of the checker drop a grant on purpose).
    """

    def __init__(self, app: Any, prefix: str, region: str, grants: Mapping[str, Any] | None = None) -> None:
        from infra import iam, package as pkg

        shape = app if isinstance(app, pkg.AppShape) else pkg.shape_of(app)
        saved = iam.GRANTS
        if grants is not None:
            iam.GRANTS = dict(grants)
        try:
            merged = pkg.merge_template(shape, prefix)["Resources"]
        finally:
            iam.GRANTS = saved
        self.prefix = prefix
        self.statements = {f: role_statements(merged, pkg.role_logical_id(f), region, pkg.DEFAULT_PARAMETERS)
                           for f in shape.functions}

    def denied(self, requests: Iterable[Request]) -> list[Request]:
        out = []
        for req in requests:
            if req.prefix != self.prefix:
                continue
            statements = self.statements.get(req.function)
            if statements is None or not any(s.allows(req.action, req.resource) for s in statements):
                out.append(req)
        return list(dict.fromkeys(out))


def report(denied: Iterable[Request]) -> str:
    """One line per denied request, grouped by function, saying what to grant in infra/iam.py."""
    lines = sorted({r.describe() for r in denied})
    return ("the Lambda role(s) from infra/iam.py would deny these AWS calls (AccessDenied on AWS); add the "
            "grant to GRANTS[<function>]:\n  " + "\n  ".join(lines))



def main(argv: list[str] | None = None) -> int:
    """``python -m infra.iam_check USAGE.jsonl``: check calls recorded by a test run (``DEALREG_IAM_USAGE``)
    against the current grants, and list granted pairs nobody used."""
    import argparse
    import json

    from infra import package as pkg

    parser = argparse.ArgumentParser(prog="python -m infra.iam_check")
    parser.add_argument("usage", help="JSON lines [function, action, resource, ...] from a test run")
    parser.add_argument("--prefix", default="dealreg-test")
    args = parser.parse_args(argv)
    with open(args.usage) as f:
        rows = [json.loads(line) for line in f]
    requests = list(dict.fromkeys(Request(r[0], r[1], r[2], r[1].split(":")[1], args.prefix) for r in rows))
    checker = RoleChecker(pkg.describe_app({"DEALREG_PREFIX": args.prefix}), args.prefix, "us-east-1")
    denied = checker.denied(requests)
    print(report(denied) if denied else f"all {len(requests)} distinct calls allowed")
    for function, statements in sorted(checker.statements.items()):
        pairs = [(a, r) for st in statements for a in st.actions for r in st.resources
                 if not a.startswith(("logs:", "xray:"))]
        unused = [(a, r) for a, r in pairs if not any(
            q.function == function and _Statement((a,), (r,)).allows(q.action, q.resource) for q in requests)]
        print(f"{function}: {len(pairs) - len(unused)}/{len(pairs)} granted pairs used"
              + "".join(f"\n    unused: {a} on {r}" for a, r in unused))
    return 1 if denied else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
