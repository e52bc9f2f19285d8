"""PynamoDB tables. Table names, endpoint and region come from settings through :func:`bind`.

Keys and indexes serve the access patterns:
- registrations: by id; by submitter, owner, team, status (listing, newest first); by customer key
  (dedup, conflicts); by status + due time (sparse: only items with a due time; timers).
- customers: by customer key (the normalised identity; see chalicelib.domain.registration).
- directory: partners, users, teams and hashed API keys under one ``pk`` with a type prefix.
- claims: unique keys taken in the same transaction as a registration (webhook ids, external refs);
  ``expires_at`` is the DynamoDB TTL attribute, and reads treat expired claims as absent.

The other tables' models are in ``models_dedup`` and ``models_rest``, made at first use (see ``_ELSEWHERE``).
"""
from __future__ import annotations

import importlib
import threading
import time
from typing import Any

from botocore.config import Config
from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.connection.base import BOTOCORE_EXCEPTIONS
from pynamodb.constants import BATCH_GET_ITEM
from pynamodb.exceptions import GetError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.signals import post_dynamodb_send, pre_dynamodb_send, signals_available
from pynamodb.transactions import TransactWrite

from chalicelib import settings as settings_mod
from chalicelib.domain.backoff import backoff_seconds
from chalicelib.store import aws


class _Meta:
    # Fail fast so a storage outage becomes a 503 within API Gateway's timeout.
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 2
    billing_mode = "PAY_PER_REQUEST"


# The client config PynamoDB's Connection would build from _Meta (pynamodb.connection.base, retries "LEGACY").
_CLIENT_CONFIG = Config(parameter_validation=False, connect_timeout=_Meta.connect_timeout_seconds,
                        read_timeout=_Meta.read_timeout_seconds, max_pool_connections=10,
                        retries={"total_max_attempts": 1 + _Meta.max_retry_attempts, "mode": "standard"})


def _share_client(connection: Connection, region: str | None, host: str | None) -> Connection:
    """Give a PynamoDB connection the process's shared DynamoDB client (``store.aws``) instead of the new
    botocore session and client it would make for itself (issue 15: 55-170 ms CPU per model on a cold start)."""
    if connection._client is None:
        connection._client = aws.dynamodb(region or settings_mod.get().region, host, _CLIENT_CONFIG)
    return connection


# Every model class made so far -> its logical table (``settings.TABLES``): the ``Meta.table_name`` it was written
# with, or its model base's (directory items); :func:`bind` sets the real names.
_TABLES: dict[type[Model], str] = {}
# What the models are bound to: the settings when this module is imported, then what bind() last applied — a model
# made later (``_ELSEWHERE``) is bound to the same as the others, as when they were all made at import.
_bound: settings_mod.Settings = settings_mod.get()
_binding = threading.RLock()  # a model made in one thread while bind() runs in another: bound to the new settings


def _bind(cls: type[Model], s: settings_mod.Settings) -> None:
    cls.Meta.table_name = s.table(_TABLES[cls])
    cls.Meta.region = s.region
    cls.Meta.host = s.endpoint_url
    cls._connection = None


