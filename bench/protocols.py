"""HTTP + SSE against gRPC (Triton ``ModelStreamInfer``), through copygen's own providers.

One child process per protocol and concurrency streams ``n`` generations of the same
simulated model from the same simulator process (its HTTP and gRPC sides share the timing
knobs), through the :class:`~campaigns.providers.base.Provider` the engine would use:
:class:`OpenAICompatible` on the shared httpx client (httpx-aiohttp transport) or
:class:`TritonGrpc` on one reused channel. Measured per generation:

- *first token after send*: from the simulator writing the first token (``stamp=1``:
  ``time.monotonic_ns()`` in the token) to the provider handing it to the engine: transport,
  framing and parsing, the part of the latency a protocol can change;
- *time to first token*: from the request to that moment (the model's simulated TTFT included);
- *client CPU*: the child's CPU time (``time.process_time()``) over the run, per generation.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.live import STAMP, percentiles

__all__ = ["run_protocol"]

MESSAGES = [{"role": "user", "content": "Write a short product description for a lamp."}]


async def run_protocol(spec: dict[str, Any]) -> dict[str, Any]:
    from campaigns.providers.base import OpenAICompatible, Provider, TritonEndpoint
    from campaigns.providers.openai_compatible import ChatRequest, make_http_client
    from campaigns.providers.triton_grpc import TritonGrpc

    n, c, protocol = spec["n"], spec["concurrency"], spec["protocol"]
    provider: Provider
    if protocol == "grpc":
        provider = TritonGrpc()
        triton = TritonEndpoint(target=spec["target"], preset=spec.get("preset", "vllm"), prompt_format="chatml")
    else:
        provider, triton = OpenAICompatible(make_http_client(max_connections=c)), None
    request = ChatRequest(
        provider="bench", base_url=spec["url"], api_key="", model=spec["model"], messages=MESSAGES,
        max_tokens=spec["max_tokens"], temperature=0.7, deadline=120.0, triton=triton,
    )
    after_send: list[float] = []
    ttft: list[float] = []
    errors: dict[str, int] = {}
    sem = asyncio.Semaphore(c)

    async def one(record: bool) -> None:
        started, seen = 0, list[int]()

        def on_delta(piece: str) -> None:
            if not seen:
                seen.append(time.monotonic_ns())
                if record and (match := STAMP.match(piece)):
                    after_send.append((seen[0] - int(match.group(1))) / 1e6)
                    ttft.append((seen[0] - started) / 1e6)

        async with sem:
            started = time.monotonic_ns()  # the request leaves now, not when it was queued
            try:
                await provider.stream_chat(request, on_delta=on_delta)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    try:
        await asyncio.gather(*(one(False) for _ in range(min(c, 20))))  # connections up, channel ready
        errors.clear()
        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(True) for _ in range(n))), spec.get("time_limit_s", 600))
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    finally:
        await provider.aclose()
    done = n - sum(errors.values())
    return {
        "protocol": protocol,
        "n": n,
        "concurrency": c,
        "succeeded": done,
        "errors": errors,
        "wall_s": round(wall, 3),
        "gen_per_s": round(done / wall, 2),
        "cpu_ms_per_gen": round(cpu * 1000 / max(done, 1), 3),
        "first_token_after_send_ms": percentiles(after_send),
        "ttft_ms": percentiles(ttft),
    }
