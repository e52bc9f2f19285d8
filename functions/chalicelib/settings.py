"""One settings object, read from the environment once per process.

Resource names are derived from one prefix (``DEALREG_PREFIX``, e.g. ``dealreg-dev``) so that Chalice
decorators, the deployment template and the local stand-in agree without a lookup at import time.
``DEALREG_AWS_ENDPOINT_URL`` points every AWS client at another endpoint (the local moto server);
unset, the SDKs reach AWS with the usual credential chain.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

# Logical names of the resources the code uses; infra/resources.py builds the template from the same list.
TABLES = ("registrations", "customers", "directory", "claims")
# Each downstream handler's queue and the domain event types its SNS subscription lets through.
QUEUES: dict[str, tuple[str, ...]] = {
    "workflow": ("registration.submitted",),
}


@dataclass(frozen=True)
class Settings:
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
        local=env.get("DEALREG_LOCAL", "") == "1",
    )


@lru_cache(maxsize=1)
def get() -> Settings:
    return from_env()


def reset() -> None:
    """Forget the cached settings (tests and the local runner change the environment)."""
    get.cache_clear()
