"""Quota webhooks: delivered from their own outbox, retried, bounded, never on the live path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from campaigns.models import Quota, QuotaUsage, WebhookDelivery
from campaigns.services.budgets import quota_period
from campaigns.services.launch import campaign_launch
from campaigns.services.publish import campaign_group, flatten
from campaigns.services.webhooks import WebhookDeliverer, webhooks_enqueue
from tests.test_engine_e2e import make_campaign

pytestmark = pytest.mark.django_db(transaction=True)


class Hook:
    """A webhook endpoint on 127.0.0.1 over a plain socket: ``answer(n)`` gives the status of
    the n-th request, None to hang (up to 30 s) until ``release`` is set or the client hangs up."""

    def __init__(self, answer: Callable[[int], int | None]) -> None:
        self.answer = answer
        self.bodies: list[dict[str, Any]] = []
        self.received = asyncio.Event()
        self.client_hung_up = asyncio.Event()
        self.release = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def close(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
                )
                self.bodies.append(json.loads(await reader.readexactly(length)))
                self.received.set()
                status = self.answer(len(self.bodies))
                if status is None:
                    release = asyncio.ensure_future(self.release.wait())
                    hang_up = asyncio.ensure_future(reader.read(1))
                    done, pending = await asyncio.wait({release, hang_up}, timeout=30, return_when="FIRST_COMPLETED")
                    for task in pending:
                        task.cancel()
                    if hang_up in done:
                        self.client_hung_up.set()
                        return
                    status = 200
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


async def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await sync_to_async(predicate)():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def nearly_used_up_quota(user: Any) -> Quota:
    """A quota one micro-dollar short of 80 %: the first finished cell crosses it, and plenty is left."""
    quota = Quota.objects.create(scope="user", user=user, period="month", limit_usd=Decimal("10"))
    start, next_start = quota_period("month", datetime.now(UTC))
    for period_start in (start, next_start or start):
        QuotaUsage.objects.create(quota=quota, period_start=period_start, spent_usd=Decimal("7.999999"))
    return quota


async def test_a_hanging_webhook_does_not_delay_live_events(catalog, user, simulator, inline_engine, settings):
    from campaigns.services import runner

    hook = Hook(lambda n: None)  # every request hangs
    settings.COPYGEN_QUOTA_WEBHOOK_URL = await hook.start()
    settings.COPYGEN_WEBHOOK_TIMEOUT = 60.0
    await runner.stop_webhooks()
    runner.start_webhooks()  # with the timeout above: the POST stays open while the campaign runs
    # Short cells finish (and cross the quota's 80 %) while long ones are still streaming.
    for m, length in zip(catalog["models"], (4, 80), strict=True):
        m.name = m.name.split("@")[0] + f"@ttft=5,gap=25,len={length},jitter=0"
        await m.asave()
    await sync_to_async(nearly_used_up_quota)(user)
    campaign = await sync_to_async(make_campaign)(catalog, user, variants=2)

    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(campaign_group(campaign.id), channel)
    arrived_while_hanging: list[str] = []

    async def watch() -> None:
        """Note each live event that arrives after the endpoint got the POST (it has not answered)."""
        while True:
            for event in flatten(await layer.receive(channel)):
                if hook.received.is_set():
                    arrived_while_hanging.append(event["type"])
                if event["type"] == "campaign.finished":
                    return

    watcher = asyncio.create_task(watch())
    try:
        await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
        await asyncio.wait_for(hook.received.wait(), 30)
        await asyncio.wait_for(watcher, 30)
        assert arrived_while_hanging.count("generation.delta") >= 3, arrived_while_hanging
        assert "campaign.finished" in arrived_while_hanging
        assert len(hook.bodies) == 1 and hook.bodies[0]["type"] == "quota.warning" and hook.bodies[0]["level"] == 80
        hook.release.set()  # the endpoint answers at last
        # ...and that answer is what the first attempt gets: the one POST stayed open while the
        # whole campaign streamed and finished, and nothing waited for it.
        await wait_for(lambda: WebhookDelivery.objects.filter(status="delivered").exists())
        delivery = await WebhookDelivery.objects.aget()
        assert delivery.attempts == 1 and not hook.client_hung_up.is_set() and len(hook.bodies) == 1
    finally:
        watcher.cancel()
        await layer.group_discard(campaign_group(campaign.id), channel)
        await hook.close()


def queue_one(url: str, settings: Any) -> WebhookDelivery:
    settings.COPYGEN_QUOTA_WEBHOOK_URL = url
    with transaction.atomic():
        webhooks_enqueue([{"type": "quota.warning", "level": 95}])
    return WebhookDelivery.objects.get()


async def run_deliverer_until(done: Callable[[], bool]) -> None:
    deliverer = WebhookDeliverer()
    task = asyncio.create_task(deliverer.run())
    try:
        await wait_for(done)
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=5)


async def test_a_failed_delivery_is_retried_with_backoff(transactional_db, settings):
    hook = Hook(lambda n: 500 if n == 1 else 200)
    settings.COPYGEN_WEBHOOK_RETRY_SECONDS = 0.05
    try:
        row = await sync_to_async(queue_one)(await hook.start(), settings)
        await run_deliverer_until(lambda: WebhookDelivery.objects.filter(id=row.id, status="delivered").exists())
    finally:
        await hook.close()
    row = await WebhookDelivery.objects.aget(id=row.id)
    assert row.attempts == 2 and row.delivered_at is not None
    assert [b["level"] for b in hook.bodies] == [95, 95]


async def test_a_delivery_is_given_up_after_the_last_attempt(transactional_db, settings):
    hook = Hook(lambda n: 503)
    settings.COPYGEN_WEBHOOK_RETRY_SECONDS = 0.02
    settings.COPYGEN_WEBHOOK_MAX_ATTEMPTS = 3
    try:
        row = await sync_to_async(queue_one)(await hook.start(), settings)
        await run_deliverer_until(lambda: WebhookDelivery.objects.filter(id=row.id, status="failed").exists())
    finally:
        await hook.close()
    row = await WebhookDelivery.objects.aget(id=row.id)
    assert row.attempts == 3 and len(hook.bodies) == 3 and "503" in row.last_error


def test_nothing_is_queued_without_a_webhook_url(transactional_db, settings):
    settings.COPYGEN_QUOTA_WEBHOOK_URL = ""
    with transaction.atomic():
        assert webhooks_enqueue([{"type": "quota.warning"}]) == 0
    assert not WebhookDelivery.objects.exists()
