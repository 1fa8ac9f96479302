"""``Idempotency-Key`` on every POST: the first response is stored and replayed for retries.

:class:`IdempotentOperation` is the operation class of every POST handler (see
:class:`campaigns.api.common.ApiRouter`). After authentication it claims the key for
the caller (keys are scoped per user) with a fingerprint of the request (method, path,
query and body; JSON compared by value). Then:

- the key is new: the handler runs; a 2xx response is stored, anything else releases
  the key (nothing was done, so a retry runs again);
- the key holds a stored response for the same request: it is replayed, with
  ``Idempotent-Replayed: true``;
- the first request with that key is still running: wait for it (polling the
  database, up to :data:`WAIT_SECONDS`) and replay its response, or answer 409;
- the key was used for a different request: 422 naming ``Idempotency-Key``.

The handler runs shielded from the client going away, so a request that started
always finishes and stores (or releases) its key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from ninja.operation import AsyncOperation

from campaigns.services.errors import CampaignStateError, InvalidInput
from campaigns.services.idempotency import (
    StoredResponse,
    canonical_json,
    idempotency_claim,
    idempotency_lookup,
    idempotency_release,
    idempotency_store,
    request_fingerprint,
)

__all__ = ["HEADER", "OPENAPI_PARAMETER", "IdempotentOperation", "WAIT_SECONDS"]

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
OPENAPI_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "description": (
        "Any unique string (a UUID) to make a retry of this POST safe: the first response is stored for 24 h "
        "and replayed for the same key and request; the same key with a different request is a 422."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[\\x21-\\x7e]+$"},
}


class IdempotencyInProgress(CampaignStateError):
    """Another request with the same key is still running (409)."""


def _key(request: HttpRequest) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not all(33 <= ord(ch) <= 126 for ch in key):
        raise InvalidInput(HEADER, f"{HEADER}: 1 to {MAX_KEY_LENGTH} visible ASCII characters, such as a UUID")
    return key


def _body_parts(request: HttpRequest) -> Iterator[bytes]:
    if request.content_type != "multipart/form-data":
        yield canonical_json(request.body) if request.content_type == "application/json" else request.body
        return
    for name in sorted(request.POST):
        yield f"\x00field {name}={request.POST.getlist(name)!r}".encode()
    for name in sorted(request.FILES):
        for upload in request.FILES.getlist(name):
            yield f"\x00file {name} {upload.name} {upload.size}\x00".encode()
            yield from upload.chunks()
            upload.seek(0)


def _fingerprint(request: HttpRequest) -> str:
    return request_fingerprint(
        method=request.method or "POST",
        path=request.path,
        query=request.META.get("QUERY_STRING", ""),
        body=_body_parts(request),
    )


def _replay(stored: StoredResponse) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status_code)
    for name, value in stored.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


async def _claim_or_replay(request: HttpRequest, key: str) -> HttpResponse | None:
    """Claim ``key`` (None: go on and run the handler) or the response to send instead."""
    user = request.user
    fingerprint = await sync_to_async(_fingerprint, thread_sensitive=False)(request)  # may hash a 10 MB upload
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        key_id = await sync_to_async(idempotency_claim)(
            user=user, key=key, method=request.method or "POST", path=request.path, request_hash=fingerprint
        )
        if key_id is not None:
            request._idempotency_key_id = key_id  # type: ignore[attr-defined]
            return None
        found = await sync_to_async(idempotency_lookup)(user=user, key=key, request_hash=fingerprint)
        if isinstance(found, StoredResponse):
            return _replay(found)
        if loop.time() > deadline:
            raise IdempotencyInProgress(f"a request with this {HEADER} is in progress; retry later")
        if found is None:  # still running (False: the key is free again, claim it at once)
            await asyncio.sleep(POLL_SECONDS)


async def _settle(request: HttpRequest, response: HttpResponseBase | None) -> None:
    key_id = getattr(request, "_idempotency_key_id", None)
    if key_id is None:
        return
    request._idempotency_key_id = None  # type: ignore[attr-defined]
    if isinstance(response, HttpResponse) and 200 <= response.status_code < 300:
        await sync_to_async(idempotency_store)(
            key_id=key_id, status_code=response.status_code, body=response.content, headers=dict(response.items())
        )
    else:
        await sync_to_async(idempotency_release)(key_id=key_id)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class IdempotentOperation(AsyncOperation):
    """An async operation that honours ``Idempotency-Key`` (see the module docstring)."""

    async def run(self, request: HttpRequest, **kw: Any) -> HttpResponseBase:  # type: ignore[override]
        task = asyncio.ensure_future(self._run_settled(request, kw))
        task.add_done_callback(_retrieve)  # if the client went away, nobody else looks at the outcome
        return await asyncio.shield(task)

    async def _run_settled(self, request: HttpRequest, kw: dict[str, Any]) -> HttpResponseBase:
        response: HttpResponseBase | None = None
        try:
            response = await super().run(request, **kw)
        finally:
            await _settle(request, response)
        return response

    async def _run_checks(self, request: HttpRequest) -> HttpResponse | None:  # type: ignore[override]
        error = await super()._run_checks(request)
        if error is not None:
            return error
        try:
            key = _key(request)
            return None if key is None else await _claim_or_replay(request, key)
        except Exception as exc:
            return self.api.on_exception(request, exc)
