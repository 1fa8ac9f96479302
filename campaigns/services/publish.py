"""Live events: one channel-layer group per campaign."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from campaigns.engine.scheduler import BATCH

__all__ = ["BATCH", "campaign_group", "flatten", "publish_event", "publish_sync", "publish_to_channel"]

log = logging.getLogger("campaigns")


def campaign_group(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


async def publish_event(campaign_id: int, event: Mapping[str, Any]) -> None:
    """Send ``event`` (its ``type`` names the consumer handler) to the campaign's viewers.

    A ``campaign.batch`` (``events``: several events, in order) goes out as one message.
    Nothing else happens here: quota webhooks are delivered from their own outbox
    (``services/webhooks.py``), never on this path.
    """
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(campaign_group(campaign_id), event if isinstance(event, dict) else dict(event))


async def publish_to_channel(channel: str, message: Mapping[str, Any]) -> None:
    """Send ``message`` to one consumer's channel (a resync answers only the viewer that asked)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.send(channel, dict(message))


def flatten(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The events a live message carries: a batch's ``events``, or the event itself."""
    if event.get("type") == BATCH:
        return list(event["events"])
    return [dict(event)]


def publish_sync(events: Iterable[Mapping[str, Any]]) -> None:
    """Publish from synchronous code (after a commit), all in one trip to the event loop."""
    async_to_sync(_publish_all)(list(events))


async def _publish_all(events: list[Mapping[str, Any]]) -> None:
    for event in events:
        try:
            await publish_event(int(event["campaign_id"]), event)
        except Exception:  # live events are best effort; the database has the truth
            log.warning("publishing %s failed", event.get("type"), exc_info=True)