class _Model(Model):
    """Every table's model: one shared botocore client for all of them (see :func:`_share_client`); bound to the
    settings the others are bound to (:data:`_bound`) as it is made."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        with _binding:
            _TABLES[cls] = next((_TABLES[base] for base in cls.__mro__[1:] if base in _TABLES), None) \
                or cls.Meta.table_name
            _bind(cls, _bound)

    @classmethod
    def _get_connection(cls):  # type: ignore[override]
        table = super()._get_connection()
        _share_client(table.connection, cls.Meta.region, cls.Meta.host)
        return table


def _index(name: str, hash_key: str, range_key: str, range_type: type = UnicodeAttribute) -> type[GlobalSecondaryIndex]:
    """Build a GSI class with all attributes projected (listing reads need the whole item)."""

    class Meta:
        index_name = name
        projection = AllProjection()

    attrs = {
        "Meta": Meta,
        hash_key: UnicodeAttribute(hash_key=True),
        range_key: range_type(range_key=True),
    }
    return type(name, (GlobalSecondaryIndex,), attrs)


class AuditEntryMap(MapAttribute):
    seq = NumberAttribute()
    at = UTCDateTimeAttribute()
    actor_kind = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    action = UnicodeAttribute()
    from_status = UnicodeAttribute(null=True)
    to_status = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    evidence = UnicodeAttribute(null=True)  # staff-only check evidence (domain.visibility)
    shared = BooleanAttribute(null=True)  # staff marked the reason for the partner (domain.visibility)
    stage = UnicodeAttribute(null=True)  # close lines: the sales stage left (domain.cockpit stays)
    level = NumberAttribute(null=True)  # escalated lines: the approver level referred to (domain.routing)

    @classmethod
    def from_entry(cls, entry: Any) -> AuditEntryMap:
        """The stored form of a ``schemas.registration.AuditEntry``."""
        return cls(seq=entry.seq, at=entry.at, actor_kind=entry.actor.kind.value, actor_id=entry.actor.id,
                   action=entry.action, from_status=entry.from_status, to_status=entry.to_status,
                   reason=entry.reason, evidence=entry.evidence, shared=entry.shared,
                   stage=entry.stage, level=entry.level)


class RegistrationItem(_Model):
    class Meta(_Meta):
        table_name = "registrations"

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    source = UnicodeAttribute()
    submitter_kind = UnicodeAttribute()
    submitter_id = UnicodeAttribute()
    partner_id = UnicodeAttribute(null=True)
    owner_id = UnicodeAttribute(null=True)
    team_id = UnicodeAttribute(null=True)
    customer_key = UnicodeAttribute()
    customer_name = UnicodeAttribute()
    project_title = UnicodeAttribute()
    expected_amount = UnicodeAttribute()  # decimal as text: exact, and never a float on the way
    currency = UnicodeAttribute()
    external_ref = UnicodeAttribute(null=True)
    data = JSONAttribute()  # the submitted RegistrationCreate, as validated (schemas.registration)
    won_amount = JSONAttribute(null=True)  # {"amount": "…", "currency": "…"} once closed as won
    review_flag = UnicodeAttribute(null=True)  # the customer's registry status when flagged (enrichment)
    audit = ListAttribute(of=AuditEntryMap)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    due_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()
    # Dedup (issue 3): set once at intake by the customer-key claims; see store.registrations.create.
    first_claim = BooleanAttribute(null=True)
    duplicate_of = UnicodeAttribute(null=True)
    # Ownership (issue 4, domain/ownership.py): owner_kind + owner_id name the holder; the timers are
    # rewritten whole on every ownership write and due_at (in ByStatusDueIndex) is their earliest deadline.
    owner_kind = UnicodeAttribute(null=True)
    granted_at = UTCDateTimeAttribute(null=True)
    extension_days = NumberAttribute(null=True)
    last_activity_at = UTCDateTimeAttribute(null=True)
    due_reason = UnicodeAttribute(null=True)
    previous_owner = UnicodeAttribute(null=True)
    cooldown_until = UTCDateTimeAttribute(null=True)
    rules_stamp = UnicodeAttribute(null=True)
    warned = UnicodeAttribute(null=True)
    write_token = UnicodeAttribute(null=True)  # the last ownership transaction's token: tells a retry from a race
    # Review SLA (issue 5, store/routing.py): "<seq of the entry the wait started at>:<periods reminded>".
    review_reminded = UnicodeAttribute(null=True)
    # Issue 15: "<status>#<n>", n from the id (store/status_index.py), written with every status; the key of
    # the sharded status indexes, so one status is spread over n partitions instead of one hot key.
    status_shard = UnicodeAttribute(null=True)

    by_submitter = _index("BySubmitterIndex", "submitter_id", "created_at")()
    by_owner = _index("ByOwnerIndex", "owner_id", "created_at")()
    by_team = _index("ByTeamIndex", "team_id", "created_at")()
    # The single-key status indexes are kept for deployed stacks until a later release drops them (README
    # "Sharded status indexes"); nothing reads them: reads go through store/status_index.py.
    by_status = _index("ByStatusIndex", "status", "created_at")()
    by_status_due = _index("ByStatusDueIndex", "status", "due_at")()
    by_status_shard = _index("ByStatusShardIndex", "status_shard", "created_at")()
    by_status_shard_due = _index("ByStatusShardDueIndex", "status_shard", "due_at")()
    by_customer = _index("ByCustomerIndex", "customer_key", "created_at")()


class CustomerItem(_Model):
    class Meta(_Meta):
        table_name = "customers"

    customer_key = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    registry_ids = JSONAttribute(null=True)
    website = UnicodeAttribute(null=True)
    country = UnicodeAttribute(null=True)
    region = UnicodeAttribute(null=True)
    industry = UnicodeAttribute(null=True)
    registration_count = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    owner_id = UnicodeAttribute(null=True)  # account owner from a CRM import (``dealreg customers import``)


class _DirectoryItem(_Model):
    class Meta(_Meta):
        table_name = "directory"

    pk = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute()


class PartnerItem(_DirectoryItem):
    """``pk = partner#<id>``. Signing secrets are in Secrets Manager, never here."""

    class Meta(_DirectoryItem.Meta):
        pass

    name = UnicodeAttribute()
    tier = UnicodeAttribute(default="registered")
    callback_url = UnicodeAttribute(null=True)
    active = UnicodeAttribute(default="yes")
    # The channel team whose managers review (and may read) this partner's registrations.
    team_id = UnicodeAttribute(null=True)
    # Admin writes (issue 18): every change conditions on ``version`` (absent on older items = 0); a console
    # session started before ``not_before`` (the last deactivation) is refused; ``rotating_until`` is the
    # lease one secret rotation holds while it rewrites the Secrets Manager value.
    version = NumberAttribute(null=True)
    not_before = UTCDateTimeAttribute(null=True)
    rotating_until = UTCDateTimeAttribute(null=True)


