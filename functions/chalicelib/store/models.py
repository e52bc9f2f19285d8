"""PynamoDB tables. Table names, endpoint and region come from settings through :func:`bind`.

Keys and indexes serve the access patterns:
- registrations: by id; by submitter, owner, team, status (listing, newest first); by customer key
  (dedup, conflicts); by status + due time (sparse: only items with a due time; timers).
- customers: by customer key (the normalised identity; see chalicelib.domain.registration).
- directory: partners, users, teams and hashed API keys under one ``pk`` with a type prefix.
- claims: unique keys taken in the same transaction as a registration (webhook ids, external refs);
  ``expires_at`` is the DynamoDB TTL attribute, and reads treat expired claims as absent.
"""
from __future__ import annotations

from pynamodb.attributes import (
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
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import settings as settings_mod


class _Meta:
    # Fail fast so a storage outage becomes a 503 within API Gateway's timeout.
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 2
    billing_mode = "PAY_PER_REQUEST"


def _index(name: str, hash_key: str, range_key: str) -> type[GlobalSecondaryIndex]:
    """Build a GSI class with all attributes projected (listing reads need the whole item)."""

    class Meta:
        index_name = name
        projection = AllProjection()

    attrs = {
        "Meta": Meta,
        hash_key: UnicodeAttribute(hash_key=True),
        range_key: UnicodeAttribute(range_key=True),
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


class RegistrationItem(Model):
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
    audit = ListAttribute(of=AuditEntryMap)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    due_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()

    by_submitter = _index("BySubmitterIndex", "submitter_id", "created_at")()
    by_owner = _index("ByOwnerIndex", "owner_id", "created_at")()
    by_team = _index("ByTeamIndex", "team_id", "created_at")()
    by_status = _index("ByStatusIndex", "status", "created_at")()
    by_status_due = _index("ByStatusDueIndex", "status", "due_at")()
    by_customer = _index("ByCustomerIndex", "customer_key", "created_at")()


class CustomerItem(Model):
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


class _DirectoryItem(Model):
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


class UserItem(_DirectoryItem):
    """``pk = user#<id>``; role is rep, manager or admin."""

    class Meta(_DirectoryItem.Meta):
        pass

    name = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    role = UnicodeAttribute()
    team_id = UnicodeAttribute(null=True)
    manager_id = UnicodeAttribute(null=True)
    active = UnicodeAttribute(default="yes")


class TeamItem(_DirectoryItem):
    """``pk = team#<id>``: a team/territory and who manages it."""

    class Meta(_DirectoryItem.Meta):
        pass

    name = UnicodeAttribute()
    territory = UnicodeAttribute(null=True)
    manager_ids = ListAttribute(of=UnicodeAttribute, default=list)


class ApiKeyItem(_DirectoryItem):
    """``pk = apikey#<sha256 of the key>``: the key itself is shown once and never stored."""

    class Meta(_DirectoryItem.Meta):
        pass

    principal_kind = UnicodeAttribute()  # partner | user
    principal_id = UnicodeAttribute()
    revoked = UnicodeAttribute(default="no")


class ClaimItem(Model):
    class Meta(_Meta):
        table_name = "claims"

    key = UnicodeAttribute(hash_key=True)
    registration_id = UnicodeAttribute()
    response = JSONAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)


MODELS: dict[str, type[Model]] = {
    "registrations": RegistrationItem,
    "customers": CustomerItem,
    "directory": _DirectoryItem,
    "claims": ClaimItem,
}
_ALL_MODELS = (RegistrationItem, CustomerItem, _DirectoryItem, PartnerItem, UserItem, TeamItem, ApiKeyItem, ClaimItem)
_connection: Connection | None = None


def bind(settings: settings_mod.Settings | None = None) -> None:
    """Point every model at the tables, region and endpoint of ``settings`` (default: the environment)."""
    global _connection
    s = settings or settings_mod.get()
    for logical, model in MODELS.items():
        for cls in _ALL_MODELS:
            if cls is model or (model is _DirectoryItem and issubclass(cls, _DirectoryItem)):
                cls.Meta.table_name = s.table(logical)
                cls.Meta.region = s.region
                cls.Meta.host = s.endpoint_url
                cls._connection = None
    _connection = None


def connection() -> Connection:
    """A low-level connection for transactions, with the same endpoint and timeouts as the models."""
    global _connection
    if _connection is None:
        s = settings_mod.get()
        _connection = Connection(
            region=s.region,
            host=s.endpoint_url,
            connect_timeout_seconds=_Meta.connect_timeout_seconds,
            read_timeout_seconds=_Meta.read_timeout_seconds,
            max_retry_attempts=_Meta.max_retry_attempts,
        )
    return _connection


bind()
