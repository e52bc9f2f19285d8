"""Errors of the functions package. HTTP-facing ones subclass Chalice's so status codes stay in one place."""
from __future__ import annotations

from chalice import ChaliceViewError
from chalice.app import ChaliceUnhandledError


class DealregError(Exception):
    """Root of dealreg's own errors."""


class RequestInvalidError(ChaliceUnhandledError):
    """A body that failed validation. A Chalice*Unhandled* subclass, so it reaches the http middleware
    (which renders 422 with field paths) instead of being turned into a 500 by Chalice first."""

    def __init__(self, errors: list[dict[str, str]], status: int = 422, code: str = "validation_failed") -> None:
        super().__init__(code)
        self.errors = errors
        self.status = status
        self.code = code


class PayloadTooLargeError(ChaliceViewError):
    STATUS_CODE = 413


class ServiceUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


class ConflictError(DealregError):
    """A conditional write lost: the state was not what the operation expected."""


class NotFound(DealregError):
    pass
