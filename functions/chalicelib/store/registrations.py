"""Reading and writing registrations. Every write is conditional; the caller never reads-then-writes."""
from __future__ import annotations

import base64
import calendar
import functools
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _json_str
from typing import NamedTuple

from pydantic_core import PydanticSerializationError, to_json
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import PendingCapError
from chalicelib.store import models, status_index
from chalicelib.store.models import AuditEntryMap, ClaimItem, CustomerItem, RegistrationItem
from schemas.common import Actor
from schemas.registration import AuditEntry, Registration, RegistrationCreate, RegistrationStatus, SalesStage


@dataclass(frozen=True)
class CreateOutcome:
    """``created`` is False when a claim already existed; ``answer`` is then the stored first answer."""

    created: bool
    answer: dict
    # the claim kind that was already taken: "webhook" or "external_ref"; "idempotency_key_reused" when the
    # idempotency key was used before for a different body
    conflict: str | None = None
    # Customer-key claims (dedup): whether this registration claimed its customer's exact keys first, and
    # otherwise the registration that holds the strongest of them.
    first_claim: bool | None = None
    duplicate_of: str | None = None


_PAYLOAD_FIELDS = frozenset(RegistrationCreate.model_fields)


@functools.lru_cache(maxsize=64)
def utc_stamp(at: datetime) -> str:
    """A ``UTCDateTimeAttribute``'s stored text of ``at`` (every model's timestamps use that one attribute type).
    A create stores its ``now`` five times (the registration's created/updated, its audit line, the customer,
    the claims): serialised once (issue 15 item 2). Equal datetimes are the same instant, hence the same text.

    The attribute writes ``strftime('%Y-%m-%dT%H:%M:%S.%f+0000').zfill(31)`` of the UTC time (a naive one read
    as UTC); the fields formatted directly are the same text (the year zero-padded to four digits is what the
    ``zfill`` makes of a short ``%Y``) for half the CPU: ``strftime`` imports ``time`` on every call
    (issue 15 item 2, session 8; equal over generated datetimes, ``tests/unit/test_intake_hot_path.py``)."""
    u = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06d+0000" % (  # noqa: UP031 - half an f-string's CPU here
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def ttl_epoch(at: datetime) -> str:
    """``TTLAttribute.serialize(at)`` (``ClaimItem.expires_at``) of an aware datetime: its Unix seconds, as PynamoDB
    computes them (``calendar.timegm`` of the UTC time tuple, i.e. whole seconds, rounded down), without its round
    trip through ``fromtimestamp``; by exact timedelta arithmetic (a third of timegm's CPU, session 7)."""
    if at.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    if at.utcoffset() is None:  # a tzinfo that knows no offset: the time tuple's reading
        return str(calendar.timegm(at.utctimetuple()))
    return str((at - _EPOCH) // _SECOND)


def answer_text(answer: dict) -> str:
    """``ClaimItem.response.serialize(answer)`` (``json.dumps``) of a create's answer ``{"id", "status"}``, without
    building an encoder per call (issue 15 item 2, session 7); any other answer through the attribute itself."""
    if list(answer) == ["id", "status"] and type(answer["id"]) is str and type(answer["status"]) is str:
        return f'{{"id": {_json_str(answer["id"])}, "status": {_json_str(answer["status"])}}}'
    return ClaimItem.response.serialize(answer)


def item_attributes(reg: Registration) -> dict[str, dict]:
    """The registration's stored item, as DynamoDB attribute values: the one mapping of a ``Registration`` to a
    ``RegistrationItem`` (``to_item`` is this, as a model). Built directly, values serialised by the model's own
    attributes, because PynamoDB's attribute descriptors cost more CPU than the rest of the intake (issue 15
    item 2); tests/unit/test_create_transaction.py pins it to what PynamoDB serialised. The submitted payload is
    a Registration's validated RegistrationCreate part: dumped, not validated a second time."""
    stamp = utc_stamp
    money = reg.project.expected_amount
    item = {
        "id": {"S": reg.id}, "status": {"S": reg.status.value},
        "status_shard": {"S": status_index.shard_key(reg.status.value, reg.id)}, "source": {"S": reg.source.value},
        "submitter_kind": {"S": reg.submitter.kind.value}, "submitter_id": {"S": reg.submitter.id},
        "customer_key": {"S": reg.customer_key}, "customer_name": {"S": reg.customer.name},
        "project_title": {"S": reg.project.title}, "expected_amount": {"S": str(money.amount)},
        "currency": {"S": money.currency},
        "data": {"S": RegistrationItem.data.serialize(reg.model_dump(mode="json", include=set(_PAYLOAD_FIELDS)))},
        "audit": {"L": [{"M": _audit_attributes(entry)} for entry in reg.audit]},
        "created_at": {"S": stamp(reg.created_at)}, "updated_at": {"S": stamp(reg.updated_at)},
    }
    for name, value in (("partner_id", reg.partner_id), ("owner_id", reg.owner_id), ("team_id", reg.team_id),
                        ("external_ref", reg.external_ref)):
        if value is not None:
            item[name] = {"S": value}
    return item


def _audit_attributes(entry: AuditEntry) -> dict[str, dict]:
    """``AuditEntryMap.from_entry(entry)`` serialised."""
    item: dict[str, dict] = {
        "seq": {"N": AuditEntryMap.seq.serialize(entry.seq)}, "at": {"S": utc_stamp(entry.at)},
        "actor_kind": {"S": entry.actor.kind.value}, "actor_id": {"S": entry.actor.id}, "action": {"S": entry.action},
    }
    for name, value in (("from_status", entry.from_status), ("to_status", entry.to_status),
                        ("reason", entry.reason), ("evidence", entry.evidence)):
        if value is not None:
            item[name] = {"S": str(value.value if isinstance(value, RegistrationStatus) else value)}
    if entry.shared is not None:
        item["shared"] = {"BOOL": entry.shared}
    if entry.stage is not None:
        item["stage"] = {"S": entry.stage}
    if entry.level is not None:
        item["level"] = {"N": AuditEntryMap.level.serialize(entry.level)}
    return item


def to_item(reg: Registration) -> RegistrationItem:
    return RegistrationItem.from_raw_data(item_attributes(reg))


def from_item(item: RegistrationItem) -> Registration:
    return Registration(
        **item.data,
        id=item.id, status=item.status, source=item.source,
        submitter=Actor(kind=item.submitter_kind, id=item.submitter_id),
        partner_id=item.partner_id, team_id=item.team_id, customer_key=item.customer_key,
        owner=Actor(kind=item.owner_kind or "user", id=item.owner_id) if item.owner_id else None,
        created_at=item.created_at, updated_at=item.updated_at, version=item.version or 1,
        first_claim=item.first_claim, won_amount=item.won_amount, review_flag=item.review_flag,
        audit=[
            AuditEntry(seq=a.seq, at=a.at, actor=Actor(kind=a.actor_kind, id=a.actor_id), action=a.action,
                       from_status=a.from_status, to_status=a.to_status, reason=a.reason,
                       evidence=a.evidence, shared=a.shared, stage=a.stage,
                       level=int(a.level) if a.level is not None else None)
            for a in item.audit
        ],
    )


def _claim_is_live(now: datetime):
    return ClaimItem.key.does_not_exist() | (ClaimItem.expires_at < now)


CUSTOMER_CLAIM_PREFIX = "customer#"
# Each retry follows a lost race for a customer key, so it is bounded by the number of keys (at most 7).
_CLAIM_ATTEMPTS = 8


def request_token(*parts: object) -> str:
    """A ``ClientRequestToken`` for one TransactWriteItems call (issue 15): botocore resends the same token when
    it retries the call after a timeout, and DynamoDB answers that retry with the first call's success instead
    of running it again (where every condition would fail on its own writes). Derive it from what identifies
    this one write; never reuse it for a different one (DynamoDB refuses a token with other parameters).
    """
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]  # at most 36 characters


