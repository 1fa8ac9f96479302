"""A campaign's live events as Server-Sent Events, resumable with ``Last-Event-ID``.

The stream carries the websocket's events (``generation.started``, ``generation.delta``,
``generation.finished``, ``campaign.progress``, ``campaign.finished``, ``provider.status``)
as ``event: <type>`` / ``data: <json>`` messages. It opens with what the database knows:

1. ``campaign.progress`` -- the counts, spend and status now;
2. ``generation.finished`` for every finished generation (after the ``Last-Event-ID``
   cursor, when one is sent), oldest first, each with an ``id:`` line;
3. ``generation.started`` for every generation running now;

then forwards the campaign's live events from the channel layer (it subscribes before
reading the database, so nothing falls in between), with a ``: keepalive`` comment when
nothing happened for a while. A live ``generation.finished`` is a signal: the stream sends
the generations finished since its cursor *from the database*, in cursor order, so
replayed and live ``generation.finished`` messages have the same fields (the generation
as stored) and none is skipped or sent twice. It ends after ``campaign.finished``, before
which it sends every finished generation not sent yet (a lost live event never loses a
result). A campaign that stops without one (cancelled while nothing ran, or the event was lost: the
channel layer is at-most-once) is noticed at the next keepalive, from the database, and
closed with ``campaign.progress`` + ``campaign.finished``.

Event ids: only ``generation.finished`` messages carry one, ``<finished_at in µs since
the epoch>-<generation id>``, ordered like the generations' ``(finished_at, id)``. A
client that reconnects with the last id it saw gets a fresh ``campaign.progress`` and
exactly the generations that finished after it. With several engines, a generation
committed just behind the cursor (a slower transaction) is still sent live, without an
``id:``; a client that reconnects at that moment may miss it, so treat the stream as
live news and ``GET /campaigns/{id}/generations`` as the record.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q

from campaigns.engine import events as ev
from campaigns.models import Campaign, Generation
from campaigns.services.publish import campaign_group, flatten
from campaigns.services.selectors import campaign_progress, generation_dict

__all__ = ["KEEPALIVE_SECONDS", "Cursor", "campaign_event_stream", "sse_message"]

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 3000
REPLAY_BATCH = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CURSOR = 2**63 - 1
FINISHED = Generation.TERMINAL
OVER = {Campaign.Status.COMPLETED, Campaign.Status.CANCELLED, Campaign.Status.FAILED, Campaign.Status.BUDGET_EXHAUSTED}


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a client is in the ``(finished_at, id)`` order of a campaign's finished generations."""

    finished_at_us: int
    generation_id: int

    def __str__(self) -> str:
        return f"{self.finished_at_us}-{self.generation_id}"

    @classmethod
    def of(cls, finished_at: datetime, generation_id: int) -> Cursor:
        delta = finished_at - EPOCH
        return cls((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds, generation_id)

    @classmethod
    def parse(cls, value: str | None) -> Cursor | None:
        """The cursor of a ``Last-Event-ID``; None (replay everything) when it is not one of ours."""
        parts = (value or "").strip().split("-")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            return None
        us, gid = int(parts[0]), int(parts[1])
        if us > 253402300799999999 or gid > MAX_CURSOR:  # past 9999-12-31
            return None
        return cls(us, gid)

    @property
    def finished_at(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.finished_at_us)


def sse_message(event: Mapping[str, Any], *, event_id: str | None = None) -> bytes:
    """One SSE message: ``id:`` (if any), ``event: <type>`` and the event as one JSON line."""
    data = json.dumps(dict(event), cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event['type']}\ndata: {data}\n\n".encode()


def _public(event: Mapping[str, Any]) -> dict[str, Any]:
    """A channel-layer event without the layer's own ``__``-prefixed keys."""
    return {k: v for k, v in event.items() if not k.startswith("__")}


def _finished_event(g: Generation) -> ev.GenerationFinished:
    return ev.generation_finished(g.campaign_id, generation_dict(g))


def _state(campaign_id: int) -> tuple[dict[str, Any], bool] | None:
    """The campaign's progress event and whether the campaign is over; None if it is gone."""
    campaign = Campaign.objects.filter(id=campaign_id).first()
    if campaign is None:
        return None
    progress = campaign_progress(campaign)
    over = campaign.status in OVER and progress["running"] == 0
    return dict(ev.campaign_progress(campaign_id, progress)), over


def _closing(progress: dict[str, Any]) -> list[bytes]:
    return [sse_message(progress), sse_message(ev.campaign_finished(progress["campaign_id"], progress))]


@dataclass
class _Progress:
    """What this stream has sent: the finished generations and the cursor of the last one."""

    cursor: Cursor | None
    sent: set[int] = field(default_factory=set)


async def _finished_since(campaign_id: int, seen: _Progress) -> AsyncIterator[bytes]:
    """Every finished generation after ``seen.cursor``, in ``(finished_at, id)`` order, in batches."""
    base = Generation.objects.filter(campaign_id=campaign_id, status__in=FINISHED, finished_at__isnull=False)
    while True:
        batch = base
        if seen.cursor is not None:
            at, gid = seen.cursor.finished_at, seen.cursor.generation_id
            batch = batch.filter(Q(finished_at__gt=at) | Q(finished_at=at, id__gt=gid))
        rows = [g async for g in batch.order_by("finished_at", "id")[:REPLAY_BATCH]]
        for g in rows:
            seen.cursor = Cursor.of(g.finished_at, g.id)  # type: ignore[arg-type]
            if g.id not in seen.sent:
                seen.sent.add(g.id)
                yield sse_message(_finished_event(g), event_id=str(seen.cursor))
        if len(rows) < REPLAY_BATCH:
            return


async def _replay(campaign_id: int, seen: _Progress) -> AsyncIterator[bytes]:
    state = await sync_to_async(_state)(campaign_id)
    if state is None:
        return
    progress, _ = state
    yield sse_message(progress)
    async for message in _finished_since(campaign_id, seen):
        yield message
    running = Generation.objects.filter(campaign_id=campaign_id, status=Generation.Status.RUNNING).order_by("id")
    async for gid in running.values_list("id", flat=True):
        yield sse_message(ev.generation_started(campaign_id, gid))


async def _closing_now(campaign_id: int) -> list[bytes] | None:
    """The closing messages if the campaign is over (or gone), else None."""
    state = await sync_to_async(_state)(campaign_id)
    if state is None:
        return []
    progress, over = state
    return _closing(progress) if over else None


async def _live_messages(campaign_id: int, event: dict[str, Any], seen: _Progress) -> list[bytes]:
    """The messages a live event becomes.

    A ``generation.finished`` is only a signal: the database's finished generations after the
    cursor are sent, in cursor order (the engine's events of one batch come in any order, and
    an ``id:`` must never skip one that has not been sent). A finished generation committed
    behind the cursor (another engine's late commit) is still sent, without an ``id:``.
    """
    if event.get("type") != "generation.finished":
        return [sse_message(event)]
    gid = int(event["id"])
    if gid in seen.sent:
        return []
    messages = [m async for m in _finished_since(campaign_id, seen)]
    if gid not in seen.sent:  # committed behind the cursor (another engine's late commit)
        seen.sent.add(gid)
        messages.append(sse_message(event))
    return messages


async def _closing_with_the_rest(campaign_id: int, seen: _Progress, closing: list[bytes]) -> AsyncIterator[bytes]:
    """Every finished generation not sent yet (live events may have been lost), then ``closing``."""
    async for message in _finished_since(campaign_id, seen):
        yield message
    for message in closing:
        yield message


async def _live(layer: Any, channel: str, campaign_id: int, seen: _Progress, keepalive: float) -> AsyncIterator[bytes]:
    pending = asyncio.ensure_future(layer.receive(channel))
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=keepalive)
            if not done:
                closing = await _closing_now(campaign_id)
                if closing is not None:
                    async for message in _closing_with_the_rest(campaign_id, seen, closing):
                        yield message
                    return
                yield b": keepalive\n\n"
                continue
            received = pending.result()
            pending = asyncio.ensure_future(layer.receive(channel))
            for event in flatten(received):  # a campaign.batch becomes its events, in order
                event = _public(event)
                if event.get("type") == "campaign.finished":
                    last = [sse_message(event)]
                    async for message in _closing_with_the_rest(campaign_id, seen, last):
                        yield message
                    return
                for message in await _live_messages(campaign_id, event, seen):
                    yield message
    finally:
        pending.cancel()


async def campaign_event_stream(
    *, campaign_id: int, last_event_id: str | None = None, keepalive: float = KEEPALIVE_SECONDS
) -> AsyncIterator[bytes]:
    """The SSE body for one campaign (see the module docstring); ends after ``campaign.finished``."""
    layer = get_channel_layer()
    group = campaign_group(campaign_id)
    channel = await layer.new_channel()
    await layer.group_add(group, channel)  # before reading the database: nothing falls in between
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        seen = _Progress(cursor=Cursor.parse(last_event_id))
        async with aclosing(_replay(campaign_id, seen)) as replay:
            async for message in replay:
                yield message
        closing = await _closing_now(campaign_id)
        if closing is not None:
            async for message in _closing_with_the_rest(campaign_id, seen, closing):
                yield message
            return
        async with aclosing(_live(layer, channel, campaign_id, seen, keepalive)) as live:
            async for message in live:
                yield message
    finally:
        await layer.group_discard(group, channel)
