"""SQS receives in the local stand-in that do not cost the whole queue per message.

moto 5.2.5's ``receive_message`` checks each message it hands out against the queue's retention period by
calling ``get_queue_attributes(queue, ["MessageRetentionPeriod"])``, which builds the queue's *whole*
attribute map — three times — and that map counts visible, delayed and in-flight messages over every
message of the queue (each with a clock read). With a backlog of M messages a batch of 10 costs ~30·M
clock reads under the stand-in's one lock: profiled under `bench/local_load.py`, 86 % of the stand-in's busy
time, and the backlog grows because of it. This patch reads the retention period from the queue itself,
which is the value that map holds (``Queue._set_attributes`` stores it as an int), and keeps moto's rule.

The attribute map is still built by every ``SendMessage`` (moto reads ``ContentBasedDeduplication`` from
it) and the visible messages are listed by every receive; each message's ``visible`` and ``delayed`` read
the clock (two datetime conversions each). ``Queue.messages`` and the two counts are replaced by the same
predicates over one clock reading per call (``visible_at < now``, ``delayed_until > now``).

Written against moto 5.2.5 only: :func:`install` raises on any other version.
"""
from __future__ import annotations

from typing import Any

from infra.local.moto_index import MotoVersionError

PATCHED_MOTO = "5.2.5"


def install() -> None:
    import moto
    from moto.core.utils import unix_time, unix_time_millis
    from moto.sqs.models import Queue, SQSBackend

    if moto.__version__ != PATCHED_MOTO:
        raise MotoVersionError(
            f"infra/local/moto_sqs.py patches moto {PATCHED_MOTO}'s SQS retention check, but moto "
            f"{moto.__version__} is installed: check SQSBackend.is_message_valid_based_on_retention_period")
    if getattr(SQSBackend, "_dealreg_cheap_retention", False):
        return

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    def messages(self: Any) -> list:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period)
    Queue.messages = property(messages)  # type: ignore[method-assign, assignment]
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[method-assign, assignment]
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[method-assign, assignment]
    SQSBackend._dealreg_cheap_retention = True  # type: ignore[attr-defined]