def customer_claim_keys(reg: Registration) -> list[str]:
    """The claim keys of the registration's customer: ``customer#<exact key>``, strongest first."""
    customer = reg.customer
    ids = [(r.scheme.value, r.value) for r in customer.registry_ids]
    return [CUSTOMER_CLAIM_PREFIX + k for k in _lazy().dedup_keys.exact_keys(customer.name, ids, customer.website)]


def _pending_cap() -> int:
    return _lazy().rules.ownership_rules().pending_cap


@functools.cache
def _lazy():
    """Modules the create path calls, imported on first use rather than with this module (cold start) and looked
    up once: an import statement costs every call ~8,000 instructions even when the module is loaded (issue 15
    item 2, session 7). Their functions are read at call time, so patching them still works."""
    from types import SimpleNamespace

    from chalicelib import rules
    from chalicelib.domain import dedup_keys

    return SimpleNamespace(dedup_keys=dedup_keys, rules=rules)


@functools.cache
def _pending():
    """What the writes that move the pending counter need, imported on the first such write (a reader of
    registrations — the dedup and workflow functions — loads neither, issue 15) and looked up once, like
    :func:`_lazy`."""
    from types import SimpleNamespace

    from chalicelib.domain.ownership import PENDING
    from chalicelib.store import holders

    return SimpleNamespace(PENDING=PENDING, holders=holders)


