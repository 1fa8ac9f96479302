"""``GET /campaigns/{id}/events``: Server-Sent Events through the real ASGI application."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient

from campaigns.models import Campaign, Generation
from campaigns.services.launch import campaign_launch
from copygen.asgi import application
from tests.test_consumers import small_campaign

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def close_connections() -> AsyncIterator[None]:
    """Close the connection of the thread async code runs queries on, so the test database can be dropped."""
    yield
    await sync_to_async(connections.close_all)()


@dataclass
class Message:
    event: str
    data: dict[str, Any]
    id: str | None = None


@dataclass
class SSEStream:
    """Reads an SSE response body as it arrives, message by message."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    buffer: str = ""
    comments: list[str] = field(default_factory=list)
    ended: bool = False

    async def next(self, timeout: float = 10.0) -> Message | None:
        """The next message, or None once the stream has ended."""
        while True:
            if "\n\n" in self.buffer:
                block, self.buffer = self.buffer.split("\n\n", 1)
                message = self._parse(block)
                if message is not None:
                    return message
                continue
            if self.ended:
                return None
            chunk = await asyncio.wait_for(self.chunks.get(), timeout)
            if chunk is None:
                self.ended = True
            else:
                self.buffer += chunk.decode()

    def _parse(self, block: str) -> Message | None:
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif ": " in line:
                name, value = line.split(": ", 1)
                fields[name] = value
        if "event" not in fields:
            return None
        return Message(fields["event"], json.loads(fields["data"]), fields.get("id"))

    def drain(self) -> str:
        """What has arrived and not been read yet, without waiting."""
        while not self.chunks.empty():
            chunk = self.chunks.get_nowait()
            if chunk is None:
                self.ended = True
            else:
                self.buffer += chunk.decode()
        return self.buffer

    async def until(self, event: str, timeout: float = 30.0) -> list[Message]:
        """Every message up to and including the first ``event``."""
        seen = []
        while True:
            message = await self.next(timeout)
            assert message is not None, f"the stream ended before {event}: {[m.event for m in seen]}"
            seen.append(message)
            if message.event == event:
                return seen

    async def rest(self, timeout: float = 30.0) -> list[Message]:
        seen = []
        while (message := await self.next(timeout)) is not None:
            seen.append(message)
        return seen


@asynccontextmanager
async def sse(path: str, headers: dict[str, str]) -> AsyncIterator[SSEStream]:
    """GET ``path`` on the ASGI application and stream the body; disconnect on exit."""
    stream = SSEStream()
    disconnect = asyncio.Event()
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
            stream.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            if message.get("body"):
                await stream.chunks.put(message["body"])
            if not message.get("more_body", False):
                await stream.chunks.put(None)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    task = asyncio.create_task(application(scope, receive, send))
    try:
        yield stream
    finally:
        disconnect.set()
        await asyncio.wait_for(task, 10)


async def bearer(make_token: Callable[..., str], user: Any, *scopes: str) -> dict[str, str]:
    token = await sync_to_async(make_token)(user, *(scopes or ("read", "launch")))
    return {"Authorization": f"Bearer {token}"}


