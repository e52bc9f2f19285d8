"""The local event runner: delivers the Chalice app's non-HTTP event sources the way Lambda does.

Event sources are discovered from ``app.event_sources``: DynamoDB stream records, SQS messages and
``schedule`` handlers. Each is invoked through ``app.handler_map`` with a Lambda-shaped event, and the
partial-batch answer is honoured as Lambda's ReportBatchItemFailures does: succeeded SQS messages are
deleted, failed ones come back after the visibility timeout and move to the DLQ after maxReceiveCount;
a failed stream record is retried from its sequence number up to ``STREAM_MAX_RETRIES`` times, then sent
to the stream-failures queue (the template's on-failure destination) and skipped.

Tests call :meth:`EventRunner.pump` to deliver everything pending synchronously; ``make run`` calls
:meth:`EventRunner.start` to poll in background threads.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from infra.iam_check import acting_as

logger = logging.getLogger("dealreg.runner")
STREAM_MAX_RETRIES = 5


class LambdaContext:
    def __init__(self, function_name: str, region: str, timeout_seconds: int = 60) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:dealreg-local-{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _failed_ids(answer: Any) -> set[str] | None:
    """Ids in a ReportBatchItemFailures answer; None means "everything failed" (the handler raised)."""
    if isinstance(answer, dict) and isinstance(answer.get("batchItemFailures"), list):
        return {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    return set()


class _StreamSource:
    def __init__(self, runner: EventRunner, name: str, arn: str, batch_size: int) -> None:
        self.runner, self.name, self.arn, self.batch_size = runner, name, arn, batch_size
        self.client = runner.client("dynamodbstreams")
        # Resolve the table's current stream: the ARN in the decorator may be a placeholder (the deployment
        # template substitutes the real one, and a local table gets a new stream label each time it's made).
        table = arn.split(":table/", 1)[1].split("/", 1)[0]
        self.arn = arn = runner.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.iterators: dict[str, str | None] = {}
        self.retries: dict[str, int] = {}
        for shard in self.client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            self.iterators[shard["ShardId"]] = self.client.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")["ShardIterator"]

    def skip_to_end(self) -> None:
        """Start every shard after its last record (Lambda's StartingPosition LATEST for a new mapping)."""
        for shard_id in self.iterators:
            self.iterators[shard_id] = self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="LATEST")["ShardIterator"]

    def poll(self) -> int:
        delivered = 0
        for shard_id, iterator in list(self.iterators.items()):
            if iterator is None:
                continue
            page = self.client.get_records(ShardIterator=iterator, Limit=self.batch_size)
            records = page["Records"]
            if not records:
                self.iterators[shard_id] = page.get("NextShardIterator")
                continue
            event = {"Records": [self._lambda_record(r) for r in records]}
            failed = self.runner.invoke(self.name, event, ids=[r["dynamodb"]["SequenceNumber"] for r in records])
            delivered += len(records)
            if not failed:
                self.iterators[shard_id] = page.get("NextShardIterator")
                continue
            first_failed = min(failed, key=int)
            tries = self.retries.get(first_failed, 0) + 1
            self.retries[first_failed] = tries
            if tries <= STREAM_MAX_RETRIES:
                restart = first_failed
                kind = "AT_SEQUENCE_NUMBER"
            else:
                bad = [r for r in records if r["dynamodb"]["SequenceNumber"] == first_failed]
                self.runner.park_stream_record(self.arn, bad[0] if bad else {"SequenceNumber": first_failed})
                restart, kind = first_failed, "AFTER_SEQUENCE_NUMBER"
            self.iterators[shard_id] = self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard_id, ShardIteratorType=kind, SequenceNumber=restart,
            )["ShardIterator"]
        return delivered

    def _lambda_record(self, record: dict) -> dict:
        out = dict(record)
        ddb = dict(out["dynamodb"])
        created = ddb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            ddb["ApproximateCreationDateTime"] = int(created.timestamp())
        elif isinstance(created, str):
            ddb["ApproximateCreationDateTime"] = int(datetime.fromisoformat(created).timestamp())
        out["dynamodb"] = ddb
        out["eventSourceARN"] = self.arn  # Lambda adds it; the Streams API doesn't
        out.setdefault("awsRegion", self.runner.region)
        return out