def body_fingerprint(raw: bytes | str | None) -> str:
    """A request body's identity for idempotency: SHA-256 of its canonical JSON (key order and whitespace
    do not matter), or of the raw bytes when it is not JSON."""
    import contextlib

    data = raw.encode("utf-8") if isinstance(raw, str) else (raw or b"")
    with contextlib.suppress(ValueError, UnicodeDecodeError):  # not JSON: the raw bytes are the identity
        return json_fingerprint(json.loads(data))
    return hashlib.sha256(data).hexdigest()


# ``json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))``, the canonical form every stored
# fingerprint was taken of, made once: json.dumps builds an encoder per call with these options. Without the
# circular-reference bookkeeping, which parsed JSON never needs (it cannot refer to itself); the text is the same.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), check_circular=False)


def json_fingerprint(body: object, *, keys_sorted: bool = False) -> str:
    """``body_fingerprint`` of a body already parsed (``http.parse_json``): the same digest, without parsing the
    body a second time (issue 15 item 2).

    ``keys_sorted``: every object in ``body`` already has its keys in sorted order and no number in it is a float
    (``http.parse_json_sorted`` says so). The canonical text is then what pydantic-core's encoder writes (compact,
    UTF-8, insertion order, the same escapes: tested over every code point), at a fifth of the cost of the sorting
    encoder (issue 15 item 2, session 8). A text it cannot write (a lone surrogate) takes the sorting encoder."""
    if keys_sorted:
        try:
            return hashlib.sha256(to_json(body)).hexdigest()
        except PydanticSerializationError:
            pass
    return hashlib.sha256(_CANONICAL.encode(body).encode()).hexdigest()


def idempotency_state(key: str, fingerprint: str | None, *, now: datetime) -> ClaimItem | str | None:
    """None when ``key`` is unused; the claim when it was used for the same body; ``"reused"`` when it was
    used for another body (Stripe's rule: the key names one request, so this is refused, never replayed)."""
    claim = read_claim(key, now=now)
    if claim is None:
        return None
    if fingerprint and claim.fingerprint and claim.fingerprint != fingerprint:
        return "reused"
    return claim


