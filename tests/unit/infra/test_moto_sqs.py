"""``infra.local.moto_sqs``: a receive checks retention without building the queue's attribute map per
message (moto 5.2.5 counts the whole queue each time), and the retention rule still holds."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from infra.local import moto_index, moto_sqs


@pytest.fixture()
def sqs():
    moto_sqs.install()
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_a_receive_does_not_build_the_attribute_map_per_message(sqs, monkeypatch):
    from moto.sqs.models import Queue

    url = sqs.create_queue(QueueName="backlog")["QueueUrl"]
    for start in range(0, 200, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"}
                                                      for i in range(start, start + 10)])
    built = []
    real = Queue.attributes.fget

    def counting(self):
        built.append(1)
        return real(self)

    monkeypatch.setattr(Queue, "attributes", property(counting))
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 10
    assert built == []  # moto 5.2.5 alone builds it 3 times per message handed out (30 here)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "190" and attrs["ApproximateNumberOfMessagesNotVisible"] == "10"


def test_a_message_past_the_retention_period_is_still_not_delivered(sqs):
    from moto.sqs.models import sqs_backends

    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    queue = sqs_backends["123456789012"]["us-east-1"].get_queue("short")
    queue._messages[0].sent_timestamp -= 61_000  # sent 61 s ago (milliseconds)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    sqs.send_message(QueueUrl=url, MessageBody="fresh")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["fresh"]


def test_another_moto_version_is_refused_loudly(monkeypatch):
    import moto

    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(moto_index.MotoVersionError, match="5.3.0"):
        moto_sqs.install()


def test_visible_delayed_and_in_flight_messages_are_counted_and_listed_with_one_clock_reading(sqs, monkeypatch):
    from moto.sqs.models import Message

    url = sqs.create_queue(QueueName="mixed")["QueueUrl"]
    for start in range(0, 100, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"now{i:03d}"}
                                                      for i in range(start, start + 10)])
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"later{i}", DelaySeconds=600)
    reads = []
    real_visible, real_delayed = Message.visible.fget, Message.delayed.fget

    def visible(self):
        reads.append("visible")
        return real_visible(self)

    def delayed(self):
        reads.append("delayed")
        return real_delayed(self)

    monkeypatch.setattr(Message, "visible", property(visible))
    monkeypatch.setattr(Message, "delayed", property(delayed))
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=4, VisibilityTimeout=600)["Messages"]
    assert len(got) == 4
    assert len(reads) <= 4  # moto's loop re-checks each message it hands out; the listing reads the clock once
    reads.clear()
    sqs.send_message(QueueUrl=url, MessageBody="one more")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert reads == []  # moto 5.2.5 alone: two readings per message of the queue, per count, per call
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"],
            attrs["ApproximateNumberOfMessagesDelayed"]) == ("97", "4", "3")
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert all(m["Body"].startswith(("now", "one")) for m in rest)  # never a delayed or in-flight one
    assert not {m["Body"] for m in rest} & {m["Body"] for m in got}
