from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.checks import run_checks
from django.core.management.base import BaseCommand, CommandError, CommandParser
from redis.exceptions import TimeoutError as RedisTimeoutError

from campaigns.engine import Engine
from campaigns.engine.commands import Command as EngineCommand
from campaigns.engine.commands import UnknownCommand
from campaigns.services.runner import build_engine, start_webhooks, stop_webhooks
from campaigns.services.signals import ENGINE_GROUP

log = logging.getLogger("campaigns")


class Command(BaseCommand):
    help = (
        "Run generation jobs from the database (COPYGEN_ENGINE=worker). Run any number of these, on any "
        "machines sharing the database and Redis. SIGTERM/SIGINT: stop claiming, hand in-flight jobs back, exit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-in-flight", type=int, default=None, help="concurrent generations (default 500)")
        parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between polls when idle")
        parser.add_argument(
            "--shutdown-grace", type=float, default=20.0,
            help="seconds a SIGTERM'd worker may take to hand its jobs back before it exits anyway",
        )

    _engine_stopped = False

    def handle(self, *args: Any, **opts: Any) -> None:
        # A SIGTERM/SIGINT while starting (checks, connecting) stops the worker cleanly
        # before it claims anything, instead of killing it with the default action.
        stop_requested = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop_requested.set())
        self.stdout.write("generation worker starting")
        self.stdout.flush()
        # A stored key that no configured key decrypts stops the worker at start.
        errors = [e for e in run_checks(tags=["database"], databases=["default"]) if e.is_serious()]
        if errors:
            raise CommandError("; ".join(f"{e.id}: {e.msg}" for e in errors))
        if not settings.REDIS_URL:
            self.stderr.write("REDIS_URL is not set: workers are not woken by launches and rely on polling.")
        asyncio.run(self.main(opts, stop_requested))

    async def main(self, opts: dict[str, Any], stop_requested: threading.Event) -> None:
        engine = build_engine(kind="worker", max_in_flight=opts["max_in_flight"], poll_interval=opts["poll_interval"])
        loop = asyncio.get_running_loop()

        def shutdown() -> None:
            self._start_watchdog(opts["shutdown_grace"], loop)
            asyncio.ensure_future(engine.stop())

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown)
        if stop_requested.is_set():
            self.stdout.write(f"generation worker {engine.owner} stopped before it claimed anything")
            await engine.client.aclose()
            return
        listener = asyncio.create_task(self.listen(engine))
        start_webhooks()  # quota webhooks from their outbox, beside the engine
        self.stdout.write(f"generation worker {engine.owner} running (max {engine.config.max_in_flight} in flight)")
        self.stdout.flush()
        try:
            await engine.run()
            self._engine_stopped = True  # every job is written or handed back
        finally:
            listener.cancel()
            # Never let the channel layer's cancellation hold the exit up.
            await asyncio.wait([listener], timeout=5)
            await stop_webhooks()
            await asyncio.wait([asyncio.ensure_future(engine.client.aclose())], timeout=5)
        self.stdout.write(f"generation worker {engine.owner} stopped")
        self.stdout.flush()

    def _start_watchdog(self, grace: float, loop: asyncio.AbstractEventLoop) -> None:
        """Exit even if something hangs on the way out; jobs not handed back are taken over
        by other workers when their leases expire."""

        def hard_exit() -> None:
            for task in asyncio.all_tasks(loop):  # say what hung, for whoever reads the log
                log.warning("still pending at exit: %r", task)
            if self._engine_stopped:  # the work is safe; only cleanup of connections hung
                log.warning("cleanup took longer than %.0fs after the engine stopped; exiting", grace)
                os._exit(0)
            log.error("shutdown took longer than %.0fs; exiting now", grace)
            os._exit(1)

        timer = threading.Timer(grace, hard_exit)
        timer.daemon = True
        timer.start()

    async def listen(self, engine: Engine) -> None:
        """Wake-ups and cancels over the channel layer (at-most-once; polling covers losses)."""
        layer = get_channel_layer()
        if layer is None:
            return
        channel = await layer.new_channel("copygen-worker.")
        while True:
            try:
                await layer.group_add(ENGINE_GROUP, channel)
                while True:
                    message = await asyncio.wait_for(layer.receive(channel), timeout=3600)
                    try:
                        engine.handle(EngineCommand.from_message(message))
                    except UnknownCommand as exc:  # refused, never taken for a wake-up
                        log.warning("ignored a message on the engine channel: %s", exc)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                continue  # re-join the group before its membership expires
            except RedisTimeoutError:
                continue  # an idle blocking read timed out: listen again
            except Exception:
                log.warning("channel layer unavailable; retrying in 2s", exc_info=True)
                await asyncio.sleep(2)
