"""Least-privilege IAM for each Lambda function, as CloudFormation policy documents.

Two halves, so that a new handler needs as little here as possible:

- what a function's *event source* needs (read its queue or stream, send failures to the DLQ) is derived
  from the event source itself by :func:`event_source_statements`;
- what a function's *code* touches (tables, the topic, partner secrets) cannot be inferred, so it is
  declared in :data:`GRANTS`. ``infra/package.py`` refuses to build when a function has no entry.

CloudWatch Logs comes from the Chalice policy file (``functions/.chalice/policy-logs.json``), which Chalice
puts on every function's role; ``infra/package.py`` adds the document built here beside it.
Resource ARNs are intrinsic functions (``Fn::GetAtt``/``Fn::Sub``) on the logical ids of ``infra.resources``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.resources import TABLE_KEYS, queue_logical_id, table_logical_id

EVENTS_TOPIC = "EventsTopic"

# PynamoDB transactions (TransactWriteItems) are authorised per item, so a transaction needs the item-level
# actions of every operation in it (Put, Update, Delete, ConditionCheck), not a "transact" action. No code
# uses a ConditionCheck item today (conditions ride on the writes), so none is granted.
TABLE_READ_WRITE = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
)


@dataclass(frozen=True)
class Grant:
    """``actions`` on the named resources, all of the stage's own.

    Attributes:
        tables: logical table names (``settings.TABLES``); their indexes too when ``actions`` has Query.
        queues: logical queue names (``settings.QUEUES``), e.g. ChangeMessageVisibility on one's own queue.
        events_topic: the one SNS topic.
        secrets: Secrets Manager name patterns under ``<prefix>/``, e.g. ``"partners/*"``.
        arns: other resources as ARN patterns for ``Fn::Sub``: ``${AWS::Partition}``, ``${AWS::Region}``,
            ``${AWS::AccountId}`` (and template parameters) are filled in by CloudFormation, ``{prefix}`` by us,
            e.g. ``"arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:{prefix}-notify-*"``.
    """

    actions: tuple[str, ...]
    tables: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    events_topic: bool = False
    secrets: tuple[str, ...] = ()
    arns: tuple[str, ...] = ()

    def resources(self, prefix: str) -> list[Any]:
        """Every resource of the grant (tables' indexes too when it has Query)."""
        return [r for st in self.statements(prefix) for r in st["Resource"]]

    def statements(self, prefix: str) -> list[dict[str, Any]]:
        """The grant as policy statements, narrowed by what each DynamoDB action can act on: item and batch
        actions act on tables, never on indexes; Query acts on an index, or on the table only when it has a
        sort key (a Query on a hash-only table is a GetItem); Scan on the table."""
        query = tuple(a for a in self.actions if a == "dynamodb:Query")
        others = tuple(a for a in self.actions if a != "dynamodb:Query")
        tables = [(table_logical_id(t), TABLE_KEYS[t]) for t in self.tables]
        rest: list[Any] = [{"Fn::GetAtt": [q, "Arn"]} for q in map(queue_logical_id, self.queues)]
        if self.events_topic:
            rest.append({"Ref": EVENTS_TOPIC})
        # Secret ARNs end in a random suffix, so each name pattern must end in "*" to match.
        rest.extend({"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                                f"secret:{prefix}/{pattern}"} for pattern in self.secrets)
        rest.extend({"Fn::Sub": pattern.replace("{prefix}", prefix)} for pattern in self.arns)
        out = []
        if others and (tables or rest):
            out.append(_allow(others, [{"Fn::GetAtt": [logical, "Arn"]} for logical, _ in tables] + rest))
        if query:
            on = []
            for logical, keys in tables:
                if "range" in keys:
                    on.append({"Fn::GetAtt": [logical, "Arn"]})
                if keys["gsis"]:
                    on.append({"Fn::Sub": f"${{{logical}.Arn}}/index/*"})
            if on:
                out.append(_allow(query, on))
        return out


# Outbound notification channels (issue 5). SES authorises SendEmail on the sending identity (and, in the
# SES sandbox, on the verified recipient identities), all in this account and region. The SNS channel
# publishes to a recipient's own topic, which must be one of the stage's notification topics, named
# "<prefix>-notify-*"; the events topic ("<prefix>-events") is deliberately not matched.
NOTIFY_SEND = (
    Grant(("ses:SendEmail",), arns=("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*",)),
    Grant(("sns:Publish",), arns=("arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:{prefix}-notify-*",)),
)


# What each function's code touches, by Chalice function name (app.py routes all share "api_handler").
GRANTS: dict[str, tuple[Grant, ...]] = {
    # The API function, table by table, from what its routes do (tests/conftest.py checks every call the
    # functional tests make against this). It writes the directory only through the admin routes and the
    # partner users' console login (issue 18) and never touches the tender feeds' own state.
    "api_handler": (
        # registrations: create/edit/decide/claim in conditional transactions, reads and every list index
        Grant(TABLE_READ_WRITE, tables=("registrations",)),
        # an admin's unfiltered GET /v1/registrations pages through the table (issue 12)
        Grant(("dynamodb:Scan",), tables=("registrations",)),
        # create: idempotency / external-ref / customer claims checked in one BatchGetItem, then put
        Grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchGetItem"), tables=("claims",)),
        # create counts the customer (an upsert in the transaction); no route reads the table
        Grant(("dynamodb:UpdateItem",), tables=("customers",)),
        # pending / holding counters moved in the same transactions as the registration
        Grant(("dynamodb:GetItem", "dynamodb:UpdateItem"), tables=("holders",)),
        Grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"), tables=("followups",)),
        Grant(("dynamodb:GetItem",), tables=("directory", "dedup_verdicts", "enrichments")),
        # GET /v1/companies/lookup caches registry answers
        Grant(("dynamodb:GetItem", "dynamodb:PutItem"), tables=("registry_cache",)),
        # dedup pre-check (POST /v1/duplicates/check, create): blocking-key counters and candidates
        Grant(("dynamodb:BatchGetItem", "dynamodb:Query"), tables=("dedup_index",)),
        Grant(("dynamodb:GetItem", "dynamodb:Query"), tables=("tenders",)),
        # subscriptions: put/delete with the index version bump in one transaction, the rep's list
        Grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
               "dynamodb:Query"), tables=("subscriptions",)),
        Grant(("dynamodb:Query",), tables=("deliveries",)),  # GET /v1/dev/inbox (the inbox lane index)
        # admin (issue 18): parked deliveries (the lane index, above) and their replay (conditional update)
        Grant(("dynamodb:GetItem", "dynamodb:UpdateItem"), tables=("deliveries",)),
        Grant(("dynamodb:Scan",), tables=("directory",)),  # admin listing, a user's keys at rotation, the audit
        # admin directory writes (issue 18, services/directory.py): users/teams/partners/API keys/audit entries in
        # conditional transactions (Put for new items, Update for deactivate/rotate/version); a partner user's
        # password, login code and failed-attempt counter (Update)
        Grant(("dynamodb:PutItem", "dynamodb:UpdateItem"), tables=("directory",)),
        # a secret rotation with Idempotency-Key: its claim (put with the lease) is marked done with the lease's
        # release, in that transaction (conditional on the claim existing)
        Grant(("dynamodb:UpdateItem",), tables=("claims",)),
        # a new partner's signing secret (CreateSecret) and its rotation (PutSecretValue), partners' only
        Grant(("secretsmanager:CreateSecret", "secretsmanager:PutSecretValue"), secrets=("partners/*",)),
        # partner + registry keys; the console's cookie-signing key (issue 18)
        Grant(("secretsmanager:GetSecretValue",), secrets=("partners/*", "registries/*", "console/*")),
        # console sessions (issue 18): issued at login, revoked at logout, read on every console request
        Grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"), tables=("sessions",)),
        Grant(("dynamodb:Query",), tables=("aggregates",)),  # GET /v1/pipeline/board (issue 18)
        Grant(("dynamodb:GetItem",), tables=("scores",)),  # the published model (issue 19)
        Grant(("dynamodb:BatchGetItem",), tables=("enrichments",)),  # list scores: the page's company sizes
    ),
    # Tender feeds (issue 6): link refs (BatchGetItem + conditional puts), tenders and feed state (get,
    # conditional put), subscriptions (the persisted matching index, below), alerts (conditional
    # put), tender.alert on the topic.
    "poll_tender_feeds": (
        Grant(("dynamodb:BatchGetItem", "dynamodb:PutItem"), tables=("tender_refs",)),
        Grant(("dynamodb:GetItem", "dynamodb:PutItem"), tables=("tender_feeds",)),
        # tenders: conditional put, then UpdateItem clears alert_state once the alerts are out (issue 14: was
        # missing, so the first poll of a configured source failed and alerts stayed pending)
        Grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"), tables=("tenders",)),
        # subscriptions (issue 15): the index state (GetItem), the change log and snapshot chunks
        # (BatchGetItem), a new snapshot's chunks and the retired ones (BatchWriteItem: puts, deletes), the
        # snapshot swap (conditional UpdateItem of meta#version); Scan only for the one-time bootstrap of a
        # table written before the change log (or a snapshot of another format), never on a regular poll
        Grant(("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem",
               "dynamodb:Scan"), tables=("subscriptions",)),
        Grant(("dynamodb:PutItem",), tables=("tender_alerts",)),
        Grant(("sns:Publish",), events_topic=True),
    ),
    # Notification outbox (issue 5): fan-out reads the directory (users, partners, teams, channel settings)
    # and puts deliveries; both functions send (deliveries: GetItem/UpdateItem/Query ByLaneIndex), reading
    # partner signing secrets and bot credentials (<prefix>/notify/*), and email/SNS (NOTIFY_SEND). Fan-out
    # also reads the registration to find a review level's approvers (routing rules).
    "fan_out_notifications": (
        Grant(("dynamodb:GetItem",), tables=("directory",)),
        Grant(("dynamodb:GetItem",), tables=("registrations",)),
        *NOTIFY_SEND,
        Grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"),
              tables=("deliveries",)),
        Grant(("secretsmanager:GetSecretValue",), secrets=("partners/*", "notify/*")),
        Grant(("dynamodb:GetItem",), tables=("scores",)),  # issue 19: the published model (routes on the model score)
        Grant(("dynamodb:GetItem",), tables=("enrichments",)),  # issue 19: company size (routes on the attribute score)
    ),
    "deliver_notifications": (
        *NOTIFY_SEND,
        Grant(("dynamodb:GetItem",), tables=("directory",)),
        Grant(("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"), tables=("deliveries",)),
        Grant(("secretsmanager:GetSecretValue",), secrets=("partners/*", "notify/*")),
    ),
    "publish_domain_events": (
        Grant(("sns:Publish",), events_topic=True),
        # the pipeline board's aggregates move with each record, in one transaction with its applied marker
        Grant(("dynamodb:PutItem", "dynamodb:UpdateItem"), tables=("aggregates",)),
        Grant(("dynamodb:GetItem",), tables=("scores",)),  # issue 19: events carry the published model's probability
        Grant(("dynamodb:GetItem",), tables=("enrichments",)),  # issue 19: ... and the attribute score (company size)
    ),
    # Scoring (issue 19): won registrations from ByStatusShardIndex, RFM items and cut points in the scores table.
    "update_customer_rfm": (
        # issue 19: reads an open registration (and its registry facts) to keep its training record
        Grant(("dynamodb:Query", "dynamodb:GetItem"), tables=("registrations",)),
        Grant(("dynamodb:GetItem",), tables=("enrichments",)),
        Grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"), tables=("scores",)),
    ),
    # Daily model check (issue 19): closed registrations from ByStatusShardIndex, the model, the monitor item; when
    # training is due: their training records (BatchGetItem), the new version's chunks and the pointer (PutItem),
    # the admins from the directory (Scan), and the scoring.model_training event on the topic.
    "check_scoring_model": (
        Grant(("dynamodb:Query",), tables=("registrations",)),
        Grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchGetItem"), tables=("scores",)),
        Grant(("dynamodb:Scan",), tables=("directory",)),
        Grant(("sns:Publish",), events_topic=True),
    ),
    # Review SLA reminders (issue 5): pending reviews from ByStatusShardIndex, the conditional reminder stamp,
    # teams and users (approvers, their managers) from the directory, registration.review_overdue events.
    "remind_overdue_reviews": (
        Grant(("dynamodb:Query", "dynamodb:UpdateItem"), tables=("registrations",)),
        Grant(("dynamodb:GetItem",), tables=("directory",)),
        Grant(("sns:Publish",), events_topic=True),
        Grant(("dynamodb:GetItem",), tables=("scores",)),  # issue 19: the published model (routes on the model score)
        Grant(("dynamodb:GetItem",), tables=("enrichments",)),  # issue 19: company size (routes on the attribute score)
    ),
    # Ownership timers (issue 4): query ByStatusShardDueIndex (issue 15: per shard), conditional transactions on the registration and
    # the holder counter, team managers from the directory, events on the topic.
    "reclaim_due_registrations": (
        Grant(("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"), tables=("registrations",)),
        Grant(("dynamodb:UpdateItem",), tables=("holders",)),
        Grant(("dynamodb:GetItem",), tables=("directory",)),
        Grant(("sns:Publish",), events_topic=True),
    ),
    # Holding limits (issue 4): holders above the smallest limit (Query on the holders' ByActiveIndex, issue 15:
    # no scan), the holder's registrations (ByOwnerIndex), per excess item one conditional transaction
    # (registration + counter), events.
    "enforce_holding_limits": (
        Grant(("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"), tables=("registrations",)),
        Grant(("dynamodb:Query", "dynamodb:UpdateItem"), tables=("holders",)),
        Grant(("dynamodb:GetItem",), tables=("directory",)),
        Grant(("sns:Publish",), events_topic=True),
        # Issue 19: the excess is taken lowest score first; the published model is read from the scores table,
        # the customers' registry facts (company size) from enrichments.
        Grant(("dynamodb:GetItem",), tables=("scores",)),
        Grant(("dynamodb:BatchGetItem",), tables=("enrichments",)),
    ),
    "warn_due_registrations": (
        Grant(("dynamodb:Query", "dynamodb:UpdateItem"), tables=("registrations",)),
        Grant(("dynamodb:GetItem",), tables=("directory",)),
        Grant(("sns:Publish",), events_topic=True),
    ),
    # Approval workflow (issue 5): the auto-checks read the registration and its dedup verdict and write one
    # conditional move (with the submitter's pending counter in the holders table, in one transaction); the
    # sweep also queries ByStatusShardIndex for submissions stalled without a verdict.
    "review_submissions": (
        Grant(("dynamodb:GetItem", "dynamodb:UpdateItem"), tables=("registrations",)),
        Grant(("dynamodb:GetItem",), tables=("dedup_verdicts",)),
        Grant(("dynamodb:UpdateItem",), tables=("holders",)),
        Grant(("dynamodb:GetItem",), tables=("scores", "enrichments")),  # issue 19: flag low scores (if configured)
    ),
    "advance_stalled_submissions": (
        Grant(("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"), tables=("registrations",)),
        Grant(("dynamodb:GetItem",), tables=("dedup_verdicts",)),
        Grant(("dynamodb:UpdateItem",), tables=("holders",)),
        Grant(("dynamodb:GetItem",), tables=("scores", "enrichments")),  # issue 19: flag low scores (if configured)
    ),
    # Dedup (issue 3): read the registration and its customers' registrations (ByCustomerIndex), read and
    # write the blocking index (BatchGetItem heads, Query by blocking key on the table; per customer name a
    # conditional PutItem per new key's head, BatchWriteItem of the postings of known keys — idempotent puts,
    # no transaction, issue 15 item 5 — UpdateItem of a key's mark when it changes, PutItem of the marker)
    # and the verdict, find the holder's managers, announce conflicts.
    "detect_duplicates": (
        # the registration, its stored verdict and its customer's enrichment: one BatchGetItem (issue 15 item 1)
        Grant(("dynamodb:BatchGetItem", "dynamodb:Query"), tables=("registrations",)),
        Grant(("dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
               "dynamodb:BatchWriteItem"), tables=("dedup_index",)),
        Grant(("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem"), tables=("dedup_verdicts",)),
        Grant(("dynamodb:GetItem",), tables=("directory",)),
        Grant(("sns:Publish",), events_topic=True),
        # issue 19: the snapshot's attribute score (company size); GetItem when the event named another customer
        Grant(("dynamodb:BatchGetItem", "dynamodb:GetItem"), tables=("enrichments",)),
    ),
    # Customer enrichment (issue 7): read the registration, the registry cache and enrichment items, publish
    # customer.review_flagged, read registry credentials (<prefix>/registries/*) and back off on its own queue.
    "enrich_customers": (
        # reads the registration; stamps review_flag on it (one attribute, no version move: issue 12 item 13)
        Grant(("dynamodb:GetItem", "dynamodb:UpdateItem"), tables=("registrations",)),
        Grant(("dynamodb:GetItem", "dynamodb:PutItem"), tables=("registry_cache", "enrichments")),
        Grant(("sns:Publish",), events_topic=True),
        Grant(("secretsmanager:GetSecretValue",), secrets=("registries/*",)),  # registry API keys
        # backoff on the record's own queue URL (no GetQueueUrl: the record carries it, handlers/enrichment.py)
        Grant(("sqs:ChangeMessageVisibility",), queues=("enrichment",)),
    ),
}


