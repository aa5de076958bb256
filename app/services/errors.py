"""Domain exceptions; app/api/errors.py maps each to its HTTP status in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain reports to a caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(DomainError):
    """A value that cannot be read at all (a malformed header, say)."""


class NotAuthenticated(DomainError):
    """No valid credential."""


class PermissionDenied(DomainError):
    """Authenticated, but this role or principal may not do that."""


class NotFound(DomainError):
    """No such thing, or not the caller's."""


class Conflict(DomainError):
    """It already exists."""


class InvalidRequest(DomainError):
    """Well-formed, but refers to things that don't fit (unknown recipient, wrong salon...)."""


class LimitExceeded(DomainError):
    """Past a limit (streams open, opening rate, request rate): retry after `retry_after` s."""

    def __init__(self, detail: str, *, limit: str, retry_after: float) -> None:
        super().__init__(detail)
        self.limit = limit
        self.retry_after = retry_after


class Unavailable(DomainError):
    """Every database connection is taken, none came free in time: retry after `retry_after` s."""

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Overloaded(LimitExceeded):
    """Too much already waiting (password hashes): 503, retry after `retry_after` s."""
