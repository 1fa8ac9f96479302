"""Per-token request rate limit: ``ApiToken.rate_limit_per_minute`` requests in any 60 s.

A moving window kept by the ``limits`` library, in Redis when ``REDIS_URL`` is set (one
count shared by every server process) or in this process's memory. Over the limit the API
answers 429 with ``Retry-After`` (seconds until the oldest request in the window expires).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from typing import Any

from django.conf import settings
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from campaigns.models import ApiToken
from campaigns.services.errors import RateLimited

__all__ = ["token_rate_limit"]

log = logging.getLogger("campaigns")

# The limiter's async storage belongs to the event loop it was first used on; a server has
# one loop, tests and management commands may run several (one per request).
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MovingWindowRateLimiter] = weakref.WeakKeyDictionary()
_memory: dict[str, Any] = {}


def _storage() -> Storage:
    if settings.REDIS_URL:
        uri = settings.REDIS_URL.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1)
        return RedisStorage(uri, implementation="redispy", key_prefix=f"{settings.REDIS_PREFIX}:api")
    return MemoryStorage()


def _limiter() -> MovingWindowRateLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = MovingWindowRateLimiter(_storage())
        if not settings.REDIS_URL:
            # Requests on other loops of this process share one count: the moving window's
            # timestamps are plain data, so hand the first storage's dict to the new one.
            _share_memory(limiter.storage)
    return limiter


def _share_memory(storage: Storage) -> None:
    if "events" not in _memory:
        _memory["events"] = storage.events  # type: ignore[attr-defined]
    storage.events = _memory["events"]  # type: ignore[attr-defined]


async def token_rate_limit(token: ApiToken) -> None:
    """Count one request of ``token``; raise :class:`RateLimited` when it is over its limit."""
    per_minute = token.rate_limit_per_minute
    if not per_minute:
        return
    item = RateLimitItemPerMinute(per_minute)
    limiter = _limiter()
    key = token.prefix  # random per token: a reused primary key (a test database) starts afresh
    try:
        if await limiter.hit(item, "token", key):
            return
        reset_time, _ = await limiter.get_window_stats(item, "token", key)
    except Exception:  # the limit protects the service; an unreachable Redis must not take it down
        log.warning("rate limit storage unavailable; request of token %s not counted", key, exc_info=True)
        return
    retry_after = max(1, math.ceil(reset_time - time.time()))
    raise RateLimited(f"rate limit of {per_minute} requests per minute for this token exceeded", retry_after)
