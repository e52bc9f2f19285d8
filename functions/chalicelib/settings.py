"""One settings object, read from the environment once per process.

Resource names are derived from one prefix (``DEALREG_PREFIX``, e.g. ``dealreg-dev``) so that Chalice
decorators, the deployment template and the local stand-in agree without a lookup at import time.
``DEALREG_AWS_ENDPOINT_URL`` points every AWS client at another endpoint (the local moto server);
unset, the SDKs reach AWS with the usual credential chain.
"""

import os
from functools import lru_cache
from typing import NamedTuple

# Logical names of the resources the code uses; infra/resources.py builds the template from the same list.
TABLES = ("registrations", "customers", "directory", "claims", "holders", "followups", "registry_cache", "enrichments", "dedup_index", "dedup_verdicts", "tenders", "tender_refs", "tender_feeds", "subscriptions", "tender_alerts", "deliveries", "scores", "aggregates", "sessions")
# Each downstream handler's queue and the domain event types its SNS subscription lets through.
QUEUES: dict[str, tuple[str, ...]] = {
    # Dedup judges new submissions and re-judges edits (issue 5); the workflow's auto-checks wait for its verdict.
    "dedup": ("registration.submitted", "registration.updated"),
    "workflow": ("registration.dedup_checked",),
    "enrichment": ("registration.submitted",),
    # The notification outbox (issue 5): every type in chalicelib.domain.notifications.RECIPIENT_POLICY.
    "notifications": ("registration.submitted", "registration.review_requested", "registration.approved",
                      "registration.rejected", "registration.withdrawn", "registration.expired",
                      "registration.reclaimed", "registration.conflict_detected", "ownership.warning",
                      "ownership.reclaimed", "tender.alert", "registration.review_overdue",
                      "registration.claimed", "registration.assigned", "registration.transferred",
                      "registration.extended", "ownership.over_limit",
                      "registration.escalated", "customer.review_flagged", "scoring.model_training"),
    # Scoring (issue 19): a customer's RFM is recounted when one of its registrations is won or lost; while it is
    # open, each submission, edit and stage move keeps its training record (fields known before the outcome).
    "scoring": ("registration.won", "registration.lost", "registration.submitted", "registration.updated",
                "registration.stage_changed"),
}


