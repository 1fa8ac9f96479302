"""Flow control parts of the engine, in isolation (no network)."""

from __future__ import annotations

import asyncio

import pytest

from campaigns.engine.limits import AdaptiveConcurrency, CircuitBreaker, RateLimits, RateLimitTooSmall


async def test_aimd_halves_on_429_and_recovers_additively() -> None:
    gate = AdaptiveConcurrency(16)
    gate.on_rate_limited()
    gate.on_rate_limited()
    assert int(gate.limit) == 4
    for _ in range(40):
        await gate.on_success()
    assert 4 < gate.limit < 16
    for _ in range(1000):
        await gate.on_success()
    assert gate.limit == 16


async def test_gate_admits_at_most_its_limit() -> None:
    gate = AdaptiveConcurrency(3)
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with gate.slot():
            peak = max(peak, gate.in_use)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(work() for _ in range(20)))
    assert peak == 3 and gate.in_use == 0


async def test_breaker_opens_after_threshold_and_one_probe_closes_it() -> None:
    now = [0.0]
    changes: list[str] = []
    breaker = CircuitBreaker(threshold=3, cooldown=5.0, on_change=changes.append, clock=lambda: now[0])
    for _ in range(3):
        breaker.record_failure(probe=False)
    assert breaker.state == "open"
    waiter = asyncio.ensure_future(breaker.wait_turn())
    await asyncio.sleep(0.05)
    assert not waiter.done(), "jobs wait while the breaker is open"
    now[0] = 5.1
    assert await asyncio.wait_for(waiter, 2) is True  # the half-open probe
    second = asyncio.ensure_future(breaker.wait_turn())
    await asyncio.sleep(0.05)
    assert not second.done(), "only one probe at a time"
    breaker.record_success(probe=True)
    assert await asyncio.wait_for(second, 2) is False
    assert changes == ["open", "half_open", "closed"]


async def test_a_failed_probe_doubles_the_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown=2.0, clock=lambda: now[0])
    breaker.record_failure(probe=False)
    now[0] = 2.0
    assert await breaker.wait_turn() is True
    breaker.record_failure(probe=True)
    assert breaker.state == "open" and breaker.s.opened_until == pytest.approx(6.0)


async def test_rate_limits_hold_requests_and_tokens_to_the_window() -> None:
    limits = RateLimits()
    for _ in range(5):
        await asyncio.wait_for(limits.acquire(1, rpm=5, tpm=None, tokens=1), 1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limits.acquire(1, rpm=5, tpm=None, tokens=1), 0.3)
    await asyncio.wait_for(limits.acquire(2, rpm=5, tpm=None, tokens=1), 1)  # another provider
    with pytest.raises(RateLimitTooSmall):
        await limits.acquire(3, rpm=None, tpm=100, tokens=101)
