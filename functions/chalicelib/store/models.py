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

import time
from typing import Any

from botocore.config import Config
from pynamodb.attributes import (
    BinaryAttribute,
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


class _Model(Model):
    """Every table's model: one shared botocore client for all of them (see :func:`_share_client`)."""

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


class DirectoryAuditItem(_DirectoryItem):
    """``pk = audit#<ISO time>#<random>``: one admin change of the directory (who, what, which object; never a
    key, secret, password or code)."""

    class Meta(_DirectoryItem.Meta):
        pass

    actor = UnicodeAttribute()  # "<kind>:<id>" (user:root, or cli:<os user> for the operator CLI)
    action = UnicodeAttribute()  # e.g. user.created, partner.secret_rotated
    target = UnicodeAttribute()  # "<kind>:<id>"
    detail = JSONAttribute(null=True)


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


class StackItem(_DirectoryItem):
    """``pk = meta#stack``: a random id made the first time it is asked for, so tools can tell one stack (or
    one ``make run RESET=1`` generation of it) from another (``store.directory.stack_id``)."""

    class Meta(_DirectoryItem.Meta):
        pass

    stack_id = UnicodeAttribute()


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


class LoginThrottleItem(_Model):
    """Password-login attempt counts (``domain.login_throttle``) in the sessions table: ``pk =
    throttle#pair#<client address>#<user id>`` | ``throttle#ip#<address>`` | ``throttle#user#<user id>``; each
    write is conditioned on the count read (``store.login_throttle``); TTL removes quiet ones."""

    class Meta(_Meta):
        table_name = "sessions"

    pk = UnicodeAttribute(hash_key=True)
    attempts = NumberAttribute(default=0)
    last_at = UTCDateTimeAttribute(null=True)
    next_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


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


class FollowUpItem(_Model):
    """One follow-up on a registration (issue 4); the owner's move the registration's activity clock."""

    class Meta(_Meta):
        table_name = "followups"

    id = UnicodeAttribute(hash_key=True)
    registration_id = UnicodeAttribute()
    at = UnicodeAttribute()  # ISO time, the range key of ByRegistrationIndex
    type = UnicodeAttribute()
    note = UnicodeAttribute(null=True)
    author_kind = UnicodeAttribute()
    author_id = UnicodeAttribute()
    counted = BooleanAttribute()
    created_at = UTCDateTimeAttribute()

    by_registration = _index("ByRegistrationIndex", "registration_id", "at")()



class RegistryCacheItem(_Model):
    """``key = <provider>#id#<scheme>:<value>`` or ``<provider>#name#<name key>``: one registry answer.

    ``payload`` is the answer as JSON (the company, or the ranked candidates, or "not found");
    ``expires_at`` is the DynamoDB TTL attribute and reads treat expired items as absent.
    """

    class Meta(_Meta):
        table_name = "registry_cache"

    key = UnicodeAttribute(hash_key=True)
    payload = JSONAttribute()
    fetched_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


class CustomerEnrichmentItem(_Model):
    """``customer_key``: what the registries say about a customer, kept beside (not inside) CustomerItem."""

    class Meta(_Meta):
        table_name = "enrichments"

    customer_key = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute()  # enriched | not_found | retrying | parked | failed
    company = JSONAttribute(null=True)  # schemas.company.Company, as JSON
    match = UnicodeAttribute(null=True)  # id | name
    score = NumberAttribute(null=True)
    review_flag = UnicodeAttribute(null=True)  # the flagged status (dissolved, revoked, lapsed, retired)
    registration_id = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    checked_at = UTCDateTimeAttribute()



class DedupIndexItem(_Model):
    """The dedup blocking index (issue 3; see chalicelib.domain.dedup_match and chalicelib.store.dedup).

    One table keyed ``(pk, sk)``, three kinds of item, so every read is a key lookup or a Query of one
    partition of the base table (no GSI: a GSI would cost a second write per posting):

    - a head ``pk = "<blocking key>"``, ``sk = "#"`` with ``n``, the key's frequency mark
      (``dedup_match.count_mark``), and the posting of the first customer that carried the key (``ref`` =
      its customer key, ``name``, ``core``, ``keys``);
    - a posting ``pk = "<blocking key>"``, ``sk = "<customer key>"`` with the customer's ``name`` and exact
      ``keys`` (so a check scores without more reads); a posting list is one partition, head first;
    - a marker ``pk = "#doc|<customer key>|<name key>"``, ``sk = "#"``: this customer name is indexed.

    (Before issue 15 item 5, a counter ``pk = "#n|<blocking key>"`` took the head's place: see
    ``store.dedup.migrate_counters``.)
    """

    class Meta(_Meta):
        table_name = "dedup_index"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute(null=True)
    core = UnicodeAttribute(null=True)  # the name's compact comparison form (ranking ties, no re-normalising)
    keys = JSONAttribute(null=True)
    n = NumberAttribute(null=True)
    ref = UnicodeAttribute(null=True)  # a head's own posting: the customer key
    created_at = UTCDateTimeAttribute(null=True)


class DedupVerdictItem(_Model):
    """The dedup handler's verdict on one registration (issue 3), written once."""

    class Meta(_Meta):
        table_name = "dedup_verdicts"

    registration_id = UnicodeAttribute(hash_key=True)
    outcome = UnicodeAttribute()
    verdict = JSONAttribute()  # schemas.dedup.DedupVerdict, as JSON
    computed_at = UTCDateTimeAttribute()



# -- tender feeds and subscriptions (issue 6) -------------------------------------------------------------


class TenderItem(_Model):
    """One procedure's tender, linked across sources; ``data`` is the latest ``schemas.tender.Tender``."""

    class Meta(_Meta):
        table_name = "tenders"

    tender_id = UnicodeAttribute(hash_key=True)
    data = JSONAttribute()
    status = UnicodeAttribute()
    title = UnicodeAttribute()
    sources = ListAttribute(of=UnicodeAttribute, default=list)  # "<source>:<source_id>" seen for it
    day = UnicodeAttribute()  # UTC day first seen, YYYY-MM-DD: the listing index's partition
    seen_at = UnicodeAttribute()  # ISO timestamp first seen (sorts as text)
    updated_at = UTCDateTimeAttribute()
    cancelled = UnicodeAttribute(default="no")
    # "pending" from the write that stores a new tender until its alerts are published: a poll that dies in
    # between leaves it set, and the next poll of the same notice alerts again (alerts are idempotent).
    alert_state = UnicodeAttribute(null=True)
    version = VersionAttribute()

    by_day = _index("ByDayIndex", "day", "seen_at")()


class TenderRefItem(_Model):
    """``ref`` (``src:<source>:<id>``, ``ocds:<ocid>``, ``ted:<doc id>``...) -> the tender it belongs to."""

    class Meta(_Meta):
        table_name = "tender_refs"

    ref = UnicodeAttribute(hash_key=True)
    tender_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class TenderFeedItem(_Model):
    """Polling state of one configured source: validators, schedule, last outcome."""

    class Meta(_Meta):
        table_name = "tender_feeds"

    source = UnicodeAttribute(hash_key=True)
    etag = UnicodeAttribute(null=True)
    last_modified = UnicodeAttribute(null=True)
    cursor = UnicodeAttribute(null=True)
    next_due_at = UTCDateTimeAttribute(null=True)
    last_run_at = UTCDateTimeAttribute(null=True)
    last_ok_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)  # a reason code, never payload text
    failures = NumberAttribute(default=0)
    stats = JSONAttribute(null=True)
    version = VersionAttribute()


