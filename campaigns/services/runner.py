"""Running the engine inside this process: inline in the web server, or as a worker."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import replace
from typing import Any

from django.conf import settings

from campaigns.engine import Engine, EngineConfig
from campaigns.engine.commands import Command
from campaigns.engine.limits import RateLimits
from campaigns.providers import make_http_client
from campaigns.services.jobs import DatabaseJobStore
from campaigns.services.publish import publish_event, publish_to_channel
from campaigns.services.webhooks import WebhookDeliverer

__all__ = [
    "build_engine", "local_signal", "start_inline", "start_webhooks", "stop_inline", "stop_webhooks", "wake_webhooks",
]

log = logging.getLogger("campaigns")

_engine: Engine | None = None
_loop: asyncio.AbstractEventLoop | None = None
_task: asyncio.Task[None] | None = None
_deliverer: WebhookDeliverer | None = None
_deliverer_loop: asyncio.AbstractEventLoop | None = None
_deliverer_task: asyncio.Task[None] | None = None


def engine_owner(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def engine_config(**overrides: Any) -> EngineConfig:
    """The engine configuration from the settings, with ``overrides`` (None: the setting's value)."""
    config = EngineConfig(
        max_in_flight=int(os.environ.get("COPYGEN_MAX_IN_FLIGHT", "500")),
        lease_renew_interval=max(1.0, settings.COPYGEN_LEASE_SECONDS / 3),
        delta_interval=settings.COPYGEN_DELTA_INTERVAL_MS / 1000.0,
        write_interval=settings.COPYGEN_WRITE_INTERVAL_MS / 1000.0,
    )
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


def build_engine(*, kind: str, **overrides: Any) -> Engine:
    """An engine on the database store, publishing to the channel layer, with its own client;
    ``overrides``: fields of :class:`EngineConfig` that differ from the settings."""
    config = engine_config(**overrides)
    return Engine(
        store=DatabaseJobStore(),
        publish=publish_event,
        reply=publish_to_channel,
        client=make_http_client(max_connections=config.max_in_flight),
        owner=engine_owner(kind),
        config=config,
        # Shared by every process through Redis when it is configured.
        rate_limits=RateLimits(settings.REDIS_URL, key_prefix=f"{settings.REDIS_PREFIX}:limits"),
    )


def start_inline(**overrides: Any) -> Engine:
    """Start the engine as a task of the running event loop (once per process); ``overrides``
    as for :func:`build_engine`."""
    global _engine, _loop, _task
    if _engine is None or _task is None or _task.done():
        if _engine is not None and isinstance(_engine.store, DatabaseJobStore):
            _engine.store.close(wait=False)  # an engine whose loop ended (a test's): free its connection
        _loop = asyncio.get_running_loop()
        _engine = build_engine(kind="inline", **overrides)
        _task = _loop.create_task(_engine.run(), name="copygen-engine")
        log.info("generation engine started inline (%s)", _engine.owner)
    start_webhooks()
    return _engine


async def stop_inline() -> None:
    global _engine, _task
    await stop_webhooks()
    if _engine is not None and _task is not None:
        await _engine.stop()
        try:
            await asyncio.wait_for(_task, 30)
        except (asyncio.CancelledError, Exception):
            log.exception("engine did not stop cleanly")
        await _engine.client.aclose()
        if isinstance(_engine.store, DatabaseJobStore):
            await asyncio.to_thread(_engine.store.close)
    _engine, _task = None, None


def local_signal(command: Command) -> None:
    """Hand ``command`` to this process's engine, if one runs here; safe from any thread."""
    engine, loop = _engine, _loop
    if engine is None or loop is None or loop.is_closed():
        return
    loop.call_soon_threadsafe(engine.handle, command)


def start_webhooks() -> WebhookDeliverer:
    """Start this process's quota webhook deliverer on the running loop (once), beside the engine."""
    global _deliverer, _deliverer_loop, _deliverer_task
    if _deliverer is None or _deliverer_task is None or _deliverer_task.done():
        _deliverer_loop = asyncio.get_running_loop()
        _deliverer = WebhookDeliverer()
        _deliverer_task = _deliverer_loop.create_task(_deliverer.run(), name="copygen-webhooks")
    return _deliverer


async def stop_webhooks() -> None:
    global _deliverer, _deliverer_task
    if _deliverer_task is not None:
        _deliverer_task.cancel()
        await asyncio.wait([_deliverer_task], timeout=5)
    _deliverer, _deliverer_task = None, None


def wake_webhooks() -> None:
    """Deliver queued webhooks now (after the commit that queued them); safe from any thread."""
    deliverer, loop = _deliverer, _deliverer_loop
    if deliverer is not None and loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(deliverer.wake)
