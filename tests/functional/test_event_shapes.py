"""The local runner's Lambda events have the shapes Lambda delivers, checked against Powertools' own models,
and enrichment's back-off acts on the record's queue URL (issue 17 item 8)."""
from __future__ import annotations

from tests.functional.helpers import example, make_partner, post_webhook


def test_the_runner_hands_handlers_events_that_powertools_models_accept(suite, monkeypatch):
    from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel, SqsModel

    seen: list[tuple[str, dict]] = []
    invoke = suite.runner.invoke

    def spy(name, event, ids, **kw):
        seen.append((name, event))
        return invoke(name, event, ids, **kw)

    monkeypatch.setattr(suite.runner, "invoke", spy)
    # WHEN a registration goes through intake, the stream and the queues
    secret, _ = make_partner("acme")
    assert post_webhook(suite.api, "acme", secret, example()).status == 202
    suite.runner.pump()
    by_source: dict[str, list[tuple[str, dict]]] = {}
    for name, event in seen:
        for record in event["Records"]:
            by_source.setdefault(record.get("eventSource"), []).append((name, event))
    # THEN both kinds were delivered, and every event validates as Powertools parses Lambda's
    assert by_source.keys() >= {"aws:sqs", "aws:dynamodb"}, by_source.keys()
    for name, event in by_source["aws:sqs"]:
        parsed = SqsModel.model_validate(event)
        assert all(r.eventSourceARN.startswith("arn:aws:sqs:us-east-1:") for r in parsed.Records), name
    for name, event in by_source["aws:dynamodb"]:
        parsed = DynamoDBStreamModel.model_validate(event)
        assert all(r.dynamodb.Keys for r in parsed.Records), name


def test_enrichment_back_off_uses_the_records_queue_url_without_looking_it_up(suite, monkeypatch, caplog):
    from chalicelib.handlers import enrichment
    from chalicelib.handlers._batch import QueueMessage
    from chalicelib.store import aws

    sqs = suite.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{suite.prefix}-enrichment")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    [msg] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    record = QueueMessage.from_record({"messageId": msg["MessageId"], "receiptHandle": msg["ReceiptHandle"], "body": msg["Body"],
                        "attributes": {"ApproximateReceiveCount": "2"}, "messageAttributes": {},
                        "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1"})
    calls: list[str] = []
    real = aws.client

    class Spy:
        def __init__(self, client):
            self._client = client

        def __getattr__(self, name):
            calls.append(name)
            return getattr(self._client, name)

    monkeypatch.setattr(aws, "client", lambda service: Spy(real(service)))
    with caplog.at_level("WARNING", logger="dealreg.enrichment"):
        enrichment._back_off(record, 2, None)
    # one call, on the record's own queue, and the stand-in accepted it (a refusal is logged, not raised)
    assert calls == ["change_message_visibility"]
    assert "could not set the backoff" not in caplog.text
    # the message stays hidden past its original 1 s visibility: the back-off (minutes) took effect
    import time

    time.sleep(1.5)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
