"""The embedded default's channel layer: the library's behaviour, without a deep copy per receiver."""

from __future__ import annotations

import pytest
from channels.exceptions import ChannelFull

from copygen.layers import InMemoryChannelLayer


async def test_group_members_each_get_the_message_once_in_order_and_full_channels_refuse() -> None:
    layer = InMemoryChannelLayer(capacity=2)
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("campaign-1", a)
    await layer.group_add("campaign-1", b)
    batch = {"type": "campaign.batch", "events": [{"type": "generation.delta", "id": 1, "text": "hi"}]}
    await layer.group_send("campaign-1", batch)
    await layer.group_send("campaign-1", {"type": "campaign.progress"})

    got_a = [await layer.receive(a), await layer.receive(a)]
    got_b = await layer.receive(b)
    assert [m["type"] for m in got_a] == ["campaign.batch", "campaign.progress"]
    assert got_b == batch and got_b is not batch, "each receiver has its own top-level dict"
    got_b["type"] = "changed by one receiver"
    assert got_a[0]["type"] == "campaign.batch"

    await layer.send(a, {"type": "x"})
    await layer.send(a, {"type": "y"})
    with pytest.raises(ChannelFull):
        await layer.send(a, {"type": "z"})
