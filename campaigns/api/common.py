"""What every handler module shares: the router class, response maps and small async helpers."""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import reduce
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from ninja import Router, Status
from ninja.errors import ConfigError
from ninja.operation import Operation
from ninja.signature import is_async

from campaigns.api.idempotency import OPENAPI_PARAMETER, IdempotentOperation
from campaigns.schemas import ErrorOut, PageParams
from campaigns.services.errors import NotFound

__all__ = [
    "ApiRouter",
    "adelete_or_404",
    "aget_or_404",
    "apage",
    "asave",
    "asearch_page",
    "links",
    "ordered",
    "responses",
    "save",
    "user_of",
]

M = TypeVar("M", bound=Model)

ALWAYS = (401, 403, 422, 429)
BODY_METHODS = {"POST", "PATCH", "PUT"}


def responses(status: int, schema: Any, *errors: int) -> dict[int, Any]:
    """``status`` -> ``schema``, plus ErrorOut for 401, 403, 422, 429 and each of ``errors``."""
    return {status: schema, **{code: ErrorOut for code in sorted({*ALWAYS, *errors})}}


RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until the token may call again (its per-minute request limit was reached)",
        "schema": {"type": "integer", "minimum": 1},
    }
}


BUSY_RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "seconds to wait before sending the request again (the database was busy; nothing was done)",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _become_idempotent(operation: Operation) -> None:
    operation.__class__ = IdempotentOperation


class ApiRouter(Router):
    """A Router for async handlers whose POST operations all honour ``Idempotency-Key``.

    It also documents 400 (malformed body) and 413 (body too large) on operations with a
    body, 409 (a request with the same key in progress) on POSTs, 503 (the database was
    busy) everywhere, and the ``Retry-After`` header of 429 (the token's rate limit) and 503.
    """

    def add_api_operation(self, path: str, methods: list[str], view_func: Callable[..., Any], **kwargs: Any) -> None:
        if not is_async(view_func):
            raise ConfigError(f"{view_func.__name__}: API handlers must be async")
        response = kwargs.get("response")
        if isinstance(response, dict) and BODY_METHODS & set(methods):
            kwargs["response"] = response = {400: ErrorOut, 413: ErrorOut, **response}
        if "POST" in methods:
            callbacks = getattr(view_func, "_ninja_contribute_to_operation", [])
            view_func._ninja_contribute_to_operation = [*callbacks, _become_idempotent]  # type: ignore[attr-defined]
            extra = dict(kwargs.get("openapi_extra") or {})
            extra["parameters"] = [*extra.get("parameters", []), OPENAPI_PARAMETER]
            kwargs["openapi_extra"] = extra
            if isinstance(response, dict):
                kwargs["response"] = {409: ErrorOut, **response}
        if isinstance(response, dict):
            kwargs["response"] = response = {**kwargs["response"], 503: ErrorOut}
        if isinstance(response, dict) and 429 in response:
            extra = dict(kwargs.get("openapi_extra") or {})
            documented = dict(extra.get("responses") or {})
            documented[429] = {**documented.get(429, {}), "headers": RETRY_AFTER}
            documented[503] = {**documented.get(503, {}), "headers": BUSY_RETRY_AFTER_HEADER}
            kwargs["openapi_extra"] = {**extra, "responses": documented}
        super().add_api_operation(path, methods, view_func, **kwargs)


def links(status: int, param: str, *operation_ids: str) -> dict[str, Any]:
    """``openapi_extra`` linking a created object's ``id`` to the operations that take it as ``param``."""
    named = {
        "".join(part.title() for part in op.split("_")): {
            "operationId": op,
            "parameters": {param: "$response.body#/id"},
        }
        for op in operation_ids
    }
    return {"responses": {status: {"links": named}}}


def user_of(request: HttpRequest) -> Any:
    """The caller, as set by the auth classes."""
    return request.user


async def aget_or_404(queryset: QuerySet[M], obj_id: int, what: str) -> M:
    obj = await queryset.filter(id=obj_id).afirst()
    if obj is None:
        raise NotFound(f"{what} {obj_id} not found")
    return obj


async def adelete_or_404(queryset: QuerySet[Any], obj_id: int, what: str) -> Status:
    """Delete object ``obj_id`` of ``queryset``: 204, 404 if absent (409 if still in use, by the error handler)."""
    obj = await aget_or_404(queryset, obj_id, what)
    await obj.adelete()
    return Status(204, None)


async def apage(queryset: QuerySet[Any], page: PageParams) -> dict[str, Any]:
    """``{"items", "count"}`` of one page of ``queryset``."""
    items = [obj async for obj in queryset[page.offset : page.offset + page.limit]]
    return {"items": items, "count": await queryset.acount()}


async def asearch_page(queryset: QuerySet[Any], filters: Any, *fields: str) -> dict[str, Any]:
    """A page of the rows of ``queryset`` with ``filters.search`` in any of ``fields`` (any case), in ``ordering``."""
    if filters.search:
        queryset = queryset.filter(reduce(operator.or_, (Q(**{f"{f}__icontains": filters.search}) for f in fields)))
    return await apage(ordered(queryset, filters.ordering), filters)


def ordered(queryset: QuerySet[M], ordering: str) -> QuerySet[M]:
    """Order by ``ordering`` (a schema-checked field name, ``-`` for descending), ties by id."""
    tie = "-id" if ordering.startswith("-") else "id"
    return queryset.order_by(ordering, tie) if ordering.lstrip("-") != "id" else queryset.order_by(ordering)


def save(obj: M, **fields: Any) -> M:
    """Set ``fields``, validate the whole object (Django's rules) and save it."""
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.full_clean()
    obj.save()
    return obj


asave = sync_to_async(save)
