"""SQS receives in the local stand-in that do not cost the whole queue per message.

moto 5.2.5's ``receive_message`` checks each message it hands out against the queue's retention period by
calling ``get_queue_attributes(queue, ["MessageRetentionPeriod"])``, which builds the queue's *whole*
attribute map — three times — and that map counts visible, delayed and in-flight messages over every
message of the queue (each with a clock read). With a backlog of M messages a batch of 10 costs ~30·M
clock reads under the stand-in's one lock: profiled under `bench/local_load.py`, 86 % of the stand-in's busy
time, and the backlog grows because of it. This patch reads the retention period from the queue itself,
which is the value that map holds (``Queue._set_attributes`` stores it as an int), and keeps moto's rule.

Written against moto 5.2.5 only: :func:`install` raises on any other version.
"""
from __future__ import annotations

from typing import Any

from infra.local.moto_index import MotoVersionError

PATCHED_MOTO = "5.2.5"


def install() -> None:
    import moto
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if moto.__version__ != PATCHED_MOTO:
        raise MotoVersionError(
            f"infra/local/moto_sqs.py patches moto {PATCHED_MOTO}'s SQS retention check, but moto "
            f"{moto.__version__} is installed: check SQSBackend.is_message_valid_based_on_retention_period")
    if getattr(SQSBackend, "_dealreg_cheap_retention", False):
        return

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period)
    SQSBackend._dealreg_cheap_retention = True  # type: ignore[attr-defined]
