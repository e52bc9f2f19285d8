"""Notification outbox: fan domain events out to delivery records, deliver them, show the local inbox.

Triggers:
- ``fan_out_notifications`` — the ``notifications`` SQS queue (filter: the types in
  ``domain.notifications.RECIPIENT_POLICY``). Input: any domain event. Side effects: one delivery record per
  recipient and channel (conditional put on its stable id, so a redelivered event creates nothing), then an
  immediate first attempt for the non-digest ones. Failures: storage errors -> batch item failure (retried,
  then the DLQ); unparseable messages parked; a failed first attempt is the outbox's business (retried by
  the schedule), never the message's.
- ``deliver_notifications`` — every minute. Reads due deliveries through the sparse ``ByLaneIndex`` and
  sends them (claim with a lease -> send -> conditional "sent"; or backoff with jitter; or park).
- ``GET /v1/notifications`` — the caller's own notifications (any principal), newest first, paginated, each as
  the caller may see it (``domain.visibility.event``, as partner callbacks); ``POST /v1/notifications/{id}/read``
  marks one read (conditional, first time only; another's id answers 404).
- ``GET /v1/dev/inbox`` — local mode only (``DEALREG_LOCAL=1``; 404 otherwise): what the ``local`` channel
  received, newest first; admins see everyone's, anyone else their own.
"""
from __future__ import annotations

import logging

from chalice import Blueprint

from chalicelib import settings
from chalicelib.http import HttpError, api, bearer_principal, json_response, parse_query

bp = Blueprint(__name__)
logger = logging.getLogger("dealreg.notify")
QUEUE = "notifications"
SUBSCRIBES_TO = settings.QUEUES[QUEUE]


@bp.on_sqs_message(queue=settings.get().queue(QUEUE), batch_size=10)
def fan_out_notifications(event):
    from chalicelib.handlers._batch import process_sqs

    return process_sqs(event, QUEUE, _fan_out)


def _fan_out(evt) -> None:
    from chalicelib import clock
    from chalicelib.services import notification_outbox

    if evt.type not in SUBSCRIBES_TO:
        return
    created = notification_outbox.fan_out(evt, now=clock.now())
    immediate = [d for d in created if d.digest == "off"]
    if not immediate:
        return
    try:
        notification_outbox.deliver(immediate, now=clock.now())
    except Exception as exc:  # noqa: BLE001 - the records are stored; the schedule retries them
        logger.warning("first attempt for %s failed: %s", evt.id, type(exc).__name__)


@bp.schedule("rate(1 minute)")
def deliver_notifications(event):
    from chalicelib import clock
    from chalicelib.handlers._batch import time_left
    from chalicelib.services import notification_outbox

    report = notification_outbox.deliver_due(now=clock.now(), time_left=time_left(event))
    return {"sent": report.sent, "retrying": report.retrying, "parked": report.parked, "skipped": report.skipped}


@bp.route("/v1/dev/inbox", methods=["GET"])
@api(responses={200: "InboxPage"}, query="schemas.notifications:InboxQuery",
     summary="Local mode only: messages the local channel delivered (newest first)")
def dev_inbox():
    from chalicelib.domain.access import Role
    from chalicelib.store import notifications as store
    from schemas.common import Actor
    from schemas.notifications import InboxEntry, InboxPage, InboxQuery

    if not settings.get().local:
        raise HttpError(404, "not_found", "the development inbox exists in local mode only")
    principal = bearer_principal(bp.current_request.headers)
    limit = parse_query(InboxQuery, bp.current_request.query_params).limit
    me = f"{principal.kind.value}:{principal.id}"
    items = [i for i in store.inbox(limit=limit if principal.role is Role.ADMIN else 200)
             if principal.role is Role.ADMIN or i.recipient == me][:limit]
    return json_response(200, InboxPage(items=[InboxEntry(
        id=i.id, event_id=i.event_id, event_type=i.event_type, recipient=Actor.from_ref(i.recipient), locale=i.locale,
        title=i.title, text=i.text, link=i.link, sent_at=i.sent_at) for i in items]))


def _notification(item):
    from schemas.notifications import Notification

    return Notification(id=item.id, event_id=item.event_id, event_type=item.event_type, locale=item.locale,
                        title=item.title, text=item.text, link=item.link, created_at=item.created_at,
                        read_at=item.read_at, event=dict(item.payload) if item.payload is not None else None)


@bp.route("/v1/notifications", methods=["GET"])
@api(responses={200: "NotificationPage"}, query="schemas.notifications:NotificationQuery",
     summary="Your notifications, newest first (partners: redacted as their callbacks are)")
def list_notifications():
    from chalicelib.store import notifications as store
    from chalicelib.store.registrations import decode_cursor, encode_cursor
    from schemas.notifications import NotificationPage, NotificationQuery

    principal = bearer_principal(bp.current_request.headers)
    query = parse_query(NotificationQuery, bp.current_request.query_params)
    try:
        cursor = decode_cursor(query.cursor)
    except ValueError:
        raise HttpError(422, "validation_failed", "bad cursor",
                        errors=[{"loc": "query.cursor", "type": "value_error"}]) from None
    me = f"{principal.kind.value}:{principal.id}"
    if cursor is not None and cursor.get("inbox_of", {}).get("S") != me:
        raise HttpError(422, "validation_failed", "bad cursor", errors=[{"loc": "query.cursor", "type": "value_error"}])
    items, last = store.notifications(me, limit=query.limit, cursor=cursor)
    return json_response(200, NotificationPage(items=[_notification(i) for i in items],
                                               next_cursor=encode_cursor(last)))


@bp.route("/v1/notifications/{notification_id}/read", methods=["POST"])
@api(responses={200: "Notification"}, summary="Mark one of your notifications read (repeating it changes nothing)")
def read_notification(notification_id: str):
    from chalicelib import clock
    from chalicelib.store import notifications as store

    principal = bearer_principal(bp.current_request.headers)
    item = store.mark_read(notification_id[:64], f"{principal.kind.value}:{principal.id}", now=clock.now())
    if item is None:
        raise HttpError(404, "not_found", "no such notification of yours")
    return json_response(200, _notification(item))
