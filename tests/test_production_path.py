"""The PostgreSQL + Redis pass really runs on PostgreSQL and Redis."""

from __future__ import annotations

import os

import pytest
from channels.layers import get_channel_layer
from django.db import connection

REQUIRED = bool(os.environ.get("COPYGEN_REQUIRE_SERVICES"))


@pytest.mark.skipif(not REQUIRED, reason="runs in the PostgreSQL + Redis pass (COPYGEN_REQUIRE_SERVICES=1)")
@pytest.mark.django_db
async def test_database_is_postgresql_and_the_channel_layer_is_redis() -> None:
    assert connection.vendor == "postgresql"
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"
    channel = await layer.new_channel()
    await layer.group_add("copygen-selftest", channel)
    await layer.group_send("copygen-selftest", {"type": "ping", "n": 1})
    assert (await layer.receive(channel))["n"] == 1
    await layer.group_discard("copygen-selftest", channel)
