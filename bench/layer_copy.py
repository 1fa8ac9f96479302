"""channels' in-memory layer against copygen's, side by side: one ``campaign.batch`` of 500
deltas sent to a group of 50 viewers and received by each (``python -m bench.layer_copy``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.layers import InMemoryChannelLayer as LibraryLayer

from campaigns.engine.scheduler import BATCH
from copygen.layers import InMemoryChannelLayer

ROUNDS, VIEWERS, EVENTS = 20, 50, 500


async def _ms_per_batch(layer_class: Any) -> float:
    layer = layer_class(capacity=1000)
    channels = [await layer.new_channel() for _ in range(VIEWERS)]
    for channel in channels:
        await layer.group_add("campaign-1", channel)
    deltas = [
        {"type": "generation.delta", "campaign_id": 1, "id": i, "offset": 120, "text": "some words of copy "}
        for i in range(EVENTS)
    ]
    batch = {"type": BATCH, "campaign_id": 1, "events": deltas}
    started = time.perf_counter()
    for _ in range(ROUNDS):
        await layer.group_send("campaign-1", batch)
        for channel in channels:
            await layer.receive(channel)
    return (time.perf_counter() - started) / ROUNDS * 1000


def main() -> None:
    library = asyncio.run(_ms_per_batch(LibraryLayer))
    ours = asyncio.run(_ms_per_batch(InMemoryChannelLayer))
    print(f"{EVENTS} events to {VIEWERS} viewers: channels' layer {library:.2f} ms, copygen's {ours:.2f} ms "
          f"({library / ours:.0f} ×)")


if __name__ == "__main__":
    main()
