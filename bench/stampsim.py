"""The bundled simulator, with the send time of each stream's first token written into it.

Until the simulator has a ``stamp`` directive of its own, this variant prefixes the first
content token of every stream with ``[t=<CLOCK_MONOTONIC ns>]``, taken when the chunk is
written to the socket. CLOCK_MONOTONIC is one clock for every process of a Linux machine,
so a viewer in another process measures ``time.monotonic_ns() - t`` exactly.

``python -m bench.stampsim --port N [llm_simulator options]``
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from campaigns import simulator
from campaigns.simulator import SimConfig, Simulator

__all__ = ["PLACEHOLDER", "main"]

PLACEHOLDER = "\u27e6STAMP\u27e7"
_PLACEHOLDER_BYTES = PLACEHOLDER.encode()
_make_tokens = simulator._make_tokens
_framed_writer = simulator._framed_writer


def _stamped_tokens(rng: random.Random, lang: str, length: int) -> list[str]:
    tokens = _make_tokens(rng, lang, length)
    return [PLACEHOLDER + tokens[0], *tokens[1:]] if tokens else tokens


def _stamping_writer(resp: Any, framing: str) -> Any:
    send = _framed_writer(resp, framing)

    async def stamped(data: bytes) -> None:
        if _PLACEHOLDER_BYTES in data:
            data = data.replace(_PLACEHOLDER_BYTES, f"[t={time.monotonic_ns()}]".encode())
        await send(data)

    return stamped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft-ms", type=float, default=200)
    parser.add_argument("--gap-ms", type=float, default=20)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--jitter", type=float, default=0.0)
    args = parser.parse_args()
    simulator._make_tokens = _stamped_tokens
    simulator._framed_writer = _stamping_writer
    config = SimConfig(ttft_ms=args.ttft_ms, gap_ms=args.gap_ms, length=args.length, jitter=args.jitter)
    Simulator(config).run(port=args.port)


if __name__ == "__main__":
    main()