class UserItem(_DirectoryItem):
    """``pk = user#<id>``; role is rep, manager, admin or partner (a person of ``partner_id``, issue 18)."""

    class Meta(_DirectoryItem.Meta):
        pass

    name = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    role = UnicodeAttribute()
    team_id = UnicodeAttribute(null=True)
    manager_id = UnicodeAttribute(null=True)
    active = UnicodeAttribute(default="yes")
    partner_id = UnicodeAttribute(null=True)  # role partner: whose data the person sees
    version = NumberAttribute(null=True)  # admin writes condition on it (absent on older items = 0)
    not_before = UTCDateTimeAttribute(null=True)  # console sessions started before it are refused
    # console password of a partner user (issue 18): scrypt with a per-user salt, set with a one-time code
    password_hash = UnicodeAttribute(null=True)
    password_salt = UnicodeAttribute(null=True)
    login_code_hash = UnicodeAttribute(null=True)
    login_code_expires = UTCDateTimeAttribute(null=True)
    # Items stored before the login throttle (LoginThrottleItem) may still carry the old lockout's
    # ``failed_logins`` / ``locked_until``: not attributes of the model any more, they are ignored when read.




class TeamItem(_DirectoryItem):
    """``pk = team#<id>``: a team/territory and who manages it."""

    class Meta(_DirectoryItem.Meta):
        pass

    name = UnicodeAttribute()
    territory = UnicodeAttribute(null=True)
    manager_ids = ListAttribute(of=UnicodeAttribute, default=list)
    # a deactivated team takes no new members, holdings or reviews (services.directory.set_active)
    active = UnicodeAttribute(default="yes")
    version = NumberAttribute(null=True)  # admin writes condition on it (absent on older items = 0)




