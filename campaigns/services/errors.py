"""Domain errors raised by services; the API and the UI translate them once."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Model

__all__ = [
    "CampaignStateError",
    "DomainError",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "QuotaExceeded",
    "RateLimited",
    "full_clean_or_invalid",
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


def full_clean_or_invalid(instance: Model, *, exclude: list[str] | None = None) -> None:
    """``instance.full_clean()``, its first error raised as :class:`InvalidInput` naming the field."""
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput(field, f"{field}: {messages[0]}") from exc


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
