"""The one error root: every refusal the product answers with is a ``DealregError``.

A refusal carries what the client is told: ``code`` (stable, machine-readable), ``status`` (the HTTP status the
edge answers with), ``message`` and ``errors`` (``[{"loc", "type"}]`` field paths, never submitted values).
Subclasses set ``code``/``status`` as class attributes; the HTTP edge (``chalicelib.http.api``) renders any
``DealregError`` in one place, so no handler maps refusals itself. Pure: no chalice, boto or storage here.
"""
from __future__ import annotations

from typing import Any


class DealregError(Exception):
    """A refused request or operation; nothing was written."""

    status: int = 409
    code: str = "conflict"

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None,
                 errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if errors is not None:
            self.errors = errors
        self.headers: dict[str, str] = dict(headers or {})

    # field-level details (``errors[].loc``), e.g. the limit a refusal names
    errors: list[dict[str, Any]] = []

    def body(self) -> dict[str, Any]:
        """The error body every route answers with (``schemas.registration.ErrorResponse``)."""
        return {"code": self.code, "message": self.message, "errors": list(self.errors)}


class NotFoundError(DealregError):
    """What the caller may not see is answered exactly like what does not exist."""

    status = 404
    code = "not_found"


class ValidationFailedError(DealregError):
    status = 422
    code = "validation_failed"


class TeamInactiveError(DealregError):
    """The caller's own team (a user's team, a partner's channel team) is deactivated: it opens no new registrations
    and takes nothing from the pool (as an inactive partner group's users cannot in Salesforce PRM); what its members
    already hold stays theirs until handed over. Nothing the caller can change in the request: 403. The message names
    no team (a partner must not learn internal ids); ``errors[].loc`` says whose team (``submitter.team_id``, or
    ``principal.team_id`` for a claim)."""

    status = 403
    code = "team_inactive"
    MESSAGE = ("您所在的团队已停用，不能提交或认领新的报备；已持有的报备不受影响。 / your team is deactivated: you cannot submit "
               "or claim new registrations; what you hold stays yours.")

    def __init__(self, loc: str = "submitter.team_id") -> None:
        super().__init__(self.MESSAGE, errors=[{"loc": loc, "type": "team_inactive"}])


class TeamDeactivatedError(DealregError):
    """A team the request *names* is deactivated — a new member's team, or the team of a holder named to receive a
    registration (assignment, transfer, bulk assignment, hand-over, approval owner): the caller can name another, so 422
    at that field (``errors[].type`` ``team_deactivated``). Its text may name a holder, so a partner reads a generic one
    (``redact_for_partners``)."""

    status = 422
    code = "team_deactivated"
    redact_for_partners = True

    def __init__(self, message: str, *, loc: str) -> None:
        super().__init__(message, errors=[{"loc": loc, "type": "team_deactivated"}])


class PendingCapError(DealregError):
    """The submitter already has ``cap`` registrations awaiting a decision (ownership rule ``pending_cap``)."""

    code = "pending_cap"

    def __init__(self, message: str = "", *, submitter: str | None = None, cap: int | None = None,
                 **kw: Any) -> None:
        if not message and submitter is not None and cap is not None:
            message = (f"{submitter} has {cap} registrations awaiting a decision, the most allowed "
                       f"(pending_cap = {cap})")
        super().__init__(message, **kw)
        self.cap = cap

    @property
    def errors(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The limit, named as every limit refusal names it (``errors[].loc``)."""
        return [{"loc": "limit.pending_cap", "type": "limit_exceeded"}]


class TooManyAttemptsError(DealregError):
    """Too many login attempts in one scope (``domain.login_throttle``): wait ``retry_after`` seconds. Nothing
    is locked; the answer is 429 with ``Retry-After``."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int, scope: str) -> None:
        super().__init__(f"too many login attempts; retry in {retry_after} s",
                         errors=[{"loc": f"limit.login_{scope}", "type": "rate_limited"}],
                         headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after
        self.scope = scope