class Settings(NamedTuple):
    """The deployment's settings, read once per process (:func:`get`). A NamedTuple, not a frozen dataclass: the
    dataclass built its methods for ~50 fields by ``exec`` in every cold function, ~3 ms CPU (issue 15 item 1).
    Immutable as before; a changed copy is ``settings._replace(field=value)``."""

    prefix: str
    region: str
    endpoint_url: str | None
    events_topic_arn: str
    registrations_stream_arn: str
    max_body_bytes: int
    webhook_tolerance_seconds: int
    idempotency_ttl_seconds: int
    secret_cache_seconds: int
    local: bool
    # How long a warm process trusts a partner record it read (issue 15: one read per burst, like secrets).
    partner_cache_seconds: int = 60
    # Partitions per status in the sharded status indexes (issue 15, store/status_index.py): every function
    # must use the same value; raise it freely, lower it only with `dealreg status-shards backfill` after.
    status_shards: int = 8
    # "sharded" (default) or "single": read the old single-key status indexes during an upgrade (README).
    status_index: str = "sharded"
    # Ownership rules as a JSON object (chalicelib.domain.ownership.OwnershipRules); "" = the defaults.
    ownership_rules_json: str = ""
    # Business registries (issue 7): which connectors are enabled, base-URL overrides, cache and retry policy.
    registry_providers: tuple[str, ...] = ("gleif",)
    registry_base_urls: tuple[tuple[str, str], ...] = ()
    registry_cache_ttl_seconds: int = 7 * 24 * 3600
    registry_name_threshold: float = 92.0
    registry_timeout_seconds: float = 5.0
    enrichment_max_attempts: int = 5
    # Dedup matching rules as a JSON document (chalicelib.domain.dedup_rules.MatchRules); "" = the defaults.
    dedup_rules_json: str = ""
    # Tender feeds (issue 6): the sources as a JSON list or a path to a JSON file ("" = the bundled
    # chalicelib/tender_sources.json), and whether feed URLs may point at loopback http (local demo, tests).
    tender_sources: str = ""
    tender_allow_loopback: bool = False
    # Notification outbox (issue 5): sender address for email (SES), default locale of readers without a
    # setting, retry policy (attempts in total, backoff base/cap seconds), per-send timeout, daily digest hour.
    notify_email_from: str = ""
    notify_default_locale: str = "zh-CN"
    notify_max_attempts: int = 5
    notify_retry_base_seconds: float = 30.0
    notify_retry_cap_seconds: float = 3600.0
    notify_timeout_seconds: float = 5.0
    notify_digest_hour: int = 9
    # Review routing and SLA (issue 5, chalicelib.domain.routing.RoutingRules) as a JSON object; "" = defaults.
    routing_rules_json: str = ""
    # Approval workflow auto-checks (issue 5, schemas.workflow.WorkflowRules) as a JSON object; "" = defaults.
    workflow_rules_json: str = ""
    # Scoring (issue 19): attribute rules (schemas.scoring.AttributeRules) and behaviour rules as JSON ("" =
    # the bundled defaults); how long a warm function keeps the published model before looking again.
    attribute_rules_json: str = ""
    behaviour_rules_json: str = ""
    model_cache_seconds: int = 60
    # Pipeline stages (issue 18, chalicelib.domain.pipeline.PipelineRules) as a JSON object; "" = defaults.
    pipeline_stages_json: str = ""
    # Console password logins (chalicelib.domain.login_throttle): free attempts per (user, client address), per
    # address and per user, then waits doubling from the base up to the cap; a scope resets after a quiet period.
    login_free_per_user_ip: int = 5
    login_free_per_ip: int = 20
    login_free_per_user: int = 100
    login_wait_base_seconds: float = 2.0
    login_wait_cap_seconds: float = 900.0
    login_reset_seconds: float = 3600.0

    def table(self, logical: str) -> str:
        return f"{self.prefix}-{logical}"

    def queue(self, logical: str) -> str:
        return f"{self.prefix}-{logical}"

    def dead_letter_queue(self, logical: str) -> str:
        return f"{self.prefix}-{logical}-dlq"

    @property
    def topic_name(self) -> str:
        return f"{self.prefix}-events"

    def partner_secret_name(self, partner_id: str) -> str:
        return f"{self.prefix}/partners/{partner_id}/webhook"

    def registry_secret_name(self, provider: str) -> str:
        """Secrets Manager name of a registry's credentials (JSON object of its config's secret fields)."""
        return f"{self.prefix}/registries/{provider}"


