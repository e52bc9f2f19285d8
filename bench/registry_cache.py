"""Registry cache: hit latency and provider calls saved on a realistic repeat pattern.

10,000 registrations over 2,000 companies, company popularity Zipf-distributed (s = 1.1: a few large
customers are registered again and again, most only once or twice), spread evenly over 180 days. Every
registration looks its customer's LEI up through ``chalicelib.services.registry_lookup.lookup_id``: the real code
path, with the cache table on the local AWS stand-in (moto over HTTP on 127.0.0.1) and the registry a
local HTTP server answering a recorded GLEIF record. Two scenarios: a cache that never expires, and the
default 7-day TTL (expired entries are refetched).

    .venv/bin/python -m bench.registry_cache [--registrations 10000] [--companies 2000] [--days 180]

Latencies are wall-clock per look-up, so they include the DynamoDB round trip to the in-process moto
server (not AWS); the provider calls saved do not depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import string
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]
RECORD = (ROOT / "tests" / "fixtures" / "sources" / "gleif" / "lei_record_issued.json").read_bytes()
_ALNUM = string.digits + string.ascii_uppercase


def make_lei(rng: random.Random) -> str:
    """A syntactically valid LEI (ISO 17442: 18 characters + two ISO 7064 MOD 97-10 check digits)."""
    body = "5493" + "".join(rng.choice(_ALNUM) for _ in range(14))
    number = int("".join(str(int(c, 36)) for c in body + "00"))
    return body + f"{98 - number % 97:02d}"


class _Registry:
    """A local GLEIF stand-in that counts the requests it gets."""

    def __init__(self) -> None:
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                outer.calls += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.api+json")
                self.send_header("Content-Length", str(len(RECORD)))
                self.end_headers()
                self.wfile.write(RECORD)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/"


def pattern(registrations: int, companies: int, seed: int = 7) -> list[str]:
    """The LEI of each registration's customer, in arrival order."""
    rng = random.Random(seed)
    leis = [make_lei(rng) for _ in range(companies)]
    weights = [1 / (rank ** 1.1) for rank in range(1, companies + 1)]
    return rng.choices(leis, weights=weights, k=registrations)


def run(order: list[str], days: int, ttl_days: float | None, registry: _Registry, prefix: str) -> dict:
    from chalicelib import settings
    from chalicelib.services import registry_lookup
    from chalicelib.store.models import RegistryCacheItem

    # a fresh cache table per scenario
    for item in RegistryCacheItem.scan():
        item.delete()
    os.environ["DEALREG_REGISTRY_CACHE_TTL_SECONDS"] = str(int((ttl_days or 10_000) * 86400))
    settings.reset()
    registry_lookup.forget()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=days) / len(order)
    calls_before = registry.calls
    hits: list[float] = []
    misses: list[float] = []
    for i, lei in enumerate(order):
        t0 = time.perf_counter()
        result = registry_lookup.lookup_id("lei", lei, now=start + i * step)
        elapsed = (time.perf_counter() - t0) * 1000
        (hits if result.cached else misses).append(elapsed)
        assert result.company is not None
    calls = registry.calls - calls_before

    def q(values: list[float], p: float) -> float:
        return round(statistics.quantiles(values, n=100)[p - 1], 2) if len(values) > 1 else float("nan")

    return {
        "ttl_days": ttl_days, "registrations": len(order), "distinct_companies": len(set(order)),
        "provider_calls": calls, "provider_calls_saved": len(order) - calls,
        "saved_pct": round(100 * (len(order) - calls) / len(order), 1),
        "hit_ms_median": round(statistics.median(hits), 2), "hit_ms_p95": q(hits, 95),
        "miss_ms_median": round(statistics.median(misses), 2), "miss_ms_p95": q(misses, 95),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=10_000)
    parser.add_argument("--companies", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=180)
    args = parser.parse_args(argv)

    import logging

    from infra.local.stack import MotoServer, local_environment, provision
    from infra.local.stack_session import configure_process

    logging.disable(logging.WARNING)  # moto and werkzeug chatter would dominate the output
    moto = MotoServer(port=0).start()
    registry = _Registry()
    try:
        prefix = "dealreg-bench"
        configure_process(local_environment(moto.url, prefix, "us-east-1", provision(moto.url, prefix, "us-east-1")))
        os.environ.update({"DEALREG_REGISTRY_PROVIDERS": "gleif", "DEALREG_REGISTRY_GLEIF_BASE_URL": registry.url})
        order = pattern(args.registrations, args.companies)
        results = [run(order, args.days, None, registry, prefix), run(order, args.days, 7, registry, prefix)]
    finally:
        registry.httpd.shutdown()
        moto.stop()
    print(json.dumps({
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "pattern": {"registrations": args.registrations, "companies": args.companies, "days": args.days,
                    "zipf_s": 1.1},
        "results": results,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