def create(
    reg: Registration, *, now: datetime, idempotency_key: str | None, idempotency_ttl: timedelta,
    fingerprint: str | None = None,
) -> CreateOutcome:
    """Store a new registration, upsert its customer and take its unique claims, all in one transaction.

    Claims: the idempotency key (a webhook id, expiring after ``idempotency_ttl``) and the submitter's
    external reference (permanent). If either is taken, nothing is written and the first answer is returned.

    Customer claims (first come, first served): the same transaction puts one permanent claim per exact key
    of the customer (registry ids, normalised name key, website domain) that nobody holds yet. DynamoDB
    applies transactions one at a time, so of racing registrations of one customer exactly one takes a
    given key. A registration that finds a key already held is still stored, at once marked
    ``first_claim=False`` with ``duplicate_of`` the holder of its strongest held key; it claims whatever keys
    are still free. A lost race is retried with the keys re-read (bounded: keys are only ever taken).

    Pending cap: the same transaction adds one to the submitter's pending counter on the condition that
    it is below the cap, so racing submissions cannot exceed it.

    Raises:
        PendingCapError: the submitter is at the pending cap (nothing was written).
    """
    pending = _pending()
    PENDING, holders = pending.PENDING, pending.holders  # noqa: N806 - the constant's own name

    cap = _pending_cap()
    answer = {"id": reg.id, "status": reg.status.value}
    times = _ClaimTimes.at(now, idempotency_ttl)
    claims = _request_claims(reg, answer, times, idempotency_key=idempotency_key, fingerprint=fingerprint)
    customer_keys = customer_claim_keys(reg)
    # Customer claim key -> registration id of its holder, as last read. Read first (one consistent
    # BatchGetItem) so that only a true race makes the transaction fail and retry.
    held = held_claims(customer_keys, reg.id) if customer_keys else {}
    # Serialised once (issue 15 item 2): the registration item, without the claim fields a retry changes.
    reg_item = item_attributes(reg)
    customer_update = _customer_update(reg, now=now)
    for attempt in range(_CLAIM_ATTEMPTS):
        duplicate_of = next((held[k] for k in customer_keys if k in held), None)
        try:
            # The registration id is new per request; each attempt writes other claims, so it has its own token.
            with models.Transaction(connection=models.connection(),
                                    client_request_token=request_token("create", reg.id, attempt)) as tx:
                tx.put(_registration_put(reg_item, duplicate_of))
                tx.update_op(customer_update)
                for _, _, put in claims:
                    tx.put(put)
                for key in customer_keys:
                    if key not in held:
                        tx.put(_claim_put(key, reg.id, times))
                holders.count_pending(tx, reg.submitter, 1 if reg.status in PENDING else 0, now=now, cap=cap)
        except TransactWriteError as exc:
            # PynamoDB regroups the operations (puts before updates), so the reasons' order says little:
            # a failed condition means a claim was taken; read the claims to find which and whose.
            if not any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or []):
                raise
            mine = _stored(reg.id)
            if mine is not None:
                # Our registration id is new and random: it exists only if this very write committed, and the
                # SDK retried it after a timeout (the retry then fails every condition). It is stored: say so.
                return CreateOutcome(created=True, answer=answer, first_claim=bool(mine.first_claim),
                                     duplicate_of=mine.duplicate_of)
            first = _first_answer(claims, reg.id, fingerprint, now=now)
            if first is not None:
                return first
            # The pending counter's condition may have failed on a count that a decision has lowered since
            # (a race, not the cap): try again rather than fail the request.
            pending_moved = False
            if cap > 0 and reg.status in PENDING:
                if holders.pending_count(reg.submitter) >= cap:
                    raise PendingCapError(submitter=reg.submitter.id, cap=cap) from None
                pending_moved = True
            newly_held = _reread_customer_claims(customer_keys, held, reg.id, now=now)
            if not (newly_held or pending_moved):
                raise
            continue
        return CreateOutcome(created=True, answer=answer, first_claim=duplicate_of is None,
                             duplicate_of=duplicate_of)
    raise RuntimeError(f"customer claims of {reg.id} kept changing; gave up after {_CLAIM_ATTEMPTS} attempts")


def held_claims(keys: list[str], reg_id: str) -> dict[str, str]:
    """Of the claims ``keys``, those held by another registration than ``reg_id``: key -> its registration id.

    One consistent BatchGetItem, the request ``ClaimItem.batch_get(keys, consistent_read=True)`` sends, through
    the same connection (PynamoDB's dispatch and errors: ``GetError``), but reading the two attributes it needs
    from the answer instead of building a model per key (issue 15 item 2). Keys DynamoDB leaves unprocessed are
    asked again (``models.batch_get_rows``). At most 7 keys (``dedup_keys.exact_keys``): one page of up to 100."""
    table = ClaimItem.Meta.table_name
    request = {table: {"ConsistentRead": True, "Keys": [{"key": {"S": key}} for key in dict.fromkeys(keys)]}}
    held: dict[str, str] = {}
    for item in models.batch_get_rows(request)[table]:
        holder = item["registration_id"]["S"]
        if holder != reg_id:
            held[item["key"]["S"]] = holder
    return held


def _request_claims(reg: Registration, answer: dict, times: _ClaimTimes, *, idempotency_key: str | None,
                    fingerprint: str | None) -> list[tuple[str, str, dict]]:
    """The request's own claims, each with the first answer: the idempotency key (expiring) and the
    submitter's external reference (permanent). ``(kind, claim key, its Put)``."""
    claims: list[tuple[str, str, dict]] = []
    response = answer_text(answer)  # the same first answer on both claims: serialised once
    if idempotency_key:
        claims.append(("webhook", idempotency_key, _claim_put(idempotency_key, reg.id, times, response=response,
                                                              fingerprint=fingerprint, expires=True, unless_live=True)))
    if reg.external_ref:
        ext_key = f"extref#{reg.submitter.id}#{reg.external_ref}"
        claims.append(("external_ref", ext_key, _claim_put(ext_key, reg.id, times, response=response,
                                                           unless_live=True)))
    return claims