def event_source_statements(kind: str, source: str, failures: str) -> list[dict[str, Any]]:
    """What reading one event source needs.

    Args:
        kind: ``"sqs"``, ``"dynamodb"`` or ``"schedule"``.
        source: logical id of the queue, or of the table whose stream is read (unused for schedules).
        failures: logical id of the queue that failed records go to (the queue's DLQ, the stream DLQ).

    Returns:
        Policy statements.

    Raises:
        ValueError: for another kind of event source.
    """
    if kind == "sqs":
        return [
            _allow(("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"),
                   [{"Fn::GetAtt": [source, "Arn"]}]),
            # The handler parks poison messages on the DLQ itself, by name (chalicelib/handlers/_batch.py).
            _allow(("sqs:GetQueueUrl", "sqs:SendMessage"), [{"Fn::GetAtt": [failures, "Arn"]}]),
        ]
    if kind == "dynamodb":
        return [
            _allow(("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                    "dynamodb:ListStreams"), [{"Fn::Sub": f"${{{source}.Arn}}/stream/*"}]),
            # Lambda sends the on-failure record with the function's own role.
            _allow(("sqs:SendMessage",), [{"Fn::GetAtt": [failures, "Arn"]}]),
        ]
    if kind == "schedule":
        # A run that failed every retry goes to the schedules DLQ (EventInvokeConfig), sent with this role.
        return [_allow(("sqs:SendMessage",), [{"Fn::GetAtt": [failures, "Arn"]}])]
    raise ValueError(f"no IAM rule for {kind} event sources")


def access_policy(function: str, prefix: str, event_sources: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The policy document for one function: its declared grants plus its event sources' needs.

    Args:
        function: the Chalice function name (``api_handler``, or the handler's name).
        prefix: the stage's resource prefix (``DEALREG_PREFIX``).
        event_sources: ``(kind, source, failures)`` per event source of the function, as for
            :func:`event_source_statements`.

    Raises:
        KeyError: the function has no entry in :data:`GRANTS` (declare one, even an empty tuple).
    """
    if function not in GRANTS:
        raise KeyError(f"no IAM grants declared for function {function!r}: add it to infra/iam.py GRANTS")
    statements = [st for g in GRANTS[function] for st in g.statements(prefix)]
    for kind, source, failures in event_sources:
        statements.extend(event_source_statements(kind, source, failures))
    return {"Version": "2012-10-17", "Statement": statements}


def _allow(actions: tuple[str, ...], resources: list[Any]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resources}
