"""Stream consumer: registration changes -> domain events on the one SNS topic.

Trigger: the registrations table's DynamoDB stream (NEW_AND_OLD_IMAGES). Input: stream records.
Side effects: one SNS message per new audit entry, with a ``type`` attribute that queue subscriptions
filter on; the pipeline board's and cockpit's aggregates move by the change's difference (once per stream record). Failures: a record that fails is reported as a batch item failure (the deployment template turns
on ReportBatchItemFailures, bisect-on-error, a retry limit and an on-failure queue), so one poison record
cannot block the shard.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib import settings

if TYPE_CHECKING:
    from chalicelib.handlers._batch import StreamRecord

bp = Blueprint(__name__)


@bp.on_dynamodb_record(stream_arn=settings.get().registrations_stream_arn, batch_size=100,
                       starting_position="TRIM_HORIZON")
def publish_domain_events(event):
    from chalicelib.handlers._batch import process_stream

    return process_stream(event, _publish_record)


def _image(raw: dict | None):
    from chalicelib.store.models import RegistrationItem
    from chalicelib.store.registrations import from_item

    return from_item(RegistrationItem.from_raw_data(raw)) if raw else None


def _publish_record(record: StreamRecord) -> None:
    from chalicelib.domain.events import events_for_change
    from chalicelib.store import publisher

    new = _image(record.new_image)
    if new is None:  # a delete: registrations are never deleted by the app; nothing to announce
        return
    old = _image(record.old_image)
    publisher.publish(events_for_change(old, new, model=_published_model(), attribute_of=_attribute_of))
    _count_on_board(record, old, new)


def _attribute_of(reg):
    """The attribute score with the customer's registry facts (``store.scoring.attribute_scorer``); an unreadable
    enrichment never holds events back: they go out without the score (logged)."""
    from chalicelib.store import scoring

    try:
        return scoring.attribute_scorer()(reg)
    except Exception:  # noqa: BLE001 — a scoring outage must not stop the event stream
        import logging

        logging.getLogger(__name__).warning("attribute score unavailable; event goes out without it", exc_info=True)
        return None


def _published_model():
    """The published scoring model (issue 19: events carry its win probability), cached per warm function. An
    unreadable model never holds events back: they go out without the probability (logged)."""
    from chalicelib.store import scoring

    try:
        return scoring.current_model(settings.get().model_cache_seconds)
    except Exception:  # noqa: BLE001 — a scoring outage must not stop the event stream
        import logging

        logging.getLogger(__name__).warning("scoring model unreadable; events go out without model_probability",
                                            exc_info=True)
        return None


def _count_on_board(record: StreamRecord, old, new) -> None:
    """Keep the pipeline board's and the cockpit's aggregates (issue 18): the change's difference, applied once
    per record (one transaction)."""
    from chalicelib import clock
    from chalicelib.domain import board, cockpit
    from chalicelib.store import aggregates

    change = board.deltas(old, new) + cockpit.deltas(old, new)
    if change:
        aggregates.apply(record.event_id, change, now=clock.now())
