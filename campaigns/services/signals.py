"""Telling engines about work: the local inline engine directly, workers over the channel layer.

The channel layer is at-most-once: a lost wake-up only delays work until the next poll,
because the database is the source of truth. What may be sent is a
:class:`~campaigns.engine.commands.Command`; anything else is refused here.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from campaigns.engine.commands import Command, CommandKind

__all__ = ["ENGINE_GROUP", "engine_signal", "engine_signal_async"]

ENGINE_GROUP = "copygen-engine"
log = logging.getLogger("campaigns")


def engine_signal(kind: CommandKind | str, *, campaign_id: int, reply_to: str = "") -> None:
    """Send ``wake``, ``cancel`` or ``resync`` for a campaign to every engine (from sync code)."""
    from campaigns.services import runner

    command = Command(CommandKind(kind), campaign_id, reply_to)
    runner.local_signal(command)
    if settings.COPYGEN_ENGINE == "worker":
        async_to_sync(_notify_workers)(command)


async def engine_signal_async(kind: CommandKind | str, *, campaign_id: int, reply_to: str = "") -> None:
    """:func:`engine_signal` for async callers (the websocket consumer)."""
    from campaigns.services import runner

    command = Command(CommandKind(kind), campaign_id, reply_to)
    runner.local_signal(command)
    if settings.COPYGEN_ENGINE == "worker":
        await _notify_workers(command)


async def _notify_workers(command: Command) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(ENGINE_GROUP, command.to_message())
    except Exception:  # the workers poll; a lost wake-up only delays them
        log.warning("could not signal workers (%s campaign %s)", command.kind, command.campaign_id, exc_info=True)
