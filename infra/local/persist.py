"""Durable local state for ``make run``: a write-ahead journal of the stand-in's changes and a snapshot.

Files in the state directory (``.dealreg/``, each mode 0600: they hold every partner's signing secret):

- ``snapshot.jsonl`` — the state as of journal file N: a header line ``#\\t{"through": N, ...}``, one line per
  item ``T\\t<table>\\t<key>\\t<item>`` (key and item in DynamoDB's JSON wire format; the key canonical) and
  one line ``S\\t<every secret by name>``.
- ``journal-<n>.jsonl`` — one line per write request the stand-in served (a JSON list of changes), written
  *inside* the stand-in's lock right after moto applied it: the after-image of every item the request named
  (``["T", table, key, item or null]``) or, for a Secrets Manager write, every secret's value. After-images
  make a replay idempotent and order-safe: the last line naming an item holds its state.

:class:`Journal` appends (buffered) and syncs in groups: an API answer to a write (a 202) is sent only once
an ``fsync`` covered every line appended before it (:func:`durable_answers`), and a background thread syncs
whatever else was written within ``flush_every`` seconds (the event pipeline's own writes). When a journal
file passes ``compact_bytes`` it is closed, a new one opened, and the snapshot is folded forward in the
background from the files alone (no lock on the stand-in): base items + the journals' last after-images →
a new snapshot (atomic replace) → the folded journals deleted (also, at the next fold, those a crash left
between the replace and the deletion). :func:`recover` does the same fold at start,
then loads the result into moto; a torn last line (a crash mid-append, never answered) is ignored.

The snapshot of earlier versions (``snapshot.json``, one JSON document) is read once, as a base, and removed
at the first fold.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

logger = logging.getLogger("dealreg.local")

SNAPSHOT = "snapshot.jsonl"
LEGACY_SNAPSHOT = "snapshot.json"
_JOURNAL = re.compile(r"^journal-(\d{6,})\.jsonl$")

# X-Amz-Target operations that change what the state holds (DynamoDB items, Secrets Manager secrets).
ITEM_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
SECRET_WRITES = frozenset({"CreateSecret", "PutSecretValue", "UpdateSecret", "DeleteSecret", "RestoreSecret"})
WRITE_OPERATIONS = ITEM_WRITES | SECRET_WRITES


def write_operation(environ: dict) -> str | None:
    """The write operation a WSGI request to the stand-in asks for (None: not a write)."""
    op = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
    return op if op in WRITE_OPERATIONS else None


def durable_answers(app: Any, saver: Any, *, methods: frozenset[str] = frozenset(
        {"POST", "PUT", "PATCH", "DELETE"})) -> None:
    """Make the local API answer a write only once what it wrote is on disk: a 202 is never lost, even to a
    SIGKILL right after it. ``app`` is the Chalice app served by ``chalice.local`` (its class is swapped, as
    ``chalice.local.create_local_server`` itself does); ``saver`` has ``changes`` and ``wait_saved``."""
    base = app.__class__

    class DurableAnswers(base):  # type: ignore[misc, valid-type]
        def __call__(self, event: dict, context: Any) -> Any:
            response = super().__call__(event, context)
            if ((event or {}).get("requestContext") or {}).get("httpMethod") in methods:
                through = saver.changes
                if through and not saver.wait_saved(through, timeout=30):
                    logger.warning("answering before the journal caught up (sync too slow or failed)")
            return response

    app.__class__ = DurableAnswers


# --- wire format ------------------------------------------------------------------------------------------

def _wire(value: Any) -> dict:
    """A moto ``DynamoType`` in DynamoDB's JSON wire format (moto keeps the wire values it was sent)."""
    if value.is_list():
        return {"L": [_wire(v) for v in value.value]}
    if value.is_map():
        return {"M": {k: _wire(v) for k, v in value.value.items()}}
    return {value.type: value.value}


def _key_part(value: dict) -> dict:
    (kind, raw), = value.items()
    if kind == "N":  # 1, 1.0 and 1e0 are one key
        with contextlib.suppress(InvalidOperation, TypeError):
            raw = str(Decimal(raw).normalize())
    return {kind: raw}


