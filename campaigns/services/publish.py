"""Live events: one channel-layer group per campaign."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.layers import get_channel_layer

__all__ = ["campaign_group", "publish_event"]


def campaign_group(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


async def publish_event(campaign_id: int, event: Mapping[str, Any]) -> None:
    """Send ``event`` (its ``type`` names the consumer handler) to the campaign's viewers."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(campaign_group(campaign_id), dict(event))