# --- the create transaction's operations, serialised once (issue 15 item 2) ---------------------------------------
# PynamoDB's TransactWrite.save/update build a model instance per item, serialise it through its attribute
# descriptors and render conditions and update expressions each time: most of the intake's CPU outside botocore.
# The operations below (and ``item_attributes``, ``holders.pending_update``) are the same DynamoDB requests, pinned
# byte for byte by tests/functional/test_intake_golden.py and, against PynamoDB's own rendering for every shape a
# create takes, by tests/unit/test_create_transaction.py: values serialised by the models' own attributes,
# expressions as PynamoDB renders them.

_NEW_REGISTRATION = "(attribute_not_exists (#0) AND attribute_not_exists (#1))"  # id.does_not_exist() + version's
_NEW_CLAIM = "attribute_not_exists (#0)"  # ClaimItem.key.does_not_exist()
_LIVE_CLAIM = "(attribute_not_exists (#0) OR #1 < :0)"  # _claim_is_live(now)


def _registration_put(reg_item: dict, duplicate_of: str | None) -> dict:
    """``tx.save(item, condition=RegistrationItem.id.does_not_exist())`` of the new registration (version 1)."""
    item = {**reg_item, "first_claim": {"BOOL": duplicate_of is None}, "version": {"N": "1"}}
    if duplicate_of is not None:
        item["duplicate_of"] = {"S": duplicate_of}
    return {"TableName": RegistrationItem.Meta.table_name, "Item": item, "ConditionExpression": _NEW_REGISTRATION,
            "ExpressionAttributeNames": {"#0": "id", "#1": "version"}}


class _ClaimTimes(NamedTuple):
    """``now`` as the claims store it, serialised once per create by ClaimItem's own attributes: ``created_at``,
    the TTL epoch a live claim is compared with, and the request claims' expiry epoch. A tuple: made on every
    create, and a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (session 9)."""

    created_at: str
    now_epoch: str
    expires_epoch: str

    @classmethod
    def at(cls, now: datetime, ttl: timedelta) -> _ClaimTimes:
        now_epoch = ttl_epoch(now)
        if ttl.microseconds:  # the expiry's whole seconds are not now's plus the TTL's
            return cls(utc_stamp(now), now_epoch, ttl_epoch(now + ttl))
        # A TTL of whole seconds moves the (floored) epoch by exactly that many: ``ttl_epoch(now + ttl)`` without
        # the second datetime and its arithmetic (session 9; equal over generated times and TTLs,
        # tests/unit/test_intake_hot_path.py).
        return cls(utc_stamp(now), now_epoch, str(int(now_epoch) + ttl.days * 86_400 + ttl.seconds))


def _claim_put(key: str, reg_id: str, times: _ClaimTimes, *, response: str | None = None,
               fingerprint: str | None = None, expires: bool = False, unless_live: bool = False) -> dict:
    """A claim's Put: ``unless_live`` (a request's claims) replaces an expired claim (``_claim_is_live``); else
    the key must not exist (a customer's claims are permanent). ``expires``: the claim expires (idempotency).
    ``response``: the first answer as ``ClaimItem.response`` stores it (serialised)."""
    item = {"key": {"S": key}, "registration_id": {"S": reg_id}, "created_at": {"S": times.created_at}}
    if response is not None:
        item["response"] = {"S": response}
    if fingerprint is not None:
        item["fingerprint"] = {"S": fingerprint}
    if expires:
        item["expires_at"] = {"N": times.expires_epoch}
    put = {"TableName": ClaimItem.Meta.table_name, "Item": item}
    if not unless_live:
        return {**put, "ConditionExpression": _NEW_CLAIM, "ExpressionAttributeNames": {"#0": "key"}}
    return {**put, "ConditionExpression": _LIVE_CLAIM, "ExpressionAttributeNames": {"#0": "key", "#1": "expires_at"},
            "ExpressionAttributeValues": {":0": {"N": times.now_epoch}}}


