"""CPU of the intake steps before the first AWS call, per webhook payload (issue 15 item 2; partly done).

In-process, warm, ``examples/opportunity.json``: the payload validation, building the registration, and
``store.registrations.to_item`` — with the stored payload computed as main did (validated again, then dumped)
and as now (dumped). Minimum of 5 repeats of N calls each, so a loaded machine inflates it the least.

    .venv/bin/python -m bench.intake_cpu --n 2000
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import timeit
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    from chalicelib.domain.registration import new_registration
    from chalicelib.store import registrations
    from schemas.common import Actor
    from schemas.registration import RegistrationCreate

    body = json.loads((ROOT / "examples" / "opportunity.json").read_text())["data"]
    payload = RegistrationCreate.model_validate(body)
    now, actor = datetime.now(UTC), Actor(kind="partner", id="acme")
    reg = new_registration(payload, reg_id="reg_bench", source="partner", submitter=actor, now=now, partner_id="acme")
    fields = set(RegistrationCreate.model_fields)
    steps = {
        "validate the payload (RegistrationCreate)": lambda: RegistrationCreate.model_validate(body),
        "new_registration (Registration built, customer key)": lambda: new_registration(
            payload, reg_id="reg_bench", source="partner", submitter=actor, now=now, partner_id="acme"),
        "stored payload as main: validate again + dump": lambda: RegistrationCreate.model_validate(
            reg.model_dump(include=fields)).model_dump(mode="json"),
        "stored payload now: dump": lambda: reg.model_dump(mode="json", include=fields),
        "to_item now (whole PynamoDB item)": lambda: registrations.to_item(reg),
    }
    assert steps["stored payload as main: validate again + dump"]() == registrations.to_item(reg).data
    print(f"intake steps, µs per call, min of 5 × {args.n} ({platform.python_version()}, load "
          f"{os.getloadavg()[0]:.1f})")
    print("| step | µs |")
    print("|---|---|")
    for name, fn in steps.items():
        print(f"| {name} | {min(timeit.repeat(fn, number=args.n, repeat=5)) / args.n * 1e6:.0f} |")


if __name__ == "__main__":
    main()
