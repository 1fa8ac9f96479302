"""CPU per SSE chunk in copygen's stream parser, with orjson (what it uses) and stdlib json.

``python -m bench parse`` runs ``openai_compatible._consume`` -- httpx's response iterators,
httpx-sse's decoder, the chunk's JSON, the delta bookkeeping -- over a stream held in memory
(64 content chunks shaped like a provider's, a usage chunk, ``[DONE]``), so no socket or
simulator noise enters. Both decoders run in the same process, rounds interleaved; the
ratio is the point, not the absolute microseconds.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import types
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

CONTENT_CHUNKS = 64


def _stream_chunks() -> list[bytes]:
    def event(data: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(data)}\n\n".encode()

    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "bench"}
    chunks = [
        event({**base, "choices": [{"index": 0, "delta": {"content": f" word{i}"}, "finish_reason": None}]})
        for i in range(CONTENT_CHUNKS)
    ]
    usage = {"prompt_tokens": 10, "completion_tokens": CONTENT_CHUNKS, "total_tokens": 10 + CONTENT_CHUNKS}
    chunks.append(event({**base, "choices": [], "usage": usage}))
    chunks.append(b"data: [DONE]\n\n")
    return chunks


CHUNKS = _stream_chunks()


class _Stream(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in CHUNKS:
            yield chunk


@contextmanager
def _decoder(name: str) -> Iterator[None]:
    """Parse chunks with ``name`` (``orjson`` as shipped, or stdlib ``json``)."""
    from campaigns.providers import openai_compatible as oc

    shipped = oc.orjson  # type: ignore[attr-defined]
    if name == "json":
        oc.orjson = types.SimpleNamespace(loads=json.loads)  # type: ignore[attr-defined,assignment]
    try:
        yield
    finally:
        oc.orjson = shipped  # type: ignore[attr-defined]


async def _us_per_chunk(streams: int) -> float:
    from campaigns.providers.openai_compatible import _consume, _StreamState

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    started = time.process_time()
    for _ in range(streams):
        response = httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_Stream(), request=request
        )
        state = _StreamState(lambda text: None)
        await _consume(response, state, "bench")
        assert state.done and len(state.parts) == CONTENT_CHUNKS
    return (time.process_time() - started) / streams / len(CHUNKS) * 1e6


def run_parse(*, rounds: int = 5, streams: int = 2000) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"orjson": [], "json": []}
    for _ in range(rounds):
        for name in samples:
            with _decoder(name):
                samples[name].append(asyncio.run(_us_per_chunk(streams)))
    median = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "us_per_chunk": {name: round(v, 2) for name, v in median.items()},
        "samples": {name: [round(v, 2) for v in values] for name, values in samples.items()},
        "orjson_over_json": round(median["orjson"] / median["json"], 3),
    }


def main() -> int:
    result = run_parse()
    print("stream parser, CPU µs per SSE chunk (median of 5 interleaved rounds of 2,000 streams):")
    for name, value in result["us_per_chunk"].items():
        print(f"  {name:7} {value:6.2f}   rounds {result['samples'][name]}")
    print(f"  orjson / json = {result['orjson_over_json']}")
    return 0