def _customer_update(reg: Registration, *, now: datetime) -> dict:
    """The customer row's Update: the first name and creation time kept, one more registration counted, the
    facts this registration names written over. As PynamoDB renders ``CustomerItem.name.set(CustomerItem.name |
    name), created_at.set(created_at | now), updated_at.set(now), registration_count.add(1)`` and a ``set`` of
    each fact given (SET clauses in that order, then ADD)."""
    customer = reg.customer
    stamp = utc_stamp(now)
    facts = [("registry_ids", CustomerItem.registry_ids.serialize([r.model_dump(mode="json") for r in customer.registry_ids])
              if customer.registry_ids else None),
             ("website", customer.website), ("country", customer.country), ("region", customer.region),
             ("industry", customer.industry)]
    names = ["name", "created_at", "updated_at", *(name for name, value in facts if value), "registration_count"]
    values = [{"S": customer.name}, {"S": stamp}, {"S": stamp}, *({"S": value} for _, value in facts if value),
              {"N": "1"}]
    last = len(names) - 1
    sets = [f"#{i} = if_not_exists (#{i}, :{i})" if i < 2 else f"#{i} = :{i}" for i in range(last)]
    return {"TableName": CustomerItem.Meta.table_name, "Key": {"customer_key": {"S": reg.customer_key}},
            "UpdateExpression": f"SET {', '.join(sets)} ADD #{last} :{last}",
            "ExpressionAttributeNames": {f"#{i}": name for i, name in enumerate(names)},
            "ExpressionAttributeValues": {f":{i}": value for i, value in enumerate(values)}}


def _first_answer(claims: list[tuple[str, str, dict]], reg_id: str, fingerprint: str | None, *,
                  now: datetime) -> CreateOutcome | None:
    """When another request holds one of this request's claims: its answer (a key reused for another body
    is refused as ``idempotency_key_reused``); else None."""
    for kind, key, _ in claims:
        stored = read_claim(key, now=now)
        if stored is not None and stored.registration_id != reg_id:
            if kind == "webhook" and fingerprint and stored.fingerprint and stored.fingerprint != fingerprint:
                return CreateOutcome(created=False, answer=stored.response, conflict="idempotency_key_reused")
            return CreateOutcome(created=False, answer=stored.response, conflict=kind)
    return None


def _reread_customer_claims(customer_keys: list[str], held: dict[str, str], reg_id: str, *, now: datetime) -> bool:
    """Re-read the customer keys not known to be held; record the newly held ones in ``held``. True when any
    was taken since the last read (the lost race a retry resolves)."""
    newly_held = False
    for key in customer_keys:
        stored = read_claim(key, now=now) if key not in held else None
        if stored is not None and stored.registration_id != reg_id:
            held[key] = stored.registration_id
            newly_held = True
    return newly_held


def _stored(reg_id: str) -> RegistrationItem | None:
    try:
        return RegistrationItem.get(reg_id, consistent_read=True)
    except RegistrationItem.DoesNotExist:
        return None


def read_claim(key: str, *, now: datetime) -> ClaimItem | None:
    """A claim, or None if absent or expired (moto, unlike DynamoDB, never deletes expired items)."""
    try:
        item = ClaimItem.get(key, consistent_read=True)
    except ClaimItem.DoesNotExist:
        return None
    if item.expires_at is not None and item.expires_at <= now:
        return None
    return item


def get(reg_id: str) -> Registration | None:
    try:
        return from_item(RegistrationItem.get(reg_id, consistent_read=True))
    except RegistrationItem.DoesNotExist:
        return None


_INDEXES = {
    "by_submitter": RegistrationItem.by_submitter,
    "by_owner": RegistrationItem.by_owner,
    "by_team": RegistrationItem.by_team,
}


