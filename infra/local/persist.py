"""Continuous persistence of the local stack (``make run``): every write reaches ``.dealreg/snapshot.json``
within about a second, and an API answer to a write (a 202) is sent only once the snapshot holds it, so
closing the terminal, SIGHUP, a crash or SIGKILL never loses an accepted registration.

:class:`Autosaver` watches the requests moto serves (a WSGI wrapper on the stand-in's server); a write to a
table or a secret marks the stack dirty, and a background thread saves a snapshot (atomic replace, file
mode 0600: it holds every partner's signing secret) once writes pause for ``quiet`` seconds, or at the latest
``max_delay`` seconds after the first unsaved write, however busy the stack is.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("dealreg.local")

# X-Amz-Target operations that change what a snapshot holds (DynamoDB items, Secrets Manager secrets).
WRITE_OPERATIONS = frozenset({
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
    "CreateSecret", "PutSecretValue", "UpdateSecret", "DeleteSecret", "RestoreSecret",
})


def is_write(environ: dict) -> bool:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    return target.rpartition(".")[2] in WRITE_OPERATIONS


def watch_writes(server: Any, on_write: Callable[[], None]) -> None:
    """Call ``on_write`` after each write request the WSGI ``server`` (werkzeug) answers."""
    inner = server.app

    def app(environ: dict, start_response: Any) -> Any:
        body = inner(environ, start_response)
        if is_write(environ):
            on_write()
        return body

    server.app = app


def durable_answers(app: Any, saver: Autosaver, *, methods: frozenset[str] = frozenset(
        {"POST", "PUT", "PATCH", "DELETE"})) -> None:
    """Make the local API answer a write only once what it wrote is on disk: a 202 is never lost, even to a
    SIGKILL right after it. ``app`` is the Chalice app served by ``chalice.local`` (its class is swapped, as
    ``chalice.local.create_local_server`` itself does)."""
    base = app.__class__

    class DurableAnswers(base):  # type: ignore[misc, valid-type]
        def __call__(self, event: dict, context: Any) -> Any:
            response = super().__call__(event, context)
            if ((event or {}).get("requestContext") or {}).get("httpMethod") in methods:
                through = saver.changes
                if through and not saver.wait_saved(through, timeout=30):
                    logger.warning("answering before the snapshot caught up (save too slow)")
            return response

    app.__class__ = DurableAnswers


class Autosaver:
    """Debounced background saves: ``mark()`` on every change; ``save_now()`` for SIGHUP and shutdown."""

    def __init__(self, save: Callable[[], Any], *, quiet: float = 0.05, max_delay: float = 1.0) -> None:
        self._save = save
        self.quiet = quiet
        self.max_delay = max_delay
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._first_unsaved: float | None = None
        self._last_change = 0.0
        self._changes = 0
        self._saved_through = 0
        self._saved = threading.Condition()
        self.saves = 0
        self._thread = threading.Thread(target=self._run, name="autosave", daemon=True)

    def start(self) -> Autosaver:
        self._thread.start()
        return self

    def mark(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._changes += 1
            self._last_change = now
            if self._first_unsaved is None:
                self._first_unsaved = now
        self._wake.set()

    @property
    def changes(self) -> int:
        with self._lock:
            return self._changes

    def wait_saved(self, through: int, timeout: float = 30.0) -> bool:
        """Block until a snapshot holding the first ``through`` changes is on disk (False on timeout)."""
        with self._saved:
            return self._saved.wait_for(lambda: self._saved_through >= through, timeout=timeout)

    def save_now(self) -> None:
        with self._lock:
            changes = self._changes
            self._first_unsaved = None
        with self._save_lock:
            started = time.monotonic()
            try:
                self._save()
                self.saves += 1
                logger.debug("snapshot saved in %.2f s", time.monotonic() - started)
                with self._saved:
                    self._saved_through = max(self._saved_through, changes)
                    self._saved.notify_all()
            except Exception:  # a failed save is retried with the next change; the stack keeps serving
                logger.exception("snapshot save failed")
                with self._lock:
                    if self._first_unsaved is None:
                        self._first_unsaved = time.monotonic()
                self._wake.set()
                return
        with self._lock:
            if self._changes != changes and self._first_unsaved is None:
                self._first_unsaved = time.monotonic()  # writes arrived while saving: save again soon
                self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            while True:
                with self._lock:
                    first, last = self._first_unsaved, self._last_change
                if first is None:
                    break
                now = time.monotonic()
                due = min(last + self.quiet, first + self.max_delay)
                if now >= due:
                    self.save_now()
                    continue
                self._stop.wait(due - now)
                if self._stop.is_set():
                    return

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
