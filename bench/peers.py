"""What users would write instead: bare streaming loops and the openai SDK with a semaphore.

Each loop only streams and parses: ``asyncio.gather`` over every request, an
``asyncio.Semaphore`` for the concurrency (what tutorials teach), text deltas joined per
request. Nothing is stored, retried, budgeted or published.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from bench.harness import RssSampler, memory_summary, proc_rss_bytes
from bench.live import STAMP, percentiles

__all__ = ["PEERS", "run_peer"]

POOL_TIMEOUT = 30.0


def _payload(model: str, i: int, max_tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": f"Write a short product description for item {i}."}],
        "max_tokens": max_tokens,
        "temperature": 0.7,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def _parse_line(line: str, parts: list[str]) -> bool:
    """Feed one SSE line; True at ``[DONE]``."""
    if not line.startswith("data:"):
        return False
    data = line[5:].strip()
    if data == "[DONE]":
        return True
    for choice in json.loads(data).get("choices") or []:
        content = (choice.get("delta") or {}).get("content")
        if content:
            parts.append(content)
    return False


Runner = Callable[[int], Awaitable[str]]


async def _httpx_loop(spec: dict[str, Any], transport: str) -> tuple[Runner, Callable[[], Awaitable[None]]]:
    import httpx

    c = spec["concurrency"]
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    timeout = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=POOL_TIMEOUT)
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        client = httpx.AsyncClient(transport=AiohttpTransport(limits=limits), limits=limits, timeout=timeout)
    else:
        client = httpx.AsyncClient(limits=limits, timeout=timeout)
    url = spec["url"] + "/chat/completions"

    async def one(i: int) -> str:
        parts: list[str] = []
        async with client.stream("POST", url, json=_payload(spec["model"], i, spec["max_tokens"])) as resp:
            resp.raise_for_status()
            async for line in resp.aiter_lines():
                if _parse_line(line, parts):
                    break
        return "".join(parts)

    return one, client.aclose


async def _aiohttp_loop(spec: dict[str, Any]) -> tuple[Runner, Callable[[], Awaitable[None]]]:
    import aiohttp

    first_token_ms: list[float] = spec.setdefault("_first_token_ms", [])

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=spec["concurrency"]),
        timeout=aiohttp.ClientTimeout(sock_connect=10, sock_read=60),
    )
    url = spec["url"] + "/chat/completions"

    async def one(i: int) -> str:
        parts: list[str] = []
        async with session.post(url, json=_payload(spec["model"], i, spec["max_tokens"])) as resp:
            resp.raise_for_status()
            first_at = 0
            async for raw in resp.content:
                if _parse_line(raw.decode(), parts):
                    break
                if not first_at and parts:
                    first_at = time.monotonic_ns()
        if parts and (match := STAMP.match(parts[0])):
            first_token_ms.append((first_at - int(match.group(1))) / 1e6)
        return "".join(parts)

    return one, session.close


async def _openai_loop(spec: dict[str, Any]) -> tuple[Runner, Callable[[], Awaitable[None]]]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=spec["url"], api_key="bench")  # the SDK's defaults, as tutorials use it

    async def one(i: int) -> str:
        parts: list[str] = []
        body = _payload(spec["model"], i, spec["max_tokens"])
        stream = await client.chat.completions.create(
            model=body["model"],
            messages=body["messages"],
            max_tokens=body["max_tokens"],
            temperature=body["temperature"],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return "".join(parts)

    return one, client.close


PEERS: dict[str, Callable[[dict[str, Any]], Awaitable[tuple[Runner, Callable[[], Awaitable[None]]]]]] = {
    "httpx": lambda spec: _httpx_loop(spec, "default"),
    "httpx_aiohttp": lambda spec: _httpx_loop(spec, "aiohttp"),
    "aiohttp": _aiohttp_loop,
    "openai_sdk": _openai_loop,
}


def _is_pool_timeout(exc: BaseException) -> bool:
    return "PoolTimeout" in type(exc).__name__ or "pool" in str(exc).lower() and "timeout" in str(exc).lower()


async def run_peer(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec["n"]`` streams through peer ``spec["peer"]`` at ``spec["concurrency"]``."""
    one, close = await PEERS[spec["peer"]](spec)
    n, c = spec["n"], spec["concurrency"]
    sem = asyncio.Semaphore(c)
    errors: Counter[str] = Counter()
    chars = 0
    done = 0
    in_flight = 0
    max_in_flight = 0

    async def task(i: int) -> None:
        nonlocal chars, done, in_flight, max_in_flight
        async with sem:
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
            try:
                text = await one(i)
                chars += len(text)
                done += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors["pool_timeout" if _is_pool_timeout(exc) else type(exc).__name__] += 1
            finally:
                in_flight -= 1

    baseline = proc_rss_bytes()
    sampler = RssSampler().start()
    cpu0, t0 = time.process_time(), time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(task(i) for i in range(n))), spec.get("time_limit_s", 600))
        finished = True
    except TimeoutError:
        finished = False
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    samples = sampler.stop()
    await close()
    return {
        "peer": spec["peer"],
        "n": n,
        "concurrency": c,
        "finished": finished,
        "succeeded": done,
        "errors": dict(errors),
        "pool_timeouts": errors.get("pool_timeout", 0),
        "wall_s": round(wall, 3),
        "gen_per_s": round(done / wall, 2),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_gen": round(cpu * 1000 / max(done, 1), 3),
        "chars": chars,
        "max_in_flight": max_in_flight,
        "memory": memory_summary(samples, baseline, c),
        **({"first_token_ms": percentiles(spec["_first_token_ms"])} if spec.get("_first_token_ms") else {}),
    }