def from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    prefix = env.get("DEALREG_PREFIX", "dealreg-dev")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    account = env.get("DEALREG_ACCOUNT_ID", "000000000000")
    return Settings(
        prefix=prefix,
        region=region,
        endpoint_url=env.get("DEALREG_AWS_ENDPOINT_URL") or None,
        events_topic_arn=env.get("DEALREG_EVENTS_TOPIC_ARN") or f"arn:aws:sns:{region}:{account}:{prefix}-events",
        # A literal is needed when Chalice evaluates the decorator; the deployment template overrides the
        # event source's Stream with the real table stream ARN (infra/resources.py).
        registrations_stream_arn=env.get("DEALREG_REGISTRATIONS_STREAM_ARN")
        or f"arn:aws:dynamodb:{region}:{account}:table/{prefix}-registrations/stream/unresolved",
        max_body_bytes=int(env.get("DEALREG_MAX_BODY_BYTES", 256 * 1024)),
        webhook_tolerance_seconds=int(env.get("DEALREG_WEBHOOK_TOLERANCE_SECONDS", 300)),
        idempotency_ttl_seconds=int(env.get("DEALREG_IDEMPOTENCY_TTL_SECONDS", 7 * 24 * 3600)),
        secret_cache_seconds=int(env.get("DEALREG_SECRET_CACHE_SECONDS", 60)),
        partner_cache_seconds=int(env.get("DEALREG_PARTNER_CACHE_SECONDS", 60)),
        status_shards=max(1, int(env.get("DEALREG_STATUS_SHARDS", 8))),
        status_index=env.get("DEALREG_STATUS_INDEX", "sharded"),
        local=env.get("DEALREG_LOCAL", "") == "1",
        ownership_rules_json=env.get("DEALREG_OWNERSHIP_RULES", ""),
        # The local stand-in (and so every test) enables no registry unless told to: it must not call the
        # real GLEIF/Companies House/企查查 from a developer machine or CI.
        registry_providers=tuple(p.strip() for p in env.get(
            "DEALREG_REGISTRY_PROVIDERS", "" if env.get("DEALREG_LOCAL", "") == "1" else "gleif").split(",")
            if p.strip()),
        # DEALREG_REGISTRY_<NAME>_BASE_URL points a provider elsewhere (a sandbox, or a local test server).
        registry_base_urls=tuple(sorted(
            (k[len("DEALREG_REGISTRY_"):-len("_BASE_URL")].lower(), v) for k, v in env.items()
            if k.startswith("DEALREG_REGISTRY_") and k.endswith("_BASE_URL") and v)),
        registry_cache_ttl_seconds=int(env.get("DEALREG_REGISTRY_CACHE_TTL_SECONDS", 7 * 24 * 3600)),
        registry_name_threshold=float(env.get("DEALREG_REGISTRY_NAME_THRESHOLD", 92)),
        registry_timeout_seconds=float(env.get("DEALREG_REGISTRY_TIMEOUT_SECONDS", 5)),
        enrichment_max_attempts=int(env.get("DEALREG_ENRICHMENT_MAX_ATTEMPTS", 5)),
        dedup_rules_json=env.get("DEALREG_DEDUP_RULES", ""),
        tender_sources=env.get("DEALREG_TENDER_SOURCES", ""),
        tender_allow_loopback=env.get("DEALREG_TENDER_ALLOW_LOOPBACK", env.get("DEALREG_LOCAL", "")) == "1",
        notify_email_from=env.get("DEALREG_NOTIFY_EMAIL_FROM", ""),
        notify_default_locale=env.get("DEALREG_NOTIFY_DEFAULT_LOCALE", "zh-CN"),
        notify_max_attempts=int(env.get("DEALREG_NOTIFY_MAX_ATTEMPTS", 5)),
        notify_retry_base_seconds=float(env.get("DEALREG_NOTIFY_RETRY_BASE_SECONDS", 30)),
        notify_retry_cap_seconds=float(env.get("DEALREG_NOTIFY_RETRY_CAP_SECONDS", 3600)),
        notify_timeout_seconds=float(env.get("DEALREG_NOTIFY_TIMEOUT_SECONDS", 5)),
        notify_digest_hour=int(env.get("DEALREG_NOTIFY_DIGEST_HOUR", 9)),
        routing_rules_json=env.get("DEALREG_ROUTING_RULES", ""),
        workflow_rules_json=env.get("DEALREG_WORKFLOW_RULES", ""),
        attribute_rules_json=env.get("DEALREG_ATTRIBUTE_RULES", ""),
        behaviour_rules_json=env.get("DEALREG_BEHAVIOUR_RULES", ""),
        model_cache_seconds=int(env.get("DEALREG_MODEL_CACHE_SECONDS", 60)),
        pipeline_stages_json=env.get("DEALREG_PIPELINE_STAGES", ""),
        login_free_per_user_ip=max(1, int(env.get("DEALREG_LOGIN_FREE_PER_USER_IP", 5))),
        login_free_per_ip=max(1, int(env.get("DEALREG_LOGIN_FREE_PER_IP", 20))),
        login_free_per_user=max(1, int(env.get("DEALREG_LOGIN_FREE_PER_USER", 100))),
        login_wait_base_seconds=float(env.get("DEALREG_LOGIN_WAIT_BASE_SECONDS", 2)),
        login_wait_cap_seconds=float(env.get("DEALREG_LOGIN_WAIT_CAP_SECONDS", 900)),
        login_reset_seconds=float(env.get("DEALREG_LOGIN_RESET_SECONDS", 3600)),
    )


@lru_cache(maxsize=1)
def get() -> Settings:
    return from_env()


def reset() -> None:
    """Forget the cached settings (tests and the local runner change the environment)."""
    get.cache_clear()
