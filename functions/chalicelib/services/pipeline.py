"""The pipeline board's operator job: ``dealreg pipeline recount`` (infra/pipeline_cli.py)."""
from __future__ import annotations


def recount(*, now, page_size: int = 500) -> int:
    """Rebuild the board from the registrations table (approved ones, by the status index); returns the
    number of registrations counted. Run while nothing writes, or run it twice."""
    from chalicelib.domain.board import sums
    from chalicelib.store import aggregates
    from chalicelib.store.models import RegistrationItem
    from chalicelib.store.registrations import from_item
    from schemas.registration import RegistrationStatus

    regs = [from_item(i) for i in RegistrationItem.by_status.query(RegistrationStatus.APPROVED.value,
                                                                   page_size=page_size)]
    aggregates.overwrite(sums(regs), now=now)
    return len(regs)
