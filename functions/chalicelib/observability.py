"""Logs and metrics for every function, in one place (installed on the app by ``app.py``).

- **Logs**: in Lambda every ``dealreg.*`` log line is one JSON object (Powertools ``Logger``) with the function,
  the cold-start flag, the request id and correlation keys (route, partner, ``webhook-id``, registration id,
  the event's registration id for queue records). Locally (``make run``, tests) lines stay plain text.
  ``DEALREG_LOG_FORMAT=json|text`` overrides the choice.
- **Metrics**: CloudWatch Embedded Metric Format (Powertools ``Metrics``): written to stdout with the log
  lines, turned into metrics by CloudWatch, no API call. Namespace ``dealreg``, dimensions ``service`` (the
  stage prefix) and ``function``. What is counted: every number a scheduled job returns (``sent``,
  ``parked``, ``reclaimed``, ``new`` ...), per-source results summed with ``errors`` = sources that failed;
  for queue handlers ``records``, ``failed`` and ``parked``; for the API one ``http_<status>`` per answer.
- **Tracing**: X-Ray is switched on per stage by the template's ``Tracing`` parameter (no code here).

The template's alarms (``infra/operations.py``) read ``parked`` of ``deliver_notifications`` and ``errors`` of
``poll_tender_feeds``.
"""
from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

NAMESPACE = "dealreg"
_cold = True
# Numbers counted during one invocation (process_sqs adds "parked"); flushed by the middleware.
_counts: ContextVar[dict[str, float] | None] = ContextVar("dealreg_metric_counts", default=None)
_logger: Any = None
# The logger's formatter, which holds its keys: looked up once (Logger.append_keys finds it through two properties
# and a handler search on every call).
_keys: Any = None
_metrics: Any = None
# Keys appended during the running invocation (append_keys); the next invocation removes them (issue 15 item 2:
# Powertools' clear_state rebuilt the whole key set, default keys included, on every request).
_appended: set[str] = set()
# (DEALREG_FUNCTION, emits_metrics()): the environment is read once per container, not on every request (issue 15
# item 2); reset_environment() forgets it (tests that change the environment after install).
_environment: tuple[str | None, bool] | None = None


def _read_environment() -> tuple[str | None, bool]:
    global _environment
    if _environment is None:
        _environment = (os.environ.get("DEALREG_FUNCTION"), emits_metrics())
    return _environment


def reset_environment() -> None:
    """Read ``DEALREG_FUNCTION`` and ``DEALREG_METRICS`` again at the next invocation."""
    global _environment
    _environment = None


def in_lambda() -> bool:
    return "AWS_LAMBDA_FUNCTION_NAME" in os.environ


# Cold start (issue 15): the imports and the first event build a heap of long-lived objects (modules, classes,
# botocore models, pydantic validators). With CPython's default thresholds (700, 10, 10) the cyclic collector
# runs full collections over that growing heap again and again meanwhile: ~35 ms CPU of a ~300 ms first webhook
# (bench/RESULTS.md). A young-generation collection is no cheaper per object: it traverses every object the heap
# grew by since the last one, and almost all of them are that long-lived heap (a first dedup message grows it by
# ~100,000 tracked objects; the one collection at 100,000 took 30-34 ms CPU and found 1,035 garbage objects).
# So, in Lambda, no collection runs until the first event is answered unless the heap grows by a million tracked
# objects (gen 0's count is allocations minus deallocations: garbage freed by reference counting does not count,
# so what this leaves uncollected meanwhile is cyclic garbage only, ~1 % of the growth above); then that heap is
# frozen into the permanent generation (never traversed again, as after ``gc.freeze`` before a fork) and the
# thresholds are restored. app.py calls this before its imports.
COLD_START_GC_THRESHOLD = (1_000_000, 100, 100)
_gc_thresholds: tuple[int, int, int] | None = None


def prepare_cold_start() -> None:
    """In Lambda: rare cyclic collections until the first event is answered (see above), and no search for
    pydantic plugins (it reads every installed distribution's entry points when the first model is built:
    ~6 ms CPU; the functions use none)."""
    global _gc_thresholds
    if in_lambda() and _gc_thresholds is None:
        _gc_thresholds = gc.get_threshold()
        gc.set_threshold(*COLD_START_GC_THRESHOLD)
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def _end_cold_start_gc() -> None:
    global _gc_thresholds
    if _gc_thresholds is not None:
        gc.freeze()
        gc.set_threshold(*_gc_thresholds)
        _gc_thresholds = None


def count(name: str, value: float = 1) -> None:
    """Add ``value`` to metric ``name`` of the running invocation (no-op outside one)."""
    counts = _counts.get()
    if counts is not None:
        counts[name] = counts.get(name, 0) + value