class SubscriptionItem(_Model):
    """A rep's subscription (``id = sub_…``, ``data`` = schemas.tender.Subscription), and the matching index's
    persisted state (``store/tenders.py``, issue 15): ``meta#version`` holds the change counter (``counter``),
    the table's epoch (``created_at``) and the current snapshot (``snap_*``); ``log#<version>`` is the change
    written in the same transaction as the counter moved to that version (``data``: the compiled row or the
    deleted id); ``idx#<snapshot id>#<n>`` is chunk ``n`` of a snapshot (``blob``)."""

    class Meta(_Meta):
        table_name = "subscriptions"

    id = UnicodeAttribute(hash_key=True)
    rep_id = UnicodeAttribute(null=True)
    data = JSONAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    counter = NumberAttribute(null=True)
    snap_version = NumberAttribute(null=True)
    snap_id = UnicodeAttribute(null=True)
    snap_chunks = NumberAttribute(null=True)
    snap_format = UnicodeAttribute(null=True)
    blob = BinaryAttribute(null=True, legacy_encoding=False)

    by_rep = _index("ByRepIndex", "rep_id", "created_at")()


class TenderAlertItem(_Model):
    """One alert per rep per tender (``key = <rep>#<tender id>``): written once, never duplicated."""

    class Meta(_Meta):
        table_name = "tender_alerts"

    key = UnicodeAttribute(hash_key=True)
    rep_id = UnicodeAttribute()
    tender_id = UnicodeAttribute()
    subscription_ids = ListAttribute(of=UnicodeAttribute, default=list)
    delivery = UnicodeAttribute()
    digest_day = UnicodeAttribute(null=True)  # set for daily_digest alerts until the digest is sent
    created_at = UTCDateTimeAttribute()

    by_digest = _index("ByDigestIndex", "digest_day", "key")()
    # A rep's alerts, newest last (issue 15: was a Scan). Every alert has both attributes, so DynamoDB's
    # own backfill of a new index covers the alerts written before it; no backfill command is needed.
    by_rep = _index("ByRepIndex", "rep_id", "created_at")()