def canonical_key(attrs: dict, names: tuple[str, ...]) -> str:
    """One string per primary key: the key attributes ``names`` of ``attrs`` (wire format)."""
    return json.dumps({n: _key_part(attrs[n]) for n in names}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _open_private(path: Path, mode: str = "w") -> Any:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # 0600 from the first byte, also for a file an older run left wider
    return os.fdopen(fd, mode, encoding="utf-8")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the journal --------------------------------------------------------------------------------------------

class Journal:
    """Appends the after-images of what each write request changed; see the module docstring.

    ``backends()`` answers ``(dynamodb backend, secretsmanager backend)`` of the stand-in (in this process).
    """

    def __init__(self, state_dir: Path, backends: Callable[[], tuple[Any, Any]], *, number: int,
                 prefix: str = "", compact_bytes: int = 32 << 20, flush_every: float = 0.5) -> None:
        self.state_dir = state_dir
        self._backends = backends
        self._prefix = prefix
        self.compact_bytes = compact_bytes
        self.flush_every = flush_every
        self._lock = threading.Lock()  # the file and the counters
        self._sync_lock = threading.Lock()  # one fsync (or rotation) at a time
        self._compact_lock = threading.Lock()
        self._number = number
        self._file = _open_private(self._path(number), "a")
        self._appended = 0
        self._synced = 0
        self._size = 0
        self.failed = False
        self.compactions = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)

    def _path(self, number: int) -> Path:
        return self.state_dir / f"journal-{number:06d}.jsonl"

    # -- appending (inside the stand-in's lock) --
    def record(self, operation: str, body: bytes) -> None:
        """After moto served write ``operation`` with request ``body``: append what it changed."""
        try:
            changes = self._changes(operation, json.loads(body or b"{}"))
        except Exception:  # never break the stand-in; but say loudly that durability is gone
            logger.exception("journal: could not record a %s; answers will warn until restart", operation)
            self.failed = True
            return
        if not changes:
            return
        line = _dump(changes) + "\n"
        with self._lock:
            self._file.write(line)
            self._appended += 1
            self._size += len(line)

    def _changes(self, operation: str, body: dict) -> list:
        ddb, secrets = self._backends()
        if operation in SECRET_WRITES:
            return [["S", all_secrets(secrets, self._prefix)]]
        named = _written_keys(operation, body)
        out = []
        for table_name, attrs in named:
            table = ddb.tables.get(table_name)
            if table is None:
                continue
            names = key_names(table)
            if any(n not in attrs for n in names):
                continue  # moto refused it: nothing was written
            item = _stored(table, attrs, names)
            out.append(["T", table_name, canonical_key(attrs, names),
                        None if item is None else _dump({k: _wire(v) for k, v in item.attrs.items()})])
        return out

    def record_secrets(self) -> None:
        """Append every secret's current value (after start: the generated ones and the restored ones)."""
        _, secrets = self._backends()
        line = _dump([["S", all_secrets(secrets, self._prefix)]]) + "\n"
        with self._lock:
            self._file.write(line)
            self._appended += 1

    # -- durability --
    @property
    def changes(self) -> int:
        with self._lock:
            return self._appended

    def wait_saved(self, through: int, timeout: float = 30.0) -> bool:
        """Block until an fsync covered the first ``through`` lines (group commit). False if it cannot."""
        deadline = time.monotonic() + timeout
        while True:
            if self._synced >= through:
                return not self.failed
            if not self._sync_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return False
            try:
                if self._synced < through:
                    self._sync_locked()
            finally:
                self._sync_lock.release()

    def _sync_locked(self) -> None:
        with self._lock:
            self._file.flush()
            upto = self._appended
            fd = self._file.fileno()
        os.fsync(fd)  # outside the lock: appends go on meanwhile (the next sync covers them)
        self._synced = max(self._synced, upto)

    def sync(self) -> None:
        self.wait_saved(self.changes)

    # -- compaction --
    def rotate(self) -> int:
        """Close the current journal file (synced) and open the next; answers the closed file's number."""
        with self._sync_lock:
            self._sync_locked()
            with self._lock:
                closed = self._number
                self._file.close()
                self._number += 1
                self._file = _open_private(self._path(self._number), "a")
                self._size = 0
            _fsync_dir(self.state_dir)
        return closed

    def compact(self) -> dict[str, int]:
        """Rotate and fold every closed journal into the snapshot (no lock on the stand-in)."""
        with self._compact_lock:
            through = self.rotate()
            ddb, _ = self._backends()
            counts = fold(self.state_dir, {name: key_names(t) for name, t in ddb.tables.items()}, through)
            self.compactions += 1
            return counts

    def start(self) -> Journal:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.flush_every):
            try:
                if self._synced < self.changes:
                    self.sync()
                if self._size >= self.compact_bytes:
                    started = time.monotonic()
                    counts = self.compact()
                    logger.info("journal folded into the snapshot (%d items) in %.1f s", sum(counts.values()),
                                time.monotonic() - started)
            except Exception:  # a failed fold leaves the journals: the next one (or the restart) folds them
                logger.exception("journal: background sync or fold failed")

    def close(self) -> dict[str, int]:
        """Stop the background thread, sync, and fold everything into the snapshot (a clean stop)."""
        self._stop.set()
        self._thread.join(timeout=60)
        counts = self.compact()
        with self._lock:
            self._file.close()
            last = self._path(self._number)
        if last.exists() and last.stat().st_size == 0:
            last.unlink()  # opened by the last rotation and never written
        return counts