def append_keys(**keys: Any) -> None:
    """Correlation keys for the rest of this invocation's log lines (JSON logs only)."""
    if _logger is not None:
        kept = {k: v for k, v in keys.items() if v is not None}
        _appended.update(kept)
        _keys.append_keys(**kept)


def job_counts(result: Any) -> dict[str, float]:
    """The numbers in a job's answer: ``{"sent": 3, "parked": 1}`` as is; ``{source: {"new": 2}, other:
    {"error": "timeout"}}`` summed per key, with ``errors`` = entries that failed."""
    out: dict[str, float] = {}

    def numbers(d: Mapping[str, Any]) -> None:
        for k, v in d.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = out.get(k, 0) + v

    if isinstance(result, Mapping):
        numbers(result)
        items = [v for v in result.values() if isinstance(v, Mapping)]
        for item in items:
            numbers(item)
        if items:
            out["errors"] = out.get("errors", 0) + sum(1 for item in items if item.get("error"))
    return out


def _setup_logging(app_logger: logging.Logger, service: str) -> None:
    global _logger, _keys
    fmt = os.environ.get("DEALREG_LOG_FORMAT", "json" if in_lambda() else "text")
    if fmt != "json":
        return
    from aws_lambda_powertools import Logger

    # Powertools owns the "dealreg" logger (Chalice's handler removed): every dealreg.* line is JSON.
    for handler in list(app_logger.handlers):
        app_logger.removeHandler(handler)
    _logger = Logger(service=service, logger_handler=logging.StreamHandler(sys.stdout), level=app_logger.level or "INFO",
                     log_uncaught_exceptions=False)
    _keys = _logger.registered_formatter
    # Powertools' logger is named after the service; the module loggers are "dealreg.*": share its handler.
    if _logger._logger is not app_logger:  # noqa: SLF001 - the documented way is copy_config_to_registered_loggers
        for handler in _logger._logger.handlers:  # noqa: SLF001
            app_logger.addHandler(handler)
        app_logger.propagate = False


def _metrics_sink(service: str) -> Any:
    global _metrics
    if _metrics is None:
        from aws_lambda_powertools import Metrics

        _metrics = Metrics(namespace=NAMESPACE, service=service)
    return _metrics


def emits_metrics() -> bool:
    """EMF lines go to stdout in Lambda (or with ``DEALREG_METRICS=emf``); locally they would only be noise."""
    return os.environ.get("DEALREG_METRICS", "emf" if in_lambda() else "off") == "emf"


def _flush(function: str, service: str, counts: Mapping[str, float]) -> None:
    if not counts or not _read_environment()[1]:
        return
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = _metrics_sink(service)
    metrics.add_dimension(name="function", value=function)
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()


def _http_keys(event: Any) -> dict[str, Any]:
    params = event.uri_params or {}
    headers = event.headers or {}
    return {"route": f"{event.method} {event.context.get('resourcePath', event.path)}",
            "partner": params.get("partner_id"), "webhook_id": headers.get("webhook-id"),
            "registration_id": params.get("registration_id") or params.get("reg_id") or params.get("id")}


def install(app: Any) -> None:
    """Logs, metrics and correlation keys for every handler of ``app`` (HTTP, queues, streams, schedules)."""
    from chalicelib import settings

    service = settings.get().prefix
    _setup_logging(app.log, service)

    @app.middleware("all")
    def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
        global _cold
        cold, _cold = _cold, False
        lambda_context = getattr(event, "context", None) if not hasattr(event, "method") else None
        lambda_context = lambda_context or getattr(app, "lambda_context", None)
        function = _read_environment()[0] or getattr(lambda_context, "function_name", "unknown")
        if _logger is not None:
            # The previous invocation's keys go; the logger's own (service, cold-start defaults) stay as built.
            if _appended:
                _keys.remove_keys(_appended)
                _appended.clear()
            _keys.append_keys(function=function, cold_start=cold,
                              request_id=getattr(lambda_context, "aws_request_id", None))
            if hasattr(event, "method"):
                append_keys(**_http_keys(event))
        counts: dict[str, float] = {}
        token = _counts.set(counts)
        try:
            response = get_response(event)
            if hasattr(event, "method"):
                counts[f"http_{getattr(response, 'status_code', 200)}"] = 1
            elif isinstance(response, Mapping) and "batchItemFailures" in response:
                counts["failed"] = counts.get("failed", 0) + len(response["batchItemFailures"])
            else:
                for name, value in job_counts(response).items():
                    counts[name] = counts.get(name, 0) + value
            return response
        finally:
            _counts.reset(token)
            try:
                _flush(function, service, counts)
            except Exception:  # noqa: BLE001 - a metric must never fail the invocation
                logging.getLogger("dealreg.observability").exception("metrics not written")
            if cold:
                _end_cold_start_gc()
