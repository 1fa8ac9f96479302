"""Domain errors raised by services; the API and the UI translate them once."""

from __future__ import annotations

__all__ = [
    "CampaignStateError",
    "DomainError",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "QuotaExceeded",
    "RateLimited",
]


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """Input that names a field which is wrong."""

    status_code = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CampaignStateError(DomainError):
    status_code = 409


class NotFound(DomainError):
    status_code = 404


class PermissionDenied(DomainError):
    status_code = 403


class QuotaExceeded(DomainError):
    """A spending quota that applies has nothing left; the message names it."""

    status_code = 402


class RateLimited(DomainError):
    """Too many requests; ``retry_after`` is the number of seconds to wait."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
