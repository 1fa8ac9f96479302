"""Running the engine inside this process: inline in the web server, or as a worker."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from django.conf import settings

from campaigns.engine import Engine
from campaigns.engine.limits import RateLimits
from campaigns.providers import make_http_client
from campaigns.services.jobs import DatabaseJobStore
from campaigns.services.publish import publish_event

__all__ = ["build_engine", "local_signal", "start_inline", "stop_inline"]

log = logging.getLogger("campaigns")

_engine: Engine | None = None
_loop: asyncio.AbstractEventLoop | None = None
_task: asyncio.Task[None] | None = None


def engine_owner(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_engine(*, kind: str, max_in_flight: int | None = None) -> Engine:
    """An engine on the database store, publishing to the channel layer, with its own client."""
    limit = max_in_flight or int(os.environ.get("COPYGEN_MAX_IN_FLIGHT", "500"))
    return Engine(
        store=DatabaseJobStore(),
        publish=publish_event,
        client=make_http_client(max_connections=limit),
        owner=engine_owner(kind),
        max_in_flight=limit,
        lease_renew_interval=max(1.0, settings.COPYGEN_LEASE_SECONDS / 3),
        delta_interval=settings.COPYGEN_DELTA_INTERVAL_MS / 1000.0,
        write_interval=settings.COPYGEN_WRITE_INTERVAL_MS / 1000.0,
        # Shared by every process through Redis when it is configured.
        rate_limits=RateLimits(settings.REDIS_URL, key_prefix=f"{settings.REDIS_PREFIX}:limits"),
    )


def start_inline() -> Engine:
    """Start the engine as a task of the running event loop (once per process)."""
    global _engine, _loop, _task
    if _engine is None or _task is None or _task.done():
        if _engine is not None and isinstance(_engine.store, DatabaseJobStore):
            _engine.store.close(wait=False)  # an engine whose loop ended (a test's): free its connection
        _loop = asyncio.get_running_loop()
        _engine = build_engine(kind="inline")
        _task = _loop.create_task(_engine.run(), name="copygen-engine")
        log.info("generation engine started inline (%s)", _engine.owner)
    return _engine


async def stop_inline() -> None:
    global _engine, _task
    if _engine is not None and _task is not None:
        await _engine.stop()
        try:
            await asyncio.wait_for(_task, 30)
        except (asyncio.CancelledError, Exception):
            log.exception("engine did not stop cleanly")
        await _engine.aclose()
        if isinstance(_engine.store, DatabaseJobStore):
            await asyncio.to_thread(_engine.store.close)
    _engine, _task = None, None


def local_signal(kind: str, *, campaign_id: int) -> None:
    """Wake or cancel on this process's engine; safe from any thread."""
    engine, loop = _engine, _loop
    if engine is None or loop is None or loop.is_closed():
        return
    if kind == "cancel":
        loop.call_soon_threadsafe(engine.cancel_campaign, campaign_id)
    elif kind == "resync":
        loop.call_soon_threadsafe(engine.resync, campaign_id)
        return
    loop.call_soon_threadsafe(engine.wake)
