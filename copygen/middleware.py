"""Middleware of the site (pages; the API translates its own errors in ``campaigns.api.errors``)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from campaigns.services.errors import BUSY_RETRY_AFTER, database_busy

__all__ = ["DatabaseBusyMiddleware"]

log = logging.getLogger("copygen.busy")


class DatabaseBusyMiddleware(MiddlewareMixin):
    """A page whose database was busy (SQLite's "database is locked") answers 503 with
    ``Retry-After``, not 500: nothing was wrong with the request, it can be sent again."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_busy(exception):
            return None
        log.warning("database busy: %s %s: %s", request.method, request.path, exception)
        response = HttpResponse(
            "The database is busy right now. Please try again in a moment.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response