# -- notification outbox (issue 5) ---------------------------------------------------------------------------


class NotifySettingsItem(_DirectoryItem):
    """``pk = notify#<kind>:<id>`` (``notify#user:wang``, ``notify#partner:acme``): how a person or partner is
    told. Bot webhook URLs and signing secrets are credentials and live in Secrets Manager
    (``<prefix>/notify/<kind>/<id>``), never here."""

    class Meta(_DirectoryItem.Meta):
        pass

    channels = ListAttribute(of=UnicodeAttribute, null=True)  # None: the defaults (email / partner callback)
    locale = UnicodeAttribute(null=True)  # zh-CN | en
    digest = UnicodeAttribute(null=True)  # off | hourly | daily
    timezone = UnicodeAttribute(null=True)  # IANA name, for the daily digest hour
    email = UnicodeAttribute(null=True)  # overrides the user's directory email
    sns_topic_arn = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class DeliveryItem(_Model):
    """One (event, recipient, channel) delivery of the outbox; ``id`` = domain.notifications.delivery_id.

    ``lane``/``lane_at`` feed the sparse ``ByLaneIndex``: ``due#<0-3>`` + due time while pending (sharded so no
    partition runs hot), ``parked`` + parked time once retries are exhausted, ``inbox`` + sent time for the
    local channel's development inbox; a sent delivery on any other channel leaves the index.
    """

    class Meta(_Meta):
        table_name = "deliveries"

    id = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    recipient = UnicodeAttribute()  # user:<id> | partner:<id>
    channel = UnicodeAttribute()
    locale = UnicodeAttribute()
    digest = UnicodeAttribute(default="off")  # off | hourly | daily
    state = UnicodeAttribute()  # pending | sent | parked
    attempts = NumberAttribute(default=0)  # failed attempts so far
    title = UnicodeAttribute()
    text = UnicodeAttribute()
    link = UnicodeAttribute(null=True)
    payload = JSONAttribute(null=True)  # the event, for the partner webhook channel
    webhook_id = UnicodeAttribute(null=True)
    lane = UnicodeAttribute(null=True)
    lane_at = UnicodeAttribute(null=True)  # fixed-width ISO UTC time, sorts as text
    lease_until = UTCDateTimeAttribute(null=True)  # a sender holds it until then
    last_error = UnicodeAttribute(null=True)  # a reason code, never a payload or a secret
    created_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    parked_at = UTCDateTimeAttribute(null=True)
    # Sparse ``ByInboxIndex``: set on one delivery per (event, recipient) (domain.notifications ``inbox``), the
    # recipient's notifications newest first (``GET /v1/notifications``); ``read_at`` once they mark it read.
    inbox_of = UnicodeAttribute(null=True)  # user:<id> | partner:<id>
    inbox_at = UnicodeAttribute(null=True)  # fixed-width ISO UTC creation time + "#" + id: sorts, unique
    read_at = UTCDateTimeAttribute(null=True)
    via_team = UnicodeAttribute(null=True)  # told only as this team's manager: skipped if it is deactivated when sent

    by_lane = _index("ByLaneIndex", "lane", "lane_at")()
    by_inbox = _index("ByInboxIndex", "inbox_of", "inbox_at")()