class ApiKeyItem(_DirectoryItem):
    """``pk = apikey#<sha256 of the key>``: the key itself is shown once and never stored."""

    class Meta(_DirectoryItem.Meta):
        pass

    principal_kind = UnicodeAttribute()  # partner | user
    principal_id = UnicodeAttribute()
    revoked = UnicodeAttribute(default="no")


class SessionKeyItem(_Model):
    """Console sessions (chalicelib.console.session): ``pk = session#<sha256 of the key>``, a short-lived
    bearer key refused from ``expires_at`` on (and removed by TTL). Kept out of the directory: sessions are
    written per login, the directory only by admin changes (issue 18)."""

    class Meta(_Meta):
        table_name = "sessions"

    pk = UnicodeAttribute(hash_key=True)
    principal_kind = UnicodeAttribute()  # partner | user
    principal_id = UnicodeAttribute()
    revoked = UnicodeAttribute(default="no")
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()
    user_id = UnicodeAttribute(null=True)  # a partner user's session: that person must stay active too




class ClaimItem(_Model):
    class Meta(_Meta):
        table_name = "claims"

    key = UnicodeAttribute(hash_key=True)
    registration_id = UnicodeAttribute()
    response = JSONAttribute(null=True)
    # idempotency claims: the request body's fingerprint, so a reused key with another body is refused
    fingerprint = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)


class HolderItem(_Model):
    """``pk = holder#<kind>:<id>``: a holder's count of active holdings and of its submissions awaiting a
    decision (issue 4), moved in the same transaction as the registration; ``job#<name>`` items keep resumable jobs' checkpoints."""

    class Meta(_Meta):
        table_name = "holders"

    pk = UnicodeAttribute(hash_key=True)
    active = NumberAttribute(null=True)
    # Registrations this holder submitted that await a decision (submitted/pending_review): the pending cap.
    pending = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    checkpoint = JSONAttribute(null=True)
    # Issue 15: "active#<n>" (n from the pk), set with every ``active`` move: ByActiveIndex (load_shard, active)
    # lets the over-limit job query only holders above the smallest limit instead of scanning the table.
    load_shard = UnicodeAttribute(null=True)

    by_active = _index("ByActiveIndex", "load_shard", "active", NumberAttribute)()


_connection: Connection | None = None


def bind(settings: settings_mod.Settings | None = None) -> None:
    """Point every model at the tables, region and endpoint of ``settings`` (default: the environment); a model
    made later (:data:`_ELSEWHERE`) is pointed at the same when it is made."""
    global _connection, _bound
    with _binding:
        _bound = settings or settings_mod.get()
        for cls in _TABLES:
            _bind(cls, _bound)
    _connection = None


# The models of the tables a first API call does not touch live in their own modules, made at their first use
# (``from chalicelib.store.models import TenderItem`` or ``models.TenderItem`` import them through
# :func:`__getattr__`): PynamoDB's class construction (two ``inspect.getmembers`` per class) is ~1.5 M
# instructions per model, ~25 M of a cold API container for tables it never reads (issue 15).
_ELSEWHERE = {name: "chalicelib.store.models_dedup" for name in ("DedupIndexItem", "DedupVerdictItem")} | {
    name: "chalicelib.store.models_rest" for name in (
        "FollowUpItem", "RegistryCacheItem", "CustomerEnrichmentItem", "TenderItem", "TenderRefItem",
        "TenderFeedItem", "SubscriptionItem", "TenderAlertItem", "NotifySettingsItem", "DeliveryItem", "ScoreItem",
        "AggregateItem", "LoginThrottleItem", "DirectoryAuditItem", "StackItem")}


def __getattr__(name: str) -> Any:
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def every_model() -> dict[type[Model], str]:
    """Every model class (the ones made at first use too) and the logical table it is stored in."""
    for module in sorted(set(_ELSEWHERE.values())):
        importlib.import_module(module)
    return dict(_TABLES)