def encode_cursor(key: dict | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode() if key else None


MAX_CURSOR_CHARS = 4096  # three key attributes, or one position per status shard (status_index)


def decode_cursor(cursor: str | None) -> dict | None:
    """The start key a cursor carries; ValueError for anything that isn't one of our keys."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise ValueError("not a cursor")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except RecursionError:
        raise ValueError("not a cursor") from None
    if not (isinstance(key, dict) and key and all(
            isinstance(v, dict) and list(v) == ["S"] and isinstance(v["S"], str) for v in key.values())):
        raise ValueError("not a cursor")
    return key


def list_page(
    index: str, key: str, *, status: str | None, limit: int, cursor: dict | None
) -> tuple[list[Registration], dict | None]:
    """One page, newest first, from one index partition; ``status`` filters within it. ``index="all"`` (an
    admin's unfiltered list) pages through the whole table in storage order."""
    if index == "all":
        if cursor is not None and set(cursor) != {"id"}:
            raise ValueError("cursor from another listing")
        result = RegistrationItem.scan(limit=limit, last_evaluated_key=cursor)
        items = [from_item(i) for i in result]
        return items, result.last_evaluated_key
    if index == "by_status":  # merged across the status shards (issue 15); its cursor has a position per shard
        found, next_cursor = status_index.page("created", key, forward=False, limit=limit, cursor=cursor)
        return [from_item(i) for i in found], next_cursor
    idx = _INDEXES[index]
    hash_attr = idx._hash_key_attribute().attr_name
    if cursor is not None and cursor.get(hash_attr, {}).get("S") != key:
        raise ValueError("cursor from another listing")  # would start outside the caller's partition
    range_attr = next((a.attr_name for a in idx.Meta.attributes.values() if a.is_range_key), None)
    expected = {RegistrationItem._hash_key_attribute().attr_name, hash_attr, *([range_attr] if range_attr else [])}
    if cursor is not None and set(cursor) != expected:
        raise ValueError("cursor with other keys")  # DynamoDB refuses a start key that is not the index's key
    condition = RegistrationItem.status == status if status else None
    result = idx.query(key, filter_condition=condition, scan_index_forward=False, limit=limit,
                       last_evaluated_key=cursor)
    items = [from_item(i) for i in result]
    return items, result.last_evaluated_key


def apply_transition(reg: Registration, entry: AuditEntry, *, now: datetime) -> bool:
    """Write a status move with its audit line, only if the registration is still as it was read.

    Returns False (and changes nothing) when another writer got there first. A move into or out of
    submitted/pending_review moves the submitter's pending counter in the same transaction.

    Raises:
        PendingCapError: a move back into review (resubmission) with the submitter at the pending cap.
    """
    pending = _pending()
    PENDING, holders = pending.PENDING, pending.holders  # noqa: N806 - the constant's own name

    source = entry.from_status or RegistrationStatus.SUBMITTED
    actions = [
        *status_index.stamp(reg.id, entry.to_status.value),
        RegistrationItem.updated_at.set(now),
        RegistrationItem.audit.set(RegistrationItem.audit.append([AuditEntryMap.from_entry(entry)])),
    ]
    condition = RegistrationItem.status == source.value
    delta = (entry.to_status in PENDING) - (source in PENDING)
    if delta == 0 or holders.submitter_counter(reg.submitter) is None:
        try:
            RegistrationItem(reg.id, version=reg.version).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
    cap = _pending_cap()
    try:
        # Two callers may race from the same version: the token is per call, not per (id, version).
        with models.Transaction(connection=models.connection(),
                                client_request_token=request_token("transition", reg.id, uuid.uuid4())) as tx:
            tx.update(RegistrationItem(reg.id, version=reg.version), actions=actions, condition=condition)
            holders.count_pending(tx, reg.submitter, delta, now=now, cap=cap)
    except TransactWriteError as exc:
        if not any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or []):
            raise
        current = get(reg.id)
        if current is None or current.version != reg.version or current.status is not source:
            return False
        raise PendingCapError(submitter=reg.submitter.id, cap=cap) from None
    return True


# --- approval workflow (issue 5): edits, audit lines without a status move, the stalled-submission sweep -------

def append_audit(reg: Registration, entry: AuditEntry, *, now: datetime) -> bool:
    """Append an audit line that moves no status (a recorded approval level, a re-check), only if the
    registration is still at the status and version read. False (nothing written) when it is not."""
    return _update_as_read(reg, entry, [RegistrationItem.updated_at.set(now)])


def _update_as_read(reg: Registration, entry: AuditEntry, actions: list) -> bool:
    """``actions`` plus the audit line ``entry``, only if the registration is still at the version (the model's
    optimistic lock) and status read; False, nothing written, when another writer got there first."""
    try:
        RegistrationItem(reg.id, version=reg.version).update(
            actions=[*actions, RegistrationItem.audit.set(RegistrationItem.audit.append([AuditEntryMap.from_entry(entry)]))],
            condition=RegistrationItem.status == reg.status.value)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def update_payload(reg: Registration, payload: RegistrationCreate, entry: AuditEntry, *, now: datetime,
                   idempotency_key: str | None = None, idempotency_ttl: timedelta | None = None,
                   fingerprint: str | None = None) -> str:
    """Replace the submitted payload (and the attributes derived from it) with its ``updated`` audit line.

    Conditioned on the status and version read. With ``idempotency_key`` (a partner's webhook id) a claim is
    taken in the same transaction, so a redelivered update writes nothing.

    Returns:
        ``"updated"``; ``"replayed"`` when the idempotency key was already used for this registration;
        ``"reused"`` when it was used for a different body (nothing written);
        ``"lost"`` when the registration changed meanwhile (nothing written).
    """
    from chalicelib.domain.registration import customer_key

    money = payload.project.expected_amount
    actions = [
        RegistrationItem.data.set(payload.model_dump(mode="json")),
        RegistrationItem.customer_key.set(customer_key(payload.customer)),
        RegistrationItem.customer_name.set(payload.customer.name),
        RegistrationItem.project_title.set(payload.project.title),
        RegistrationItem.expected_amount.set(str(money.amount)),
        RegistrationItem.currency.set(money.currency),
        RegistrationItem.updated_at.set(now),
        RegistrationItem.audit.set(RegistrationItem.audit.append([AuditEntryMap.from_entry(entry)])),
    ]
    condition = RegistrationItem.status == reg.status.value
    try:
        with TransactWrite(connection=models.connection(),
                           client_request_token=request_token("update", reg.id, uuid.uuid4())) as tx:
            tx.update(RegistrationItem(reg.id, version=reg.version), actions=actions, condition=condition)
            if idempotency_key:
                tx.save(ClaimItem(idempotency_key, registration_id=reg.id, created_at=now, fingerprint=fingerprint,
                                  response={"id": reg.id, "status": reg.status.value},
                                  expires_at=now + (idempotency_ttl or timedelta(days=7))),
                        condition=_claim_is_live(now))
    except TransactWriteError as exc:
        if not any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or []):
            raise
        if idempotency_key:
            claim = idempotency_state(idempotency_key, fingerprint, now=now)
            if claim == "reused":
                return "reused"
            if claim is not None and claim.registration_id == reg.id:
                return "replayed"
        return "lost"
    return "updated"