class _QueueSource:
    def __init__(self, runner: EventRunner, name: str, queue: str, batch_size: int) -> None:
        self.runner, self.name, self.batch_size = runner, name, min(batch_size, 10)
        self.client = runner.client("sqs")
        self.url = self.client.get_queue_url(QueueName=queue)["QueueUrl"]
        self.arn = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]

    def poll(self) -> int:
        msgs = self.client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not msgs:
            return 0
        event = {"Records": [self._lambda_record(m) for m in msgs]}
        failed = self.runner.invoke(self.name, event, ids=[m["MessageId"] for m in msgs])
        done = [m for m in msgs if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.client.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
        return len(msgs)

    def _lambda_record(self, m: dict) -> dict:
        return {
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "md5OfBody": m.get("MD5OfBody", ""),
            "messageAttributes": {
                name: {"stringValue": a.get("StringValue"), "dataType": a.get("DataType"),
                       "stringListValues": [], "binaryListValues": []}
                for name, a in m.get("MessageAttributes", {}).items()
            },
            "eventSource": "aws:sqs", "eventSourceARN": self.arn, "awsRegion": self.runner.region,
        }


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")


def _cron_field_matches(spec: str, value: int) -> bool:
    for part in spec.split(","):
        if part in ("*", "?"):
            return True
        step = 1
        if "/" in part:
            part, step_s = part.split("/")
            step = int(step_s)
        if part in ("*", ""):
            lo, hi = 0, 10**6
        elif "-" in part:
            lo, hi = (int(x) for x in part.split("-"))
        else:
            lo = hi = int(part)
            if step > 1:
                hi = 10**6
        if lo <= value <= hi and (value - lo) % step == 0:
            return True
    return False


def cron_matches(expression: str, at: datetime) -> bool:
    """Does an EventBridge ``cron(min hour dom month dow year)`` fire in ``at``'s minute (UTC)?

    Numeric fields, ``*``, ``?``, lists, ranges and steps; day-of-week 1-7 = SUN-SAT as EventBridge has it.
    """
    fields = expression.strip()[5:-1].split()
    minute, hour, dom, month, dow, year = fields
    weekday = (at.isoweekday() % 7) + 1  # SUN=1 ... SAT=7
    return all((
        _cron_field_matches(minute, at.minute), _cron_field_matches(hour, at.hour),
        _cron_field_matches(dom, at.day), _cron_field_matches(month, at.month),
        _cron_field_matches(dow, weekday), _cron_field_matches(year, at.year),
    ))


class _ScheduleSource:
    def __init__(self, runner: EventRunner, name: str, expression: str) -> None:
        self.runner, self.name, self.expression = runner, name, expression
        self.last = runner.now()
        match = _RATE.match(expression)
        self.every: timedelta | None = None
        if match:
            n, unit = int(match.group(1)), match.group(2).rstrip("s")
            self.every = timedelta(**{f"{unit}s": n})
        elif not expression.startswith("cron("):
            raise ValueError(f"unsupported schedule expression {expression!r}")

    def due(self, now: datetime) -> bool:
        if self.every is not None:
            return now - self.last >= self.every
        # cron: fire once per matching minute between the last check and now
        minute = self.last.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while minute <= now:
            if cron_matches(self.expression, minute):
                return True
            minute += timedelta(minutes=1)
        return False

    def poll(self, force: bool = False) -> int:
        now = self.runner.now()
        if not (force or self.due(now)):
            return 0
        self.last = now
        event = {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": self.runner.region,
            "resources": [f"arn:aws:events:{self.runner.region}:000000000000:rule/{self.name}"], "detail": {},
        }
        self.runner.invoke(self.name, event, ids=[], lambda_metrics=True)
        return 1


class EventRunner:
    """Delivers stream, queue and schedule events of ``app`` against the endpoint in ``client``."""

    def __init__(self, app: Any, *, client: Callable[[str], Any], region: str, now: Callable[[], datetime],
                 stream_failure_queue: str | None = None) -> None:
        from chalice.app import DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig

        self.app, self.client, self.region, self.now = app, client, region, now
        self._stream_failure_queue = stream_failure_queue
        self.streams: list[_StreamSource] = []
        self.queues: list[_QueueSource] = []
        self.schedules: list[_ScheduleSource] = []
        for src in app.event_sources:
            if isinstance(src, DynamoDBEventConfig):
                self.streams.append(_StreamSource(self, src.name, src.stream_arn, src.batch_size))
            elif isinstance(src, SQSEventConfig):
                self.queues.append(_QueueSource(self, src.name, src.queue or src.queue_arn.split(":")[-1],
                                                src.batch_size))
            elif isinstance(src, ScheduledEventConfig):
                expr = src.schedule_expression
                self.schedules.append(_ScheduleSource(self, src.name, expr if isinstance(expr, str)
                                                      else expr.to_string()))
            else:
                logger.warning("event source %s (%s) is not run locally", src.name, type(src).__name__)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.invocations: dict[str, int] = {}

    def invoke(self, name: str, event: dict, ids: list[str], *, lambda_metrics: bool = False) -> set[str]:
        """Call handler ``name`` as Lambda would; return the ids that failed.

        With ``lambda_metrics`` the run is also counted as Lambda counts it (``AWS/Lambda`` Invocations and
        Errors of function ``name``), so ``dealreg status`` reads a local schedule's last run like a deployed one.
        """
        self.invocations[name] = self.invocations.get(name, 0) + 1
        failed = False
        try:
            with acting_as(name):  # AWS calls made now are this function's (tests check them against its role)
                answer = self.app.handler_map[name](event, LambdaContext(name, self.region))
        except Exception:
            logger.exception("handler %s failed; the whole batch will be retried", name)
            failed = True
            return set(ids)
        finally:
            if lambda_metrics:
                self._count_invocation(name, failed)
        return _failed_ids(answer) or set()

    def _count_invocation(self, name: str, failed: bool) -> None:
        # One timestamp for both, as Lambda counts one invocation: moto buckets each metric from its own first
        # datapoint, so two clock reads a second boundary apart put Errors in a bucket `dealreg status` never
        # looks up (a failed run read as "ok"; seen once in CI under load).
        at = datetime.now().astimezone()
        try:
            self.client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
                {"MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": name}], "Value": value,
                 "Unit": "Count", "Timestamp": at}
                for metric, value in (("Invocations", 1), ("Errors", 1 if failed else 0))])
        except Exception:  # noqa: BLE001 - bookkeeping for `dealreg status` must never break a run
            logger.warning("could not count the run of %s", name, exc_info=True)

    def park_stream_record(self, stream_arn: str, record: dict) -> None:
        logger.error("stream record %s failed %d times; sent to %s", record.get("dynamodb", record),
                     STREAM_MAX_RETRIES, self._stream_failure_queue)
        if self._stream_failure_queue:
            sqs = self.client("sqs")
            url = sqs.get_queue_url(QueueName=self._stream_failure_queue)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
                {"streamArn": stream_arn, "record": record}, default=str))

    def pump(self, *, max_rounds: int = 100, include_schedules: bool = False) -> int:
        """Deliver everything pending, synchronously, until a round delivers nothing. Returns the count."""
        total = 0
        for _ in range(max_rounds):
            n = sum(s.poll() for s in self.streams) + sum(q.poll() for q in self.queues)
            if include_schedules:
                n += sum(s.poll() for s in self.schedules)
            total += n
            if n == 0:
                return total
        raise RuntimeError(f"events still flowing after {max_rounds} rounds")

    def skip_streams(self) -> None:
        """Deliver none of the stream records written so far: items seeded as history, as if they were written
        before the functions were deployed (a new mapping starts at LATEST). Tests use it after bulk seeding."""
        for s in self.streams:
            s.skip_to_end()

    def run_schedule(self, name: str) -> None:
        """Fire one schedule handler now (tests, and ``dealreg`` commands that trigger a job)."""
        for s in self.schedules:
            if s.name == name:
                s.poll(force=True)
                return
        raise KeyError(name)

    def start(self, poll_interval: float = 0.25) -> None:
        def loop(poll: Callable[[], int]) -> None:
            while not self._stop.is_set():
                try:
                    if poll() == 0:
                        self._stop.wait(poll_interval)
                except Exception:
                    logger.exception("event poller failed; continuing")
                    self._stop.wait(1.0)

        for source in [*self.streams, *self.queues, *self.schedules]:
            t = threading.Thread(target=loop, args=(source.poll,), name=f"runner-{source.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