class ScoreItem(_Model):
    """Scoring (issue 19, store/scoring.py): model versions as data. ``model#<version>`` holds the document's
    summary (metrics, features, training) and ``chunks``; ``model#<version>#<n>`` the zlib-compressed JSON in
    chunks under DynamoDB's 400 KB item limit; ``model#current`` the published version and its history."""

    class Meta(_Meta):
        table_name = "scores"

    pk = UnicodeAttribute(hash_key=True)
    data = JSONAttribute(null=True)
    blob = BinaryAttribute(null=True, legacy_encoding=False)
    rev = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
class AggregateItem(_Model):
    """Pipeline board figures kept from the registrations stream (issue 18): ``pk = board#team#<id>`` or
    ``board#all``, ``sk = <stage>#<currency>`` with the count and amount (in cents) of approved registrations;
    ``pk = applied#<stream event id>`` marks a stream record already counted (expires after a week)."""

    class Meta(_Meta):
        table_name = "aggregates"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    count = NumberAttribute(null=True)
    cents = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


MODELS: dict[str, type[Model]] = {
    "registrations": RegistrationItem,
    "customers": CustomerItem,
    "directory": _DirectoryItem,
    "claims": ClaimItem,
    "holders": HolderItem,
    "followups": FollowUpItem,
    "registry_cache": RegistryCacheItem,
    "enrichments": CustomerEnrichmentItem,
    "dedup_index": DedupIndexItem,
    "dedup_verdicts": DedupVerdictItem,
    "tenders": TenderItem,
    "tender_refs": TenderRefItem,
    "tender_feeds": TenderFeedItem,
    "subscriptions": SubscriptionItem,
    "tender_alerts": TenderAlertItem,
    "deliveries": DeliveryItem,
    "scores": ScoreItem,
    "aggregates": AggregateItem,
    "sessions": SessionKeyItem,
}
_ALL_MODELS = (RegistrationItem, CustomerItem, _DirectoryItem, PartnerItem, UserItem, TeamItem, ApiKeyItem, ClaimItem,
               HolderItem, FollowUpItem, RegistryCacheItem, CustomerEnrichmentItem,
               DedupIndexItem, DedupVerdictItem,
               TenderItem, TenderRefItem, TenderFeedItem, SubscriptionItem, TenderAlertItem,
               NotifySettingsItem, DeliveryItem, ScoreItem, AggregateItem, SessionKeyItem, LoginThrottleItem)
_SAME_TABLE_AS = {LoginThrottleItem: SessionKeyItem}  # a second item type in another model's table
_connection: Connection | None = None


def bind(settings: settings_mod.Settings | None = None) -> None:
    """Point every model at the tables, region and endpoint of ``settings`` (default: the environment)."""
    global _connection
    s = settings or settings_mod.get()
    for logical, model in MODELS.items():
        for cls in _ALL_MODELS:
            if (cls is model or _SAME_TABLE_AS.get(cls) is model
                    or (model is _DirectoryItem and issubclass(cls, _DirectoryItem))):
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


bind()

