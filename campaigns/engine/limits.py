"""Per-provider flow control: request/token rate limits, adaptive concurrency, circuit breaker.

- :class:`RateLimits` — ``rpm_limit`` and ``tpm_limit`` as moving windows of 60 s, kept by the
  ``limits`` library in memory (one process) or in Redis (shared by every process and
  machine; its Lua scripts make each hit atomic). A request waits until both windows have
  room; tokens are counted as the worst case (reserved input + max_tokens), never reconciled
  with the usage a stream reports: that is how OpenAI's own limiter counts a request (its
  estimate plus ``max_tokens``, at the moment it arrives), so charging less would earn 429s.
- :class:`AdaptiveConcurrency` — when 429s arrive anyway, halve the requests this process
  lets through to the provider, then recover additively (AIMD, as TCP does).
- :class:`CircuitBreaker` — after ``threshold`` consecutive failures the provider is
  *open*: jobs wait (they are not failed) until a half-open probe succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from campaigns.engine.status import BreakerState

__all__ = ["AdaptiveConcurrency", "BreakerRecord", "CircuitBreaker", "RateLimitTooSmall", "RateLimits", "WINDOW_SECONDS"]

log = logging.getLogger("copygen.engine")

# Redis connections one process uses for the shared limits; callers past that wait for one.
REDIS_POOL_SIZE = 32
REDIS_POOL_WAIT = 30.0

# Providers count a minute from when a request *arrives*; ours starts when it is sent. A
# second of margin absorbs the difference in transit times between an early request and a
# later one, at a cost of under 2% of the limit.
WINDOW_SECONDS = 61


def per_window(amount: int) -> RateLimitItem:
    return RateLimitItemPerSecond(amount, WINDOW_SECONDS)


class RateLimitTooSmall(Exception):
    """One request needs more tokens than the provider's whole per-minute token limit."""


