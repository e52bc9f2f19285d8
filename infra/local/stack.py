"""The local AWS stand-in: moto's server in this process, on loopback, one request at a time.

moto's backends are not safe under concurrent requests (conditional writes, ADD counters and
transactions can interleave), so a WSGI middleware holds one lock per request: each request then runs
alone, as DynamoDB's per-item atomicity promises. Code reaches the server only by endpoint URL, exactly
as it reaches AWS. Resources are created from ``infra.resources`` — the same definitions as the
deployment template — and the tables and secrets can be saved to and restored from a JSON snapshot.
"""
from __future__ import annotations

import functools
import io
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.resources import STREAM_DLQ, resources, table_gsis

logger = logging.getLogger("dealreg.local")

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
LOCAL_VISIBILITY_SECONDS = 5  # SQS redelivery after a failure; 360 s in AWS would stall a local session


class _SerialisedApp:
    """WSGI middleware: one request at a time through moto.

    ``after_write(operation, body)``, if set, is called inside the lock after each write request moto served
    (``infra.local.persist.Journal.record``: it reads what the write left before any other request runs).
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.after_write: Callable[[str, bytes], None] | None = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        from infra.local.persist import write_operation

        hook = self.after_write
        operation = write_operation(environ) if hook is not None else None
        body = b""
        if operation is not None:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
        with self._lock:
            # Materialise the body inside the lock: moto builds responses lazily in places.
            answer = list(self._app(environ, start_response))
            if operation is not None:
                hook(operation, body)  # type: ignore[misc]
            return answer


def _fix_cancelled_transaction_streams() -> None:
    """Make a cancelled TransactWriteItems leave the table's stream as DynamoDB does: untouched.

    moto (5.2.5) applies a transaction's operations one by one, appending stream records as it goes, and on
    a failed condition restores a deep copy of each table taken beforehand. Two faults follow: the records
    of the cancelled writes stay in the *old* stream shard (a phantom ``registration.submitted`` for a
    registration that was never stored), and the restored table has a *new* shard object, which readers
    holding shard iterators never see, so every later change goes unannounced. This wraps the method to
    drop the cancelled records and put the original shard back on the restored table. Idempotent.

    Raises:
        RuntimeError: moto is not the version this was written against (``_PATCHED_MOTO``): without the fix
            the stand-in would announce phantom changes and lose real ones, so it refuses to start.
    """
    import moto
    from moto.dynamodb.models import DynamoDBBackend

    if moto.__version__ != _PATCHED_MOTO:
        raise RuntimeError(f"moto {moto.__version__} is not {_PATCHED_MOTO}, the version whose cancelled-transaction "
                           "stream fault infra/local/stack.py patches: re-check the fault (tests/functional/"
                           "test_stand_in.py) and update _PATCHED_MOTO, or install the pinned moto")

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_dealreg_fixed", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        names = {next(iter(op.values())).get("TableName") for op in transact_items if op}
        shards = {name: (self.tables[name].stream_shard, len(self.tables[name].stream_shard.items))
                  for name in names if name in self.tables and self.tables[name].stream_shard is not None}
        try:
            return original(self, transact_items)
        except Exception:
            for name, (shard, count) in shards.items():
                table = self.tables.get(name)
                if table is None:
                    continue
                del shard.items[count:]
                shard.table = table
                table.stream_shard = shard
            raise

    transact_write_items._dealreg_fixed = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _honour_client_request_tokens() -> None:
    """Make TransactWriteItems idempotent per ``ClientRequestToken`` as DynamoDB is (moto 5.2.5 ignores it).

    A call repeating the token of a successful call of the last 10 minutes with the same parameters (an SDK
    retry after a timeout) answers success and writes nothing; with other parameters it fails with
    ``IdempotentParameterMismatchException``. Tokens live on the backend, so a moto reset forgets them.
    """
    import hashlib
    import time as _time

    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items
    if getattr(original, "_dealreg_tokens", False):
        return

    class IdempotentParameterMismatch(DynamodbException):
        def __init__(self) -> None:
            super().__init__("com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                             "The request uses the same client token as a previous, but non-identical request.")

    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        seen = self.dynamodb_backend.__dict__.setdefault("_dealreg_client_tokens", {})
        digest = hashlib.sha256(json.dumps(self.body["TransactItems"], sort_keys=True).encode()).hexdigest()
        now = _time.monotonic()
        hit = seen.get(token)
        if hit is not None and now - hit[1] < 600:
            if hit[0] != digest:
                raise IdempotentParameterMismatch()
            from moto.core.responses import ActionResult

            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        answer = original(self)  # raises when cancelled: only a success is remembered
        seen[token] = (digest, now)
        return answer

    transact_write_items._dealreg_tokens = True  # type: ignore[attr-defined]
    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]


_PATCHED_MOTO = "5.2.5"  # the version whose transact_write_items the patch below was written against


class _TableCopyShim:
    """Stands in for the ``copy`` module inside ``moto.dynamodb.models`` while a transaction runs: the
    backup ``copy.deepcopy(table)`` returns the live table instead of copying every item (see below)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.active = threading.local()

    def deepcopy(self, obj: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(self.active, "on", False) and isinstance(obj, Table):
            return obj
        return self._real.deepcopy(obj, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _item_slot(table: Any, op_type: str, op: dict) -> tuple[Any, Any]:
    """(hash, range) of the item one transaction operation touches, as moto keys its item store."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op["Item"] if op_type == "Put" else op["Key"]
    hash_key = DynamoType(attrs[table.hash_key_attr])
    range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def _snapshot_only_touched_items() -> bool:
    """Make a cancelled ``TransactWriteItems`` roll back only the items it touched.

    moto (5.2.5) backs up a transaction by deep-copying the *whole table* once per operation before it
    starts (a 99-item dedup transaction on a table of 100k postings copies it 99 times, under the
    stand-in's lock), then on a cancellation puts the copies back. Here the backup copy is the live table
    and a deep copy of each touched item (or "absent") is kept instead; a cancellation puts exactly those
    items back. Stream records of the cancelled writes are dropped by
    :func:`_fix_cancelled_transaction_streams`. Applied only to the moto version it was written for
    (returns False and leaves moto alone otherwise). Idempotent.
    """
    import copy

    import moto
    import moto.dynamodb.models as models

    if moto.__version__ != _PATCHED_MOTO:
        logger.warning("moto %s is not %s: transactions keep moto's whole-table backups (slow on big tables)",
                       moto.__version__, _PATCHED_MOTO)
        return False
    if getattr(models.DynamoDBBackend, "_dealreg_item_backups", False):  # on the class: other wraps may follow
        return True
    original = models.DynamoDBBackend.transact_write_items
    shim = models.copy if isinstance(models.copy, _TableCopyShim) else _TableCopyShim(copy)
    models.copy = shim  # type: ignore[attr-defined]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, deep copy of the item or None)
        seen: set[tuple[int, Any, Any]] = set()
        for entry in transact_items:
            if not entry:
                continue
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            try:
                hash_key, range_key = _item_slot(table, op_type, op)
            except (AttributeError, KeyError, TypeError):
                continue  # a malformed operation: moto refuses it before anything is written
            if (id(table), hash_key, range_key) in seen:
                continue  # moto refuses two operations on one item; the first backup is the true one
            seen.add((id(table), hash_key, range_key))
            backups.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        shim.active.on = True
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(backups):
                _restore_item(table, hash_key, range_key, item)
            raise
        finally:
            shim.active.on = False

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    models.DynamoDBBackend._dealreg_item_backups = True  # type: ignore[attr-defined]
    return True


def _restore_item(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Put ``item`` back in ``table``'s store as it was (``None``: absent), writing no stream record."""
    from infra.local import moto_index

    _put_back(table, hash_key, range_key, item)
    moto_index.item_restored(table, hash_key, range_key)


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    partition = table.items[hash_key]
    if item is None:
        partition.pop(range_key, None)
        if not partition:
            del table.items[hash_key]
    else:
        partition[range_key] = item


def _list_moto_modules_once() -> bool:
    """Make moto's request dispatcher list its own package directory once, not on every request.

    moto (5.2.5) answers each request by asking ``moto.backends.list_of_moto_modules()`` whether the host names
    a service, and that lists moto's package directory and stats each of its ~150 entries, every time (about
    7 % of the CPU of a small request, counted on both sides). The directory does not change while the
    process runs, so the answer is computed once. Only on the version it was checked against (returns False
    and leaves moto alone otherwise). Idempotent.
    """
    import moto
    import moto.backends as backends

    if moto.__version__ != _PATCHED_MOTO:
        return False
    if getattr(backends.list_of_moto_modules, "_dealreg_listed_once", False):
        return True
    names = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return names

    list_of_moto_modules._dealreg_listed_once = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]
    return True


class MotoServer:
    """moto in server mode on 127.0.0.1; ``port=0`` picks a free port."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from infra.local import moto_index, moto_sqs

        moto_index.install()  # index queries read their bucket, not the table (raises on another moto)
        moto_sqs.install()  # a receive does not count the whole queue per message (raises on another moto)
        _snapshot_only_touched_items()  # first: the stream fix below wraps it and runs around it
        _fix_cancelled_transaction_streams()
        _honour_client_request_tokens()
        _list_moto_modules_once()
        app = self.app = _SerialisedApp(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def backends(self, region: str) -> tuple[Any, Any]:
        """moto's DynamoDB and Secrets Manager backends this server serves (same process)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends
        from moto.secretsmanager.models import secretsmanager_backends

        return dynamodb_backends[DEFAULT_ACCOUNT_ID][region], secretsmanager_backends[DEFAULT_ACCOUNT_ID][region]

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        """Drop every resource (moto's reset API); used between tests."""
        import urllib.request

        # generous: a reset waits for the stand-in's lock like any request, which a loaded machine held > 5 s
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=120)


@functools.lru_cache(maxsize=64)
def _client(service: str, endpoint: str, region: str) -> Any:
    """A client of the stand-in, made once per (service, endpoint, region): a fresh botocore session loads
    the service and endpoint data again (~0.2 s CPU per client), which made every ``provision`` (run before
    each functional test) cost about a second. botocore clients are thread-safe."""
    import botocore.session

    session = botocore.session.Session()
    return session.create_client(service, region_name=region, endpoint_url=endpoint,
                                 aws_access_key_id="testing", aws_secret_access_key="testing")


class Provisioned(dict):
    """Physical ids of what :func:`provision` created: ``arn:<LogicalId>`` and ``url:<LogicalId>`` keys."""


def provision(endpoint: str, prefix: str, region: str) -> Provisioned:
    """Create every table, stream, topic, queue and subscription of ``infra.resources`` on ``endpoint``."""
    out = Provisioned()
    by_type: dict[str, list[tuple[str, dict]]] = {}
    for logical, res in resources(prefix).items():
        by_type.setdefault(res["Type"], []).append((logical, res.get("Properties", {})))
    _create_tables(_client("dynamodb", endpoint, region), by_type.get("AWS::DynamoDB::Table", []), out)
    sns = _client("sns", endpoint, region)
    for logical, p in by_type.get("AWS::SNS::Topic", []):
        out[f"arn:{logical}"] = sns.create_topic(Name=p["TopicName"])["TopicArn"]
    _create_queues(_client("sqs", endpoint, region), by_type.get("AWS::SQS::Queue", []), out)
    _subscribe(sns, by_type.get("AWS::SNS::Subscription", []), out)
    # Secrets the template generates at deploy time (the console's cookie key), generated here the same way.
    if by_type.get("AWS::SecretsManager::Secret"):
        _create_secrets(_client("secretsmanager", endpoint, region), by_type["AWS::SecretsManager::Secret"])
    return out


def _resolve(out: Provisioned, value: Any) -> Any:
    """A template value with its ``Ref`` / ``Fn::GetAtt`` replaced by what was provisioned."""
    if isinstance(value, dict) and "Ref" in value:
        return out[f"arn:{value['Ref']}"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical, attr = value["Fn::GetAtt"]
        return out[f"{attr.lower()}:{logical}"]
    return value


def _create_tables(ddb: Any, tables: list[tuple[str, dict]], out: Provisioned) -> None:
    """The tables, their streams and TTL; records each table's ARN and stream ARN in ``out``."""
    for logical, p in tables:
        args = {k: p[k] for k in ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode") if k in p}
        if "GlobalSecondaryIndexes" in p:
            args["GlobalSecondaryIndexes"] = table_gsis(p)  # the template's defaults
        if "StreamSpecification" in p:
            args["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
        desc = ddb.create_table(**args)["TableDescription"]
        out[f"arn:{logical}"] = desc["TableArn"]
        if "LatestStreamArn" in desc:
            out[f"streamarn:{logical}"] = desc["LatestStreamArn"]
        if "TimeToLiveSpecification" in p:
            ddb.update_time_to_live(TableName=p["TableName"], TimeToLiveSpecification=p["TimeToLiveSpecification"])


def _create_queues(sqs: Any, queues: list[tuple[str, dict]], out: Provisioned) -> None:
    """The queues, dead-letter queues first (a redrive policy names its DLQ's ARN); records URL and ARN."""
    for logical, p in sorted(queues, key=lambda lp: "RedrivePolicy" in lp[1]):
        attrs = {"VisibilityTimeout": str(LOCAL_VISIBILITY_SECONDS)}
        if "MessageRetentionPeriod" in p:
            attrs["MessageRetentionPeriod"] = str(p["MessageRetentionPeriod"])
        if "RedrivePolicy" in p:
            rp = p["RedrivePolicy"]
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": _resolve(out, rp["deadLetterTargetArn"]),
                                                 "maxReceiveCount": str(rp["maxReceiveCount"])})
        url = sqs.create_queue(QueueName=p["QueueName"], Attributes=attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        out[f"url:{logical}"] = url
        out[f"arn:{logical}"] = arn


def _subscribe(sns: Any, subscriptions: list[tuple[str, dict]], out: Provisioned) -> None:
    """The SNS subscriptions, with their raw delivery and filter policy."""
    for _logical, p in subscriptions:
        attrs = {"RawMessageDelivery": "true" if p.get("RawMessageDelivery") else "false",
                 "FilterPolicyScope": p.get("FilterPolicyScope", "MessageAttributes"),
                 "FilterPolicy": json.dumps(p["FilterPolicy"])}
        sns.subscribe(TopicArn=_resolve(out, p["TopicArn"]), Protocol=p["Protocol"],
                      Endpoint=_resolve(out, p["Endpoint"]), Attributes=attrs)


def _create_secrets(sm: Any, secrets: list[tuple[str, dict]]) -> None:
    """Secrets Manager secrets, their generated key filled as CloudFormation's GenerateSecretString would."""
    import secrets as _secrets

    for _logical, p in secrets:
        gen = p.get("GenerateSecretString") or {}
        value = json.loads(gen.get("SecretStringTemplate", "{}"))
        if gen.get("GenerateStringKey"):
            value[gen["GenerateStringKey"]] = _secrets.token_urlsafe(gen.get("PasswordLength", 64))
        sm.create_secret(Name=p["Name"], SecretString=json.dumps(value))


def local_environment(endpoint: str, prefix: str, region: str, provisioned: Provisioned) -> dict[str, str]:
    """What the functions' settings need to reach the stand-in (the same variables a deployment sets)."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "DEALREG_PREFIX": prefix,
        "DEALREG_AWS_ENDPOINT_URL": endpoint,
        "DEALREG_EVENTS_TOPIC_ARN": provisioned["arn:EventsTopic"],
        "DEALREG_REGISTRATIONS_STREAM_ARN": provisioned["streamarn:RegistrationsTable"],
        "DEALREG_LOCAL": "1",
    }


def save_snapshot(endpoint: str, prefix: str, region: str, path: Path) -> dict[str, int]:
    """Write every table's items and every secret to ``path`` (JSON, DynamoDB wire format)."""
    ddb = _client("dynamodb", endpoint, region)
    sm = _client("secretsmanager", endpoint, region)
    data: dict[str, Any] = {"tables": {}, "secrets": {}}
    for res in resources(prefix).values():
        if res["Type"] != "AWS::DynamoDB::Table":
            continue
        name = res["Properties"]["TableName"]
        items: list[dict] = []
        for page in ddb.get_paginator("scan").paginate(TableName=name):
            items.extend(page["Items"])
        data["tables"][name] = items
    for page in sm.get_paginator("list_secrets").paginate():
        for sec in page["SecretList"]:
            if sec["Name"].startswith(f"{prefix}/"):
                data["secrets"][sec["Name"]] = sm.get_secret_value(SecretId=sec["ARN"])["SecretString"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # 0600 from the first byte: the snapshot holds every partner's signing secret.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(data, ensure_ascii=False))
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)  # atomic: a crash mid-write leaves the previous snapshot intact
    return {name: len(items) for name, items in data["tables"].items()}


def load_snapshot(endpoint: str, region: str, path: Path) -> dict[str, int]:
    """Restore what :func:`save_snapshot` wrote. Call before the event runner starts reading streams."""
    ddb = _client("dynamodb", endpoint, region)
    sm = _client("secretsmanager", endpoint, region)
    data = json.loads(path.read_text())
    counts = {}
    for name, items in data["tables"].items():
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
            pending = {name: batch}
            while pending:
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        counts[name] = len(items)
    for name, value in data["secrets"].items():
        try:
            sm.create_secret(Name=name, SecretString=value)
        except sm.exceptions.ResourceExistsException:  # made by provision (a generated secret): keep the saved one
            sm.put_secret_value(SecretId=name, SecretString=value)
    return counts


__all__ = ["MotoServer", "provision", "local_environment", "save_snapshot", "load_snapshot", "STREAM_DLQ"]
