"""Idempotency keys: the first response to a POST is stored and replayed for retries.

A request with an ``Idempotency-Key`` header first *claims* the key for its user by
inserting a row (the unique constraint on ``(user, key)`` picks one winner among any
number of concurrent requests, on any number of processes). The winner runs and then
*stores* its response, or *releases* the key if it failed, so that a retry runs again.
Everyone else *looks the key up*: the stored response is replayed; a row without a
response yet means the first request is still running; a different request under the
same key is an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import IdempotencyKey
from campaigns.services.errors import DomainError

__all__ = [
    "IdempotencyKeyReused",
    "KEY_TTL",
    "StoredResponse",
    "idempotency_claim",
    "idempotency_lookup",
    "idempotency_release",
    "idempotency_store",
    "request_fingerprint",
]

KEY_TTL = timedelta(hours=24)
"""A key is remembered this long; after that the same key starts afresh."""
STALE_CLAIM = timedelta(minutes=10)
"""A claim with no response after this long belongs to a request that died: it is dropped."""
REPLAYED_HEADERS = ("Content-Type", "Content-Disposition", "Location")


class IdempotencyKeyReused(DomainError):
    """The key was first used for a different request (another body, path or method)."""

    status_code = 422
    field = "Idempotency-Key"


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def request_fingerprint(*, method: str, path: str, query: str, body: Iterable[bytes]) -> str:
    """A hash of what makes two requests the same; JSON bodies compare by value, not by spacing."""
    digest = hashlib.sha256(f"{method.upper()} {path}?{query}\n".encode())
    for part in body:
        digest.update(part)
    return digest.hexdigest()


def canonical_json(raw: bytes) -> bytes:
    """``raw`` re-encoded with sorted keys and no spacing, or as is when it is not JSON."""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        return raw


def idempotency_claim(*, user: Any, key: str, method: str, path: str, request_hash: str) -> int | None:
    """Claim ``key`` for this request: the new row's id, or None when the key is taken."""
    try:
        with transaction.atomic():
            key_id = IdempotencyKey.objects.create(
                user=user, key=key, method=method, path=path[:500], request_hash=request_hash
            ).id
    except IntegrityError:
        return None
    # Forget this user's expired keys (a key is only ever looked up by its user).
    IdempotencyKey.objects.filter(user=user, created_at__lt=timezone.now() - KEY_TTL).delete()
    return key_id


def idempotency_lookup(*, user: Any, key: str, request_hash: str) -> StoredResponse | None | bool:
    """What a taken key says about this request.

    The stored response to replay; None while the first request is still running;
    False when the key is free again (expired, released or stale: claim it anew).
    Raises :class:`IdempotencyKeyReused` when the key belongs to a different request.
    """
    row = IdempotencyKey.objects.filter(user=user, key=key).first()
    if row is None:
        return False
    now = timezone.now()
    if row.created_at < now - KEY_TTL or (row.status_code is None and row.created_at < now - STALE_CLAIM):
        IdempotencyKey.objects.filter(id=row.id).delete()
        return False
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused(
            f"Idempotency-Key '{key}' was already used for a different request ({row.method} {row.path} "
            "with another body); use a new key for a new request"
        )
    if row.status_code is None:
        return None
    return StoredResponse(row.status_code, bytes(row.response_body or b""), dict(row.response_headers))


def idempotency_store(*, key_id: int, status_code: int, body: bytes, headers: Mapping[str, str]) -> None:
    """Keep the response of the request that claimed the key, for its retries."""
    kept = {name: headers[name] for name in REPLAYED_HEADERS if name in headers}
    IdempotencyKey.objects.filter(id=key_id).update(status_code=status_code, response_body=body, response_headers=kept)


def idempotency_release(*, key_id: int) -> None:
    """Forget a claim whose request failed: nothing was done, so a retry runs again."""
    IdempotencyKey.objects.filter(id=key_id).delete()