class RateLimits:
    """Moving-window rpm / tpm limits per provider, in memory or shared through Redis.

    Redis calls share a bounded, *blocking* pool: hundreds of jobs acquiring at once wait for
    a connection rather than fail (redis-py's default pool raises past 100). If Redis is
    unreachable the limits are kept in this process alone until it is back (a provider 429
    is still handled by retries and the adaptive gate): a Redis restart never fails a job.
    """

    def __init__(self, redis_url: str = "", *, key_prefix: str = "copygen-limits") -> None:
        storage: Storage
        if redis_url:
            from redis.asyncio import BlockingConnectionPool

            uri = redis_url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1)
            pool = BlockingConnectionPool.from_url(redis_url, max_connections=REDIS_POOL_SIZE, timeout=REDIS_POOL_WAIT)
            storage = RedisStorage(
                uri, implementation="redispy", key_prefix=key_prefix, connection_pool=pool  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        self.shared = bool(redis_url)
        self._local = MovingWindowRateLimiter(MemoryStorage()) if redis_url else self.limiter

    async def acquire(self, provider_id: int, *, rpm: int | None, tpm: int | None, tokens: int) -> float:
        """Wait until one request of ``tokens`` fits both limits and take it; return seconds waited."""
        if tpm and tokens > tpm:
            raise RateLimitTooSmall(f"a request may use {tokens} tokens but the provider's tpm_limit is {tpm}")
        if not self.shared:
            return await self._acquire(self.limiter, provider_id, rpm=rpm, tpm=tpm, tokens=tokens)
        try:
            return await self._acquire(self.limiter, provider_id, rpm=rpm, tpm=tpm, tokens=tokens)
        except Exception as exc:  # the shared store is down: limit in this process until it is back
            log.warning("shared rate limits unavailable (%s: %s); limiting in this process", type(exc).__name__, exc)
            return await self._acquire(self._local, provider_id, rpm=rpm, tpm=tpm, tokens=tokens)

    async def _acquire(
        self, limiter: MovingWindowRateLimiter, provider_id: int, *, rpm: int | None, tpm: int | None, tokens: int
    ) -> float:
        started = time.monotonic()
        key = str(provider_id)
        tpm_item = per_window(tpm) if tpm else None
        rpm_item = per_window(rpm) if rpm else None
        while True:
            # Test both windows first, so a request that can't go yet consumes neither.
            if tpm_item is not None and not await limiter.test(tpm_item, key, "tokens", cost=tokens):
                await self._sleep_until_room(limiter, tpm_item, key, "tokens")
                continue
            if rpm_item is not None and not await limiter.test(rpm_item, key, "requests"):
                await self._sleep_until_room(limiter, rpm_item, key, "requests")
                continue
            # Hits are atomic; losing a race between test and hit just means trying again
            # (a lost race after the token hit leaves that headroom unused for one window).
            if tpm_item is not None and not await limiter.hit(tpm_item, key, "tokens", cost=tokens):
                continue
            if rpm_item is not None and not await limiter.hit(rpm_item, key, "requests"):
                continue
            return time.monotonic() - started

    async def _sleep_until_room(self, limiter: MovingWindowRateLimiter, item: RateLimitItem, *identifiers: str) -> None:
        stats = await limiter.get_window_stats(item, *identifiers)
        wait = stats.reset_time - time.time()
        await asyncio.sleep(min(max(wait, 0.01), 1.0))


class AdaptiveConcurrency:
    """An AIMD gate: halve the limit on a 429, add one per ``limit`` successes."""

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = float(self.maximum)
        self.in_use = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_use < int(self.limit))
            self.in_use += 1
        try:
            yield
        finally:
            async with self._changed:
                self.in_use -= 1
                self._changed.notify_all()

    def on_rate_limited(self) -> None:
        self.limit = max(1.0, self.limit / 2)

    async def on_success(self) -> None:
        if self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
            async with self._changed:
                self._changed.notify_all()

    def resize(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = min(self.limit, float(self.maximum))


@dataclass
class BreakerRecord:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_until: float = 0.0
    cooldown: float = 0.0


class CircuitBreaker:
    """Per provider: open after ``threshold`` consecutive failures; let one probe through after
    ``cooldown`` seconds (doubling up to ``max_cooldown`` while probes fail)."""

    def __init__(
        self,
        *,
        threshold: int = 5,
        cooldown: float = 5.0,
        max_cooldown: float = 60.0,
        on_change: Callable[[BreakerState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.on_change = on_change
        self.clock = clock
        self.s = BreakerRecord(cooldown=cooldown)
        self._probe_in_flight = False
        self._closed = asyncio.Event()
        self._closed.set()

    @property
    def state(self) -> BreakerState:
        return self.s.state

    def _set(self, state: BreakerState) -> None:
        if state != self.s.state:
            self.s.state = state
            if self.on_change is not None:
                self.on_change(state)
        if state is BreakerState.CLOSED:
            self._closed.set()
        else:
            self._closed.clear()

    async def wait_turn(self) -> bool:
        """Wait while open; return True if this call is the half-open probe."""
        while True:
            if self.s.state is BreakerState.CLOSED:
                return False
            now = self.clock()
            if now >= self.s.opened_until and not self._probe_in_flight:
                self._probe_in_flight = True
                self._set(BreakerState.HALF_OPEN)
                return True
            delay = max(self.s.opened_until - now, 0.05)
            try:
                await asyncio.wait_for(self._closed.wait(), timeout=min(delay, 1.0))
            except TimeoutError:
                pass

    def record_success(self, probe: bool) -> None:
        self.s.failures = 0
        if probe:
            self._probe_in_flight = False
        self.s.cooldown = self.base_cooldown
        self._set(BreakerState.CLOSED)

    def record_failure(self, probe: bool) -> None:
        self.s.failures += 1
        if probe:
            self._probe_in_flight = False
            self.s.cooldown = min(self.s.cooldown * 2, self.max_cooldown)
            self._open()
        elif self.s.state is BreakerState.CLOSED and self.s.failures >= self.threshold:
            self._open()

    def release_probe(self) -> None:
        """The probe ended without telling anything (cancelled): let another one try."""
        if self._probe_in_flight:
            self._probe_in_flight = False
            if self.s.state is BreakerState.HALF_OPEN:
                self.s.opened_until = self.clock()
                self._set(BreakerState.OPEN)

    def _open(self) -> None:
        self.s.opened_until = self.clock() + self.s.cooldown
        self._set(BreakerState.OPEN)
