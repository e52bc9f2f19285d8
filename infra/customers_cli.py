"""``dealreg customers import FILE.csv`` and ``dealreg customers export``: existing customers in and out.

Import exists so duplicate detection does not start empty on day one: every valid row becomes a customer
(``customers`` table) and is added to the dedup blocking index through the same store code the dedup
handler uses (``store.dedup.index_customer``), so the next pre-check or registration sees it.

The CSV has a header row; columns (names are case-insensitive, order free, unknown columns ignored):

* ``name`` (required): the customer's name as it should be shown;
* ``registry_ids``: ``scheme:value`` pairs separated by ``;`` (``uscc:91440300708461136T;lei:…``);
  schemes as in the API (uscc, lei, gb-coh, tw-ubn, duns, other), values checked the same way;
* ``website``, ``country`` (ISO 3166 alpha-2), ``region``, ``industry``: as in the API's customer;
* ``owner_id``: the account owner in the CRM the file comes from (kept on the customer, exported back).

Rows are checked with the API's own model (``schemas.registration.Customer``); a bad row is reported
with its row number (the header is row 1) and field, and the import goes on with the next row.

Resumable: after each row the row number is saved in a checkpoint named after the file's SHA-256 and the
target stack (its endpoint, prefix and the stack's own id, which a ``make run RESET=1`` renews)
(``<state dir>/customers-import-<hash>.json``), so running the same command again after an interruption
continues after the last finished row; a changed file, another stack or a reset one starts from the top.
Writes are idempotent (the index refuses a customer name twice), so redoing the row that was in flight is
safe; a row whose writes time out or are throttled is retried (5 attempts, doubling waits from 0.5 s).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from chalicelib.domain.backoff import backoff_seconds
from infra.progress import Bar

COLUMNS = ("name", "registry_ids", "website", "country", "region", "industry", "owner_id")
_CUSTOMER_FIELDS = ("name", "website", "country", "region", "industry")
_ID_SEPARATOR = ";"
_OWNER_MAX = 200


@dataclass
class ImportReport:
    """What an import did: rows read this run, imported, skipped as already done, and row errors."""

    file_hash: str
    total: int = 0
    imported: int = 0
    resumed_from: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"file_sha256": self.file_hash, "rows": self.total, "imported": self.imported,
                "resumed_after_row": self.resumed_from, "errors": len(self.errors)}


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes (the checkpoint's name)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_path(state_dir: Path, file_hash: str, target: str = "") -> Path:
    """The checkpoint of one file imported into one stack (``target``: see :func:`target_of`)."""
    name = hashlib.sha256(f"{file_hash}\x1f{target}".encode()).hexdigest() if target else file_hash
    return state_dir / f"customers-import-{name[:32]}.json"


def target_of(now: datetime) -> str:
    """The stack the import writes to: endpoint, prefix, region and the stack's id."""
    from chalicelib import settings
    from chalicelib.store import directory

    s = settings.get()
    return "|".join([s.endpoint_url or "aws", s.prefix, s.region, directory.stack_id(now=now)])


RETRY_ATTEMPTS = 5
RETRY_BASE_SECONDS = 0.5


def _retrying(write: Callable[[], Any], *, sleep: Callable[[float], None] | None = None) -> Any:
    """Run ``write``, retrying storage timeouts and throttling (idempotent writes only)."""
    import time

    from chalicelib.http import _is_unavailable

    for attempt in range(RETRY_ATTEMPTS):
        try:
            return write()
        except Exception as exc:
            if attempt == RETRY_ATTEMPTS - 1 or not _is_unavailable(exc):
                raise
            (sleep or time.sleep)(backoff_seconds(attempt + 1, base=RETRY_BASE_SECONDS, cap=math.inf))


def _read_checkpoint(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"row": 1, "imported": 0, "errors": []}
    return json.loads(path.read_text(encoding="utf-8"))


