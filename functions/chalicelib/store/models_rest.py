"""The models of the tables no first API call reads (follow-ups, registry cache and enrichments, tenders and
subscriptions, notifications, scores, the pipeline board, login throttle, directory audit and stack id), made at
their first use through ``chalicelib.store.models`` (see its ``_ELSEWHERE``)."""
from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)

from chalicelib.store.models import _DirectoryItem, _index, _Meta, _Model


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


class DirectoryAuditItem(_DirectoryItem):
    """``pk = audit#<ISO time>#<random>``: one admin change of the directory (who, what, which object; never a
    key, secret, password or code)."""

    class Meta(_DirectoryItem.Meta):
        pass

    actor = UnicodeAttribute()  # "<kind>:<id>" (user:root, or cli:<os user> for the operator CLI)
    action = UnicodeAttribute()  # e.g. user.created, partner.secret_rotated
    target = UnicodeAttribute()  # "<kind>:<id>"
    detail = JSONAttribute(null=True)


class StackItem(_DirectoryItem):
    """``pk = meta#stack``: a random id made the first time it is asked for, so tools can tell one stack (or
    one ``make run RESET=1`` generation of it) from another (``store.directory.stack_id``)."""

    class Meta(_DirectoryItem.Meta):
        pass

    stack_id = UnicodeAttribute()