async def wait_finished(campaign_id: int, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if (await Campaign.objects.aget(id=campaign_id)).status != Campaign.Status.RUNNING:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("campaign still running")


# A live run ---------------------------------------------------------------------------------


async def test_stream_follows_a_real_run_and_ends(catalog, user, make_token, simulator, inline_engine):
    campaign = await sync_to_async(small_campaign)(catalog, user)
    headers = await bearer(make_token, user)
    async with sse(f"/api/v1/campaigns/{campaign.id}/events", headers) as stream:
        first = await stream.next()
        assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert first is not None and first.event == "campaign.progress" and first.data["status"] == "draft"

        launched = await AsyncClient().post(f"/api/v1/campaigns/{campaign.id}/launch", headers=headers)
        assert launched.status_code == 202
        messages = await stream.until("campaign.finished")
        assert await stream.next() is None  # the stream ends after campaign.finished

    texts: dict[int, str] = defaultdict(str)
    finished = {}
    for m in messages:
        assert m.data["type"] == m.event and m.data["campaign_id"] == campaign.id
        if m.event == "generation.delta":
            assert m.data["offset"] == len(texts[m.data["id"]])
            texts[m.data["id"]] += m.data["text"]
        elif m.event == "generation.finished":
            assert m.id is not None
            finished[m.data["id"]] = m
        else:
            assert m.id is None
    assert {m.event for m in messages} >= {"generation.started", "generation.delta", "campaign.progress"}
    generations = [g async for g in Generation.objects.filter(campaign=campaign)]
    assert len(finished) == len(generations) == 8
    for g in generations:
        assert finished[g.id].data["text"] == texts[g.id] == g.text and g.text
    ids = [m.id for m in messages if m.id]
    assert len(ids) == len(set(ids))
    assert messages[-1].data["status"] == "completed" and messages[-1].data["succeeded"] == 8


async def test_reconnecting_with_last_event_id_resumes(catalog, user, make_token, simulator, inline_engine):
    campaign = await sync_to_async(small_campaign)(catalog, user)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    await wait_finished(campaign.id)
    headers = await bearer(make_token, user)
    path = f"/api/v1/campaigns/{campaign.id}/events"

    async with sse(path, headers) as stream:
        everything = await stream.rest()
    assert everything[0].event == "campaign.progress"
    replayed = [m for m in everything if m.event == "generation.finished"]
    assert len(replayed) == 8 and everything[-1].event == "campaign.finished"
    stored = {g.id: g async for g in Generation.objects.filter(campaign=campaign)}
    assert {m.data["id"] for m in replayed} == set(stored)
    assert all(m.data["text"] == stored[m.data["id"]].text for m in replayed)

    async with sse(path, {**headers, "Last-Event-ID": replayed[2].id}) as stream:  # type: ignore[dict-item]
        resumed = await stream.rest()
    assert resumed[0].event == "campaign.progress" and resumed[-1].event == "campaign.finished"
    assert [m.id for m in resumed if m.event == "generation.finished"] == [m.id for m in replayed[3:]]

    async with sse(path, {**headers, "Last-Event-ID": replayed[-1].id}) as stream:  # type: ignore[dict-item]
        assert [m.event for m in await stream.rest()] == ["campaign.progress", "campaign.progress", "campaign.finished"]
    async with sse(path, {**headers, "Last-Event-ID": "not-ours"}) as stream:
        assert len([m for m in await stream.rest() if m.event == "generation.finished"]) == 8


async def test_resume_in_the_middle_of_a_run(catalog, user, make_token, simulator, inline_engine):
    for model in catalog["models"]:
        model.name = model.name.replace("gap=1", "gap=8")
        await model.asave()
    campaign = await sync_to_async(small_campaign)(catalog, user)
    headers = await bearer(make_token, user)
    path = f"/api/v1/campaigns/{campaign.id}/events"
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    async with sse(path, headers) as stream:
        first = await stream.until("generation.finished")
    last_id = first[-1].id
    async with sse(path, {**headers, "Last-Event-ID": last_id}) as stream:  # type: ignore[dict-item]
        rest = await stream.until("campaign.finished")
    seen = {first[-1].data["id"]} | {m.data["id"] for m in rest if m.event == "generation.finished"}
    assert len(seen) == 8  # every generation: none lost, and the one already seen not repeated
    assert first[-1].data["id"] not in {m.data["id"] for m in rest if m.event == "generation.finished"}


# Ending without an engine event, keepalives, access -----------------------------------------


async def test_keepalive_then_a_cancelled_campaign_closes_the_stream(catalog, user, make_token, settings):
    settings.COPYGEN_SSE_KEEPALIVE_SECONDS = 0.2
    campaign = await sync_to_async(small_campaign)(catalog, user)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    headers = await bearer(make_token, user)
    async with sse(f"/api/v1/campaigns/{campaign.id}/events", headers) as stream:
        progress = await stream.next()
        assert progress is not None and progress.data["queued"] == 8
        await asyncio.sleep(0.5)
        assert ": keepalive\n\n" in stream.drain()
        cancelled = await AsyncClient().post(f"/api/v1/campaigns/{campaign.id}/cancel", headers=headers)
        assert cancelled.status_code == 200
        closing = await stream.rest(timeout=5)
    assert [m.event for m in closing][-1] == "campaign.finished"
    assert closing[-1].data["status"] == "cancelled" and closing[-1].data["cancelled"] == 8


async def test_events_need_auth_and_hide_other_users_campaigns(catalog, user, other_user, make_token):
    campaign = await sync_to_async(small_campaign)(catalog, user)
    client = AsyncClient()
    path = f"/api/v1/campaigns/{campaign.id}/events"
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=await bearer(make_token, other_user))).status_code == 404
    assert (await client.get(path, headers=await bearer(make_token, user, "write"))).status_code == 403
    assert (
        await client.get("/api/v1/campaigns/999999/events", headers=await bearer(make_token, user))
    ).status_code == 404