def connection() -> Connection:
    """A low-level connection for transactions, with the same endpoint and timeouts as the models."""
    global _connection
    if _connection is None:
        s = settings_mod.get()
        _connection = _share_client(Connection(
            region=s.region,
            host=s.endpoint_url,
            connect_timeout_seconds=_Meta.connect_timeout_seconds,
            read_timeout_seconds=_Meta.read_timeout_seconds,
            max_retry_attempts=_Meta.max_retry_attempts,
        ), s.region, s.endpoint_url)
    return _connection


BATCH_GET_ATTEMPTS = 5  # BatchGetItem rounds for keys DynamoDB leaves unprocessed (throttling), with back-off


def batch_get_rows(request_items: dict[str, dict]) -> dict[str, list[dict]]:
    """One BatchGetItem of raw rows (``RequestItems`` as DynamoDB takes them: per table its ``Keys`` and
    ``ConsistentRead``) through :func:`connection` — PynamoDB's dispatch, its ``GetError`` for a failed call — for
    the hot paths that read a few attributes or several tables without a model per answer (issue 15). The keys
    DynamoDB leaves unprocessed are asked again, alone and with their table's settings, after the one back-off (``domain.backoff``); still
    unprocessed after :data:`BATCH_GET_ATTEMPTS` rounds is a ``GetError``, never an answer of "absent".

    Returns:
        {table name: its rows, in the order DynamoDB answered}.
    """
    rows: dict[str, list[dict]] = {table: [] for table in request_items}
    wanted = request_items
    for attempt in range(BATCH_GET_ATTEMPTS):
        if attempt:
            time.sleep(backoff_seconds(attempt, base=0.1, cap=1.0))
        try:
            answer = _dispatch(BATCH_GET_ITEM, {"RequestItems": wanted})
        except BOTOCORE_EXCEPTIONS as exc:
            raise GetError(f"Failed to batch get items: {exc}", exc) from exc
        for table, found in answer.get("Responses", {}).items():
            rows[table].extend(found)
        # the table's own settings (ConsistentRead …) with the keys left, whatever else the answer echoes
        wanted = {table: {**request_items[table], "Keys": left["Keys"]}
                  for table, left in (answer.get("UnprocessedKeys") or {}).items() if left.get("Keys")}
        if not wanted:
            return rows
    raise GetError(f"BatchGetItem left keys unprocessed after {BATCH_GET_ATTEMPTS} attempts: {sorted(wanted)}")


def _dispatch(operation: str, kwargs: dict) -> dict:
    """``connection().dispatch(operation, kwargs)``: the same request (``ReturnConsumedCapacity`` added as it adds it)
    and the same errors, without the ``uuid4`` it makes on every call for PynamoDB's send signals (~13,000
    instructions, issue 15 item 2) while no receiver is connected to them; with one, PynamoDB's own dispatch.
    Without ``blinker`` (the deployment zip: only a dev dependency brings it) PynamoDB's signals are no-op stand-ins
    with no ``receivers`` and nobody can listen."""
    conn = connection()
    if signals_available and (pre_dynamodb_send.receivers or post_dynamodb_send.receivers):
        return conn.dispatch(operation, kwargs)
    if "ReturnConsumedCapacity" not in kwargs:
        kwargs = {**kwargs, "ReturnConsumedCapacity": "TOTAL"}
    return conn._make_api_call(operation, kwargs)  # noqa: SLF001 - dispatch's own call (pynamodb 6.1.0, pinned)


class Transaction(TransactWrite):
    """PynamoDB's ``TransactWrite`` (same commit, same ``TransactWriteError``) that also takes operations already
    serialised, so a hot path renders each one once instead of through model instances (issue 15 item 2)."""

    def put(self, operation: dict) -> None:
        self._put_items.append(operation)

    def update_op(self, operation: dict) -> None:
        self._update_items.append(operation)
