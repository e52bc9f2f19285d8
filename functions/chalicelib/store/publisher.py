"""Publishing domain events to the one SNS topic. The only place that talks to SNS.

Each message carries a ``type`` attribute (queue subscriptions filter on it). Publishing happens after
the write it announces; a retry after a failed publish sends the same event id again, which consumers
deduplicate on, so at-least-once delivery is safe.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from chalicelib import settings
from chalicelib.store import aws

logger = logging.getLogger("dealreg.events")


def publish(events: Iterable) -> int:
    """Publish each event (a schemas.events model); return how many were sent."""
    sns = aws.client("sns")
    topic = settings.get().events_topic_arn
    sent = 0
    for evt in events:
        sns.publish(
            TopicArn=topic,
            Message=evt.model_dump_json(),
            MessageAttributes={"type": {"DataType": "String", "StringValue": evt.type}},
        )
        logger.info("published %s %s", evt.type, evt.id)
        sent += 1
    return sent
