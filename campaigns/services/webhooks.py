"""Quota webhooks, delivered from their own outbox, never on the live-event path.

- ``webhooks_enqueue`` writes a :class:`~campaigns.models.WebhookDelivery` row in the
  transaction that moved the money (the warning and its delivery commit together);
- ``webhooks_claim`` leases due rows to one deliverer (``SKIP LOCKED`` where the database
  has it), ``webhook_record`` settles one attempt: delivered, due again after a backoff
  (doubling from ``COPYGEN_WEBHOOK_RETRY_SECONDS``, at most 5 minutes), or failed after
  ``COPYGEN_WEBHOOK_MAX_ATTEMPTS``;
- :class:`WebhookDeliverer` runs beside the engine (inline or in a worker) with one shared
  httpx client: a slow or dead endpoint delays only its own deliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import WebhookDelivery
from campaigns.services.locking import locked

__all__ = ["WebhookDeliverer", "webhook_record", "webhooks_claim", "webhooks_enqueue"]

log = logging.getLogger("campaigns")

CLAIM_BATCH = 20
"""Most deliveries one pass POSTs (concurrently)."""
MAX_BACKOFF_SECONDS = 300.0
IDLE_POLL_SECONDS = 5.0
"""How often an idle deliverer looks for due rows (another process's, or retries)."""


def webhooks_enqueue(payloads: Iterable[Mapping[str, Any]]) -> int:
    """Queue ``payloads`` for the quota webhook, if one is configured (inside the caller's transaction)."""
    url = settings.COPYGEN_QUOTA_WEBHOOK_URL
    if not url:
        return 0
    now = timezone.now()
    rows = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(url=url, payload=dict(p), next_attempt_at=now) for p in payloads]
    )
    if rows:
        transaction.on_commit(_wake_local_deliverer)
    return len(rows)


def _wake_local_deliverer() -> None:
    from campaigns.services import runner

    runner.wake_webhooks()


@dataclass(frozen=True)
class Due:
    id: int
    url: str
    payload: dict[str, Any]
    attempt: int


def webhooks_claim(*, limit: int = CLAIM_BATCH) -> list[Due]:
    """Lease up to ``limit`` due deliveries (for the POST's timeout and a margin) and count the attempt."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.COPYGEN_WEBHOOK_TIMEOUT + 30)
    with transaction.atomic():
        due = locked(
            WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now),
            skip_locked=True,
        ).order_by("next_attempt_at", "id")[:limit]
        rows = list(due)
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = lease
        WebhookDelivery.objects.bulk_update(rows, ["attempts", "next_attempt_at"])
    return [Due(r.id, r.url, r.payload, r.attempts) for r in rows]


def webhook_record(*, delivery: Due, error: str = "") -> float | None:
    """Settle one attempt: delivered, due again after a backoff, or failed for good.

    Returns the seconds until the retry, None when there is none.
    """
    now = timezone.now()
    rows = WebhookDelivery.objects.filter(id=delivery.id, status=WebhookDelivery.Status.PENDING)
    if not error:
        rows.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now, last_error="")
        return None
    if delivery.attempt >= settings.COPYGEN_WEBHOOK_MAX_ATTEMPTS:
        log.warning("quota webhook %s failed %d times; giving up: %s", delivery.id, delivery.attempt, error)
        rows.update(status=WebhookDelivery.Status.FAILED, last_error=error[:500])
        return None
    backoff = min(settings.COPYGEN_WEBHOOK_RETRY_SECONDS * 2 ** (delivery.attempt - 1), MAX_BACKOFF_SECONDS)
    log.info("quota webhook %s failed (%s); retry in %.1fs", delivery.id, error, backoff)
    rows.update(next_attempt_at=now + timedelta(seconds=backoff), last_error=error[:500])
    return backoff


class WebhookDeliverer:
    """POSTs due deliveries with one shared client until stopped; ``wake()`` looks at once."""

    def __init__(self, *, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(
            timeout=settings.COPYGEN_WEBHOOK_TIMEOUT,
            limits=httpx.Limits(max_connections=CLAIM_BATCH, max_keepalive_connections=4),
            follow_redirects=False,
        )
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                try:
                    due = await sync_to_async(webhooks_claim)()
                except Exception:
                    log.exception("claiming webhook deliveries failed")
                    due = []
                retries = [r for r in await asyncio.gather(*(self._deliver(d) for d in due)) if r is not None]
                if len(due) == CLAIM_BATCH:
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), min([IDLE_POLL_SECONDS, *retries]))
                except TimeoutError:
                    pass
        finally:
            await self.client.aclose()

    async def _deliver(self, delivery: Due) -> float | None:
        """POST one delivery and record it; the seconds until its retry, if it gets one."""
        error = ""
        try:
            response = await self.client.post(delivery.url, json=delivery.payload)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        try:
            return await sync_to_async(webhook_record)(delivery=delivery, error=error)
        except Exception:  # its lease expires and another pass takes it again
            log.exception("recording webhook delivery %s failed", delivery.id)
            return None