async def test_live_finished_events_are_sent_in_cursor_order(catalog, user, make_token):
    """One engine batch finishes several cells at once and announces them in any order: ids never skip one."""
    from django.utils import timezone

    from campaigns.services.publish import publish_event

    campaign = await sync_to_async(small_campaign)(catalog, user)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    gens = [g async for g in Generation.objects.filter(campaign=campaign).order_by("id")]
    await Generation.objects.filter(campaign=campaign).aupdate(status=Generation.Status.RUNNING)
    headers = await bearer(make_token, user)
    path = f"/api/v1/campaigns/{campaign.id}/events"
    async with sse(path, headers) as stream:
        started = await stream.until("campaign.progress")
        for _ in gens:
            assert (await stream.next()).event == "generation.started"  # type: ignore[union-attr]
        now = timezone.now()
        batch = [gens[5].id, gens[2].id, gens[3].id]
        await Generation.objects.filter(id__in=batch).aupdate(status="succeeded", text="Done.", finished_at=now)
        for gid in batch:  # announced out of order, as an engine batch may
            await publish_event(
                campaign.id,
                {"type": "generation.finished", "campaign_id": campaign.id, "id": gid, "status": "succeeded"},
            )
        finished = [await stream.next() for _ in batch]
        await publish_event(
            campaign.id,
            {"type": "generation.finished", "campaign_id": campaign.id, "id": gens[2].id, "status": "succeeded"},
        )
        await publish_event(campaign.id, {"type": "campaign.progress", "campaign_id": campaign.id})
        assert (await stream.next()).event == "campaign.progress"  # type: ignore[union-attr]  # no duplicate before it
    assert started[0].data["running"] == 8
    assert [m.data["id"] for m in finished] == sorted(batch)  # type: ignore[union-attr]
    assert all(m.data["text"] == "Done." and m.id for m in finished)  # type: ignore[union-attr]
    async with sse(path, {**headers, "Last-Event-ID": finished[0].id}) as stream:  # type: ignore[union-attr,dict-item]
        resumed = await stream.until("generation.finished")
        second = await stream.next()
    assert [resumed[-1].data["id"], second.data["id"]] == sorted(batch)[1:]  # type: ignore[union-attr]


async def test_results_whose_live_events_were_lost_are_sent_before_the_end(catalog, user, make_token):
    """The channel layer is at-most-once: campaign.finished still comes after every result."""
    from django.utils import timezone

    from campaigns.services.publish import publish_event

    campaign = await sync_to_async(small_campaign)(catalog, user)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    headers = await bearer(make_token, user)
    async with sse(f"/api/v1/campaigns/{campaign.id}/events", headers) as stream:
        await stream.until("campaign.progress")
        await Generation.objects.filter(campaign=campaign).aupdate(
            status="succeeded", text="Done.", finished_at=timezone.now()
        )
        await Campaign.objects.filter(id=campaign.id).aupdate(status=Campaign.Status.COMPLETED)
        # No generation.finished was published (lost); only the campaign's end arrives.
        await publish_event(
            campaign.id, {"type": "campaign.finished", "campaign_id": campaign.id, "status": "completed"}
        )
        rest = await stream.rest()
    assert rest[-1].event == "campaign.finished"
    finished = [m for m in rest if m.event == "generation.finished"]
    assert len(finished) == 8 and all(m.id for m in finished)