def stamp_review_flag(reg_id: str, flag: str | None) -> None:
    """Show a registry's review flag on the registration, without bumping its version (a flag must never make
    a concurrent decision lose its race)."""
    from pynamodb.exceptions import UpdateError

    conn = RegistrationItem._get_connection()
    action = RegistrationItem.review_flag.set(flag) if flag else RegistrationItem.review_flag.remove()
    try:
        conn.update_item(reg_id, actions=[action], condition=RegistrationItem.id.exists())
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def by_external_ref(submitter_id: str, external_ref: str, *, now: datetime) -> str | None:
    """The id of the registration ``submitter_id`` registered under ``external_ref`` (its permanent claim)."""
    claim = read_claim(f"extref#{submitter_id}#{external_ref}", now=now)
    return claim.registration_id if claim is not None else None


def stalled_submissions(before: datetime, *, limit: int = 100,
                        start: dict | None = None) -> tuple[list[Registration], dict | None]:
    """One page of registrations still ``submitted`` and unchanged since ``before``, oldest first.

    The sharded status index with ``created_at < before`` as the key condition (a registration unchanged since
    ``before`` was created before it), so the read is bounded to old submissions; never a scan.
    """
    found, cursor = status_index.page(
        "created", RegistrationStatus.SUBMITTED.value, RegistrationItem.created_at < before, forward=True,
        limit=limit, cursor=start, filter_condition=RegistrationItem.updated_at < before)
    return [from_item(i) for i in found], cursor


# --- pipeline (issue 18): the audited stage move ----------------------------------------------------------------

def move_stage(reg: Registration, to: SalesStage, entry: AuditEntry, *, now: datetime) -> bool:
    """Set the sales stage with its ``stage_changed`` audit line, only if the registration is still at the
    version and status read (False, nothing written, when another writer got there first)."""
    payload = RegistrationCreate.model_validate(reg.model_dump(include=set(RegistrationCreate.model_fields)))
    data = payload.model_copy(update={"sales_stage": to}).model_dump(mode="json")
    return _update_as_read(reg, entry, [RegistrationItem.data.set(data), RegistrationItem.updated_at.set(now)])