def _write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)  # atomic: an interruption leaves the old checkpoint or the new one, never half


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """``(row number, {column: value})`` for each data row; the header is row 1."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        columns = [h.strip().lower() for h in header]
        if "name" not in columns:
            raise ValueError("the header row has no 'name' column")
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            yield number, {c: (row[i].strip() if i < len(row) else "") for i, c in enumerate(columns) if c}


def parse_row(row: dict[str, str]) -> tuple[Any, str | None, list[dict[str, str]]]:
    """Validate one row: ``(Customer or None, owner id or None, errors)``; errors are ``{"field", "error"}``."""
    from pydantic import ValidationError

    from schemas.registration import Customer

    errors: list[dict[str, str]] = []
    ids = []
    for part in (p.strip() for p in row.get("registry_ids", "").split(_ID_SEPARATOR)):
        if not part:
            continue
        scheme, sep, value = part.partition(":")
        if not sep:
            errors.append({"field": "registry_ids", "error": f"{part!r} is not scheme:value"})
            continue
        ids.append({"scheme": scheme.strip().lower(), "value": value.strip()})
    owner = row.get("owner_id") or None
    if owner is not None and len(owner) > _OWNER_MAX:
        errors.append({"field": "owner_id", "error": f"longer than {_OWNER_MAX} characters"})
    doc: dict[str, Any] = {k: row[k] for k in _CUSTOMER_FIELDS if row.get(k)}
    doc["registry_ids"] = ids
    try:
        customer = Customer.model_validate(doc)
    except ValidationError as exc:
        for err in exc.errors():
            errors.append({"field": str(err["loc"][0]) if err["loc"] else "row", "error": err["msg"]})
        customer = None
    return (customer if not errors else None), owner, errors


def import_file(path: Path, *, state_dir: Path, now: datetime,
                progress: Callable[[int, int, int], None] | None = None) -> ImportReport:
    """Import the customers of a CSV file, resuming after the last row a previous run finished.

    Args:
        path: the CSV file.
        state_dir: where the checkpoint lives.
        now: the import time.
        progress: called with (rows done, total rows, errors) after each row.

    Returns:
        The ``ImportReport`` (errors include those of earlier, interrupted runs of the same file).
    """
    from chalicelib.domain import dedup_keys
    from chalicelib.domain.registration import customer_key
    from chalicelib.store import companies, dedup as dedup_store

    file_hash = file_sha256(path)
    ckpt = checkpoint_path(state_dir, file_hash, _retrying(lambda: target_of(now)))
    state = _read_checkpoint(ckpt)
    rows = list(_rows(path))
    report = ImportReport(file_hash=file_hash, total=len(rows), resumed_from=state["row"] if state["row"] > 1 else 0,
                          imported=state["imported"], errors=list(state["errors"]))
    done = sum(1 for number, _ in rows if number <= state["row"])
    for number, row in rows:
        if number <= state["row"]:
            continue
        customer, owner, errors = parse_row(row)
        if customer is None:
            report.errors.extend({"row": number, **e} for e in errors)
        else:
            key = customer_key(customer)
            ids = [(r.scheme.value, r.value) for r in customer.registry_ids]
            exact = dedup_keys.exact_keys(customer.name, ids, customer.website)
            _retrying(lambda key=key, customer=customer, owner=owner:
                      companies.import_customer(key, customer, owner_id=owner, now=now))
            _retrying(lambda key=key, customer=customer, exact=exact: dedup_store.index_customer(
                key, customer.name, dedup_keys.name_forms(customer.name), exact, now=now))
            report.imported += 1
        state = {"row": number, "imported": report.imported, "errors": report.errors}
        _write_checkpoint(ckpt, state)
        done += 1
        if progress:
            progress(done, len(rows), len(report.errors))
    return report


def export_rows() -> Iterator[dict[str, str]]:
    """Every customer as a row with the import's columns (an export imports back unchanged)."""
    from chalicelib.store import companies

    for item in companies.iter_customers():
        ids = _ID_SEPARATOR.join(f"{r['scheme']}:{r['value']}" for r in (item.registry_ids or []))
        yield {"name": item.name, "registry_ids": ids, "website": item.website or "", "country": item.country or "",
               "region": item.region or "", "industry": item.industry or "", "owner_id": item.owner_id or ""}


def write_export(out: TextIO) -> int:
    """Write all customers as CSV (header + one row each); returns the number of rows."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in export_rows():
        writer.writerow(row)
        count += 1
    return count


def cmd_import(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    storage(args)
    path = Path(args.file)
    if not path.is_file():
        print(f"refused: no such file {path}", file=sys.stderr)
        return 2
    try:
        with Bar("import", unit="row", postfix=lambda errors: f"{errors} errors", quiet=args.quiet) as bar:
            report = import_file(path, state_dir=Path(args.state_dir), now=now(), progress=bar)
    except ValueError as exc:  # a file without the required header
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to continue after the last finished row",
              file=sys.stderr)
        return 130
    for err in report.errors:
        print(f"row {err['row']}: {err['field']}: {err['error']}", file=sys.stderr)
    print(json.dumps(report.as_json()))
    return 1 if report.errors else 0


def cmd_export(args: argparse.Namespace, storage: Callable[[argparse.Namespace], None], now: Any) -> int:
    storage(args)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as handle:
            count = write_export(handle)
        print(json.dumps({"rows": count, "out": args.out}))
    else:
        write_export(sys.stdout)
    return 0


def add_parsers(sub: Any, storage: Callable[[argparse.Namespace], None], now: Any,
                storage_flags: Callable[[argparse.ArgumentParser], None], state_dir: Path) -> None:
    """Register ``dealreg customers import|export`` (called by ``infra/cli.py``)."""
    customers = sub.add_parser("customers").add_subparsers(dest="action", required=True)
    ci = customers.add_parser("import", help="import existing customers from a CSV (resumable; see README)")
    ci.add_argument("file")
    ci.add_argument("--state-dir", default=str(state_dir), help="where the resume checkpoint is kept")
    ci.add_argument("--quiet", action="store_true", help="no progress bar")
    storage_flags(ci)
    ci.set_defaults(func=lambda a: cmd_import(a, storage, now))
    ce = customers.add_parser("export", help="write every customer as CSV (the import's columns)")
    ce.add_argument("--out", help="file to write (default: standard output)")
    storage_flags(ce)
    ce.set_defaults(func=lambda a: cmd_export(a, storage, now))