def _written_keys(operation: str, body: dict) -> list[tuple[str, dict]]:
    """(table, attributes holding the key) of every item a DynamoDB write request names, one branch per
    write shape (PutItem, UpdateItem/DeleteItem, BatchWriteItem, TransactWriteItems)."""
    named: list[tuple[str, dict]] = []
    if operation == "PutItem":
        named.append((body["TableName"], body["Item"]))
    elif operation in ("UpdateItem", "DeleteItem"):
        named.append((body["TableName"], body["Key"]))
    elif operation == "BatchWriteItem":
        for table, requests in (body.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    named.append((table, request["PutRequest"]["Item"]))
                elif "DeleteRequest" in request:
                    named.append((table, request["DeleteRequest"]["Key"]))
    elif operation == "TransactWriteItems":
        for entry in body.get("TransactItems") or []:
            kind, op = next(iter(entry.items()))
            if kind == "Put":
                named.append((op["TableName"], op["Item"]))
            elif kind in ("Update", "Delete"):
                named.append((op["TableName"], op["Key"]))
    return named


def key_names(table: Any) -> tuple[str, ...]:
    return (table.hash_key_attr, table.range_key_attr) if table.range_key_attr else (table.hash_key_attr,)


def _stored(table: Any, attrs: dict, names: tuple[str, ...]) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    partition = table.items.get(DynamoType(attrs[names[0]]))
    if partition is None or len(names) == 1:
        return partition
    return partition.get(DynamoType(attrs[names[1]]))


def all_secrets(backend: Any, prefix: str = "") -> dict[str, str]:
    """Name → current string value of every live secret (under ``prefix/`` if given) in moto's backend."""
    out = {}
    for secret in list(backend.secrets.values()):
        name = getattr(secret, "name", None)
        if not name or (prefix and not name.startswith(f"{prefix}/")) or secret.is_deleted():
            continue
        try:
            value = backend.get_secret_value(name, None, None).get("SecretString")
        except Exception:  # noqa: BLE001 - a secret without a current string value has nothing to keep
            continue
        if value is not None:
            out[name] = value
    return out


# --- fold and recovery --------------------------------------------------------------------------------------

def journal_numbers(state_dir: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in state_dir.iterdir() if (m := _JOURNAL.match(p.name)))


def _journal_lines(path: Path) -> Iterator[list]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:  # a torn last line: a crash mid-append (that write was never answered)
                logger.warning("journal %s: ignoring a torn line", path.name)
                return


def _base_lines(state_dir: Path, key_attrs: dict[str, tuple[str, ...]]) -> tuple[int, Iterator[str]]:
    """(journal number the base snapshot holds, its item/secret lines)."""
    snapshot = state_dir / SNAPSHOT
    if snapshot.exists():
        f = snapshot.open(encoding="utf-8")
        header = f.readline()
        if not header.startswith("#\t"):
            f.close()
            raise ValueError(f"{snapshot} has no header line")
        through = int(json.loads(header[2:])["through"])

        def lines() -> Iterator[str]:
            with f:
                yield from f
        return through, lines()
    legacy = state_dir / LEGACY_SNAPSHOT
    if legacy.exists():
        data = json.loads(legacy.read_text(encoding="utf-8"))

        def converted() -> Iterator[str]:
            for table, items in data.get("tables", {}).items():
                names = key_attrs.get(table)
                if names is None:
                    continue
                for item in items:
                    yield f"T\t{table}\t{canonical_key(item, names)}\t{_dump(item)}\n"
            yield f"S\t{_dump(data.get('secrets', {}))}\n"
        return 0, converted()
    return 0, iter(())


def fold(state_dir: Path, key_attrs: dict[str, tuple[str, ...]], through: int | None = None) -> dict[str, int]:
    """Write a new snapshot: the current one plus every journal up to ``through`` (default: all), then delete
    those journals. Answers the item count per table."""
    base_through, base = _base_lines(state_dir, key_attrs)
    present = journal_numbers(state_dir)
    numbers = [n for n in present if n > base_through and (through is None or n <= through)]
    # Already in the base: a crash after the last fold replaced the snapshot, before it deleted its journals.
    # Never replayed (the base may hold newer images); deleted with this fold's own.
    folded_before = [n for n in present if n <= base_through]
    latest: dict[tuple[str, str], str | None] = {}
    secrets: dict | None = None
    for n in numbers:
        for changes in _journal_lines(state_dir / f"journal-{n:06d}.jsonl"):
            for change in changes:
                if change[0] == "T":
                    latest[(change[1], change[2])] = change[3]
                elif change[0] == "S":
                    secrets = change[1]
    new_through = max([base_through, *numbers])
    counts: dict[str, int] = {}
    tmp = state_dir / (SNAPSHOT + ".tmp")
    with _open_private(tmp) as out:
        out.write(f"#\t{_dump({'through': new_through, 'format': 1})}\n")
        for line in base:
            kind, _, rest = line.partition("\t")
            if kind == "S":
                if secrets is None:
                    secrets = json.loads(rest)
                continue
            table, key, _item = rest.split("\t", 2)
            if (table, key) in latest:
                continue  # a journal holds a newer image (or its deletion)
            out.write(line)
            counts[table] = counts.get(table, 0) + 1
        for (table, key), item in latest.items():
            if item is not None:
                out.write(f"T\t{table}\t{key}\t{item}\n")
                counts[table] = counts.get(table, 0) + 1
        out.write(f"S\t{_dump(secrets or {})}\n")
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(state_dir / SNAPSHOT)  # atomic: a crash mid-fold leaves the previous snapshot and the journals
    _fsync_dir(state_dir)
    for n in folded_before + numbers:
        (state_dir / f"journal-{n:06d}.jsonl").unlink(missing_ok=True)
    (state_dir / LEGACY_SNAPSHOT).unlink(missing_ok=True)
    return counts


def read_snapshot(state_dir: Path) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """(items per table, secrets) of the snapshot (tests and tools; :func:`recover` streams instead)."""
    tables: dict[str, list[dict]] = {}
    secrets: dict[str, str] = {}
    with (state_dir / SNAPSHOT).open(encoding="utf-8") as f:
        f.readline()
        for line in f:
            kind, _, rest = line.rstrip("\n").partition("\t")
            if kind == "S":
                secrets = json.loads(rest)
            else:
                table, _key, item = rest.split("\t", 2)
                tables.setdefault(table, []).append(json.loads(item))
    return tables, secrets


def recover(state_dir: Path, backends: Callable[[], tuple[Any, Any]], secret_client: Any) -> tuple[int, dict]:
    """At start, before anything reads the stand-in: fold every journal into the snapshot and load it into
    moto (items straight into the backend; secrets through ``secret_client``). Answers (next journal number,
    item count per table)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ddb, _ = backends()
    counts = fold(state_dir, {name: key_names(t) for name, t in ddb.tables.items()})
    if not (state_dir / SNAPSHOT).exists():
        return 1, {}
    with (state_dir / SNAPSHOT).open(encoding="utf-8") as f:
        through = int(json.loads(f.readline()[2:])["through"])
        for line in f:
            kind, _, rest = line.rstrip("\n").partition("\t")
            if kind == "S":
                for name, value in json.loads(rest).items():
                    try:
                        secret_client.create_secret(Name=name, SecretString=value)
                    except secret_client.exceptions.ResourceExistsException:  # generated by provision: keep ours
                        secret_client.put_secret_value(SecretId=name, SecretString=value)
                continue
            table, _key, item = rest.split("\t", 2)
            if table in ddb.tables:
                ddb.put_item(table, json.loads(item))
            else:
                logger.warning("snapshot: table %s no longer exists; its items are not loaded", table)
    return through + 1, counts


def reset(state_dir: Path) -> None:
    """Forget the saved state (``make run RESET=1``)."""
    if not state_dir.exists():
        return
    for p in state_dir.iterdir():
        if p.name in (SNAPSHOT, LEGACY_SNAPSHOT, SNAPSHOT + ".tmp") or _JOURNAL.match(p.name):
            p.unlink()


__all__ = ["Journal", "durable_answers", "fold", "recover", "reset", "read_snapshot", "write_operation"]
