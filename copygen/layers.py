"""The embedded default's channel layer: channels' in-memory layer, minus a deep copy.

channels' ``InMemoryChannelLayer`` deep-copies every message for every receiving channel.
copygen's live messages are built fresh for each send and only read by their receivers, and
a ``campaign.batch`` holds hundreds of events: with 50 viewers on one campaign, the copies
were most of the publisher's time (docs/BENCHMARKS.md). Each receiver gets a shallow copy
(its own top-level dict) instead. Everything else — capacity, ``ChannelFull``, expiry,
groups — is the library's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as _InMemoryChannelLayer

__all__ = ["InMemoryChannelLayer"]


class InMemoryChannelLayer(_InMemoryChannelLayer):  # type: ignore[misc]
    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            queue.put_nowait((time.time() + self.expiry, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None
