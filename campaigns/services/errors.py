"""Domain errors raised by services; the API and the UI translate them once."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import OperationalError
from django.db.models import Model

__all__ = [
    "CampaignStateError",
    "DomainError",
    "InvalidInput",
    "NotFound",
    "BUSY_RETRY_AFTER",
    "PermissionDenied",
    "QuotaExceeded",
    "RateLimited",
    "database_busy",
    "first_error",
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


def first_error(exc: ValidationError) -> tuple[str, str | None]:
    """The first message of a Django ValidationError, as ``"field: message"``, and the field.

    A unique constraint over several fields (a model's provider and name) blames the last one;
    an error of no one field gives the message alone and ``None``.
    """
    if not hasattr(exc, "error_dict"):
        return "; ".join(exc.messages), None
    field, errors = next(iter(exc.error_dict.items()))
    message = next(iter(errors[0]))
    if field == NON_FIELD_ERRORS:
        params = errors[0].params or {}
        fields = params.get("unique_check") if errors[0].code == "unique_together" else None
        if not fields:
            return message, None
        field = fields[-1]
    return f"{field}: {message}", field


def full_clean_or_invalid(instance: Model, *, exclude: list[str] | None = None) -> None:
    """``instance.full_clean()``, its first error raised as :class:`InvalidInput` naming the field."""
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        message, field = first_error(exc)
        raise InvalidInput(field or NON_FIELD_ERRORS, message) from exc


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


# Seconds a client is asked to wait when the database was too busy to answer (503).
BUSY_RETRY_AFTER = 2
# PostgreSQL: lock not available, deadlock detected, serialization failure, statement or lock timeout.
BUSY_SQLSTATES = frozenset({"55P03", "40P01", "40001", "57014"})


def database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the database was busy (a lock held too long), not that the request was wrong.

    SQLite says "database is locked" once its busy timeout passes while another connection
    writes; PostgreSQL reports lock and deadlock failures by SQLSTATE.
    """
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc).lower()
    if "database is locked" in text or "database table is locked" in text:
        return True
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in BUSY_SQLSTATES or getattr(cause, "pgcode", None) in BUSY_SQLSTATES
