"""One error shape for the whole API: ``{"detail": "...", "field": "..."}``.

``field`` names the input at fault when there is one (a body field, a query parameter,
a header such as ``Idempotency-Key``, or ``file``); a rejected import adds ``errors``,
one per row at fault.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError
from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError

from campaigns.services.errors import BUSY_RETRY_AFTER, DomainError, RateLimited, database_busy, first_error

__all__ = ["install_error_handlers"]

BODY_SOURCES = {"body", "form", "file"}
log = logging.getLogger("campaigns.api")
BUSY = "the database is busy; retry after the number of seconds in Retry-After"
INTERNAL = "internal server error; it was logged"
NO_CREDENTIALS = "authentication required: send 'Authorization: Bearer <token>' or sign in"


def _error(
    api: NinjaAPI, request: HttpRequest, status: int, detail: str, field: str | None = None, **extra: Any
) -> HttpResponse:
    body: dict[str, Any] = {"detail": detail}
    if field:
        body["field"] = field
    body.update(extra)
    return api.create_response(request, body, status=status)


def _ninja_error(exc: NinjaValidationError) -> tuple[str, str | None]:
    """The first input error, as ``"<path>: <message>"``, and the top-level field it names."""
    error = exc.errors[0]
    loc = [str(part) for part in error.get("loc", ())]
    source, path = (loc[0], loc[1:]) if loc else ("request", [])
    if source in BODY_SOURCES:
        path = path[1:]  # the handler's parameter name, not a field of the payload
    message = str(error.get("msg", "invalid input"))
    if source == "file":
        return f"file: {message}", "file"
    if error.get("type") == "missing" and not path:
        return f"{source}: request {source} is required", None
    if not path:
        return f"{source}: {message}", None
    return f"{'.'.join(path)}: {message}", path[0]


def _row_errors(exc: DomainError) -> dict[str, Any]:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return {}
    return {"errors": [{"row": e.row, "field": e.field, "message": e.message} for e in errors]}


def install_error_handlers(api: NinjaAPI) -> None:
    """Translate every error the API can raise into the one shape."""

    @api.exception_handler(AuthenticationError)
    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        detail = exc.message if exc.message != AuthenticationError().message else NO_CREDENTIALS
        response = _error(api, request, exc.status_code, detail)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    @api.exception_handler(DomainError)
    def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        response = _error(api, request, exc.status_code, exc.message, getattr(exc, "field", None), **_row_errors(exc))
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response

    @api.exception_handler(DjangoValidationError)
    def django_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        return _error(api, request, 422, *first_error(exc))

    @api.exception_handler(NinjaValidationError)
    def ninja_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return _error(api, request, 422, *_ninja_error(exc))

    @api.exception_handler(ProtectedError)
    def protected_error(request: HttpRequest, exc: ProtectedError) -> HttpResponse:
        count = len(exc.protected_objects)
        return _error(api, request, 409, f"cannot delete: {count} record(s) still use it")

    @api.exception_handler(IntegrityError)
    def integrity_error(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
        return _error(api, request, 409, "conflicts with another record (it was changed at the same time); retry")

    @api.exception_handler(DataError)
    def data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
        return _error(api, request, 422, "a value is out of the range the database stores")

    @api.exception_handler(MultiPartParserError)
    def multipart_error(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
        return _error(api, request, 400, f"malformed multipart body: {exc}")

    @api.exception_handler(RequestDataTooBig)
    def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return _error(api, request, 413, "request body too large; upload files as multipart/form-data")

    @api.exception_handler(OperationalError)
    def operational_error(request: HttpRequest, exc: OperationalError) -> HttpResponse:
        if not database_busy(exc):
            return internal_error(request, exc)
        log.warning("database busy: %s %s: %s", request.method, request.path, exc)
        response = _error(api, request, 503, BUSY)
        response["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response

    @api.exception_handler(Exception)
    def internal_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        """Anything else: logged with its traceback, answered as JSON without it (DEBUG or not)."""
        log.error("unhandled error: %s %s", request.method, request.path, exc_info=exc)
        return _error(api, request, 500, INTERNAL)
