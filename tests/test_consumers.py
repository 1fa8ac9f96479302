"""The live campaign websocket, through the real ASGI application."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from campaigns.models import Campaign, Generation
from campaigns.services.publish import BATCH, flatten
from copygen.asgi import application
from tests.test_engine_e2e import make_campaign

pytestmark = pytest.mark.django_db(transaction=True)

HOST = (b"host", b"127.0.0.1:8000")
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def session_cookie(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def small_campaign(catalog: dict[str, Any], owner: Any) -> Campaign:
    """Two products × one template × both models × two variants (8 cells)."""
    return make_campaign(
        catalog,
        owner,
        name="Live",
        product_ids=[p.id for p in catalog["products"][:2]],
        template_ids=[catalog["templates"][0].id],
        variants=2,
        budget_usd=Decimal("5"),
    )


async def connect(campaign_id: int, headers: list[tuple[bytes, bytes]]) -> tuple[WebsocketCommunicator, bool, Any]:
    communicator = WebsocketCommunicator(application, f"/ws/campaigns/{campaign_id}/", headers=[HOST, *headers])
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def live_events(ws: WebsocketCommunicator, timeout: float = 20) -> AsyncIterator[dict[str, Any]]:
    """The events of each frame, a ``campaign.batch`` unpacked (several events of this campaign)."""
    while True:
        frame = await ws.receive_json_from(timeout=timeout)
        if frame["type"] == BATCH:
            assert len(frame["events"]) > 1 and all(e["campaign_id"] == frame["campaign_id"] for e in frame["events"])
        for event in flatten(frame):
            yield event


async def test_snapshot_then_live_events_whose_deltas_add_up_to_the_stored_text(catalog, user, simulator, inline_engine):
    campaign = await sync_to_async(small_campaign)(catalog, user)
    cookie = await sync_to_async(session_cookie)(user)
    ws, connected, _ = await connect(campaign.id, [ORIGIN, cookie])
    assert connected
    snapshot = await ws.receive_json_from(timeout=5)
    assert snapshot["type"] == "campaign.snapshot"
    assert snapshot["campaign"]["status"] == "draft" and snapshot["generations"] == []

    await ws.send_json_to({"action": "launch"})
    texts: dict[int, str] = defaultdict(str)
    finished: dict[int, dict[str, Any]] = {}
    progress: list[dict[str, Any]] = []
    types: set[str] = set()
    delta_events = 0
    async for event in live_events(ws):
        types.add(event["type"])
        if event["type"] == "generation.delta":
            assert event["offset"] == len(texts[event["id"]]), "deltas arrive in order, none lost"
            texts[event["id"]] += event["text"]
            delta_events += 1
        elif event["type"] == "generation.finished":
            finished[event["id"]] = event
        elif event["type"] == "campaign.progress":
            progress.append(event)
        elif event["type"] == "campaign.finished":
            break
    await ws.disconnect()

    assert {"campaign.status", "generation.started", "generation.delta", "generation.finished"} <= types
    stored = {g.id: g async for g in Generation.objects.filter(campaign_id=campaign.id)}
    assert len(stored) == 8 and set(finished) == set(stored)
    for gid, g in stored.items():
        assert g.status == "succeeded"
        assert texts[gid] == g.text == finished[gid]["text"]
        assert finished[gid]["cost_usd"] == str(g.cost_usd)
        assert finished[gid]["tokens_out"] == g.tokens_out
    assert progress[-1]["succeeded"] == 8 and progress[-1]["pending"] == 0
    # Coalescing: the tokens of a generation travel in far fewer events than one per token.
    tokens = sum(g.tokens_out for g in stored.values())
    assert 0 < delta_events < tokens / 2


async def test_late_joiner_gets_the_finished_cells_in_the_snapshot(catalog, user, simulator, inline_engine):
    from tests.test_engine_e2e import wait_finished

    campaign = await sync_to_async(small_campaign)(catalog, user)
    from campaigns.services.launch import campaign_launch

    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    await wait_finished(campaign.id)
    cookie = await sync_to_async(session_cookie)(user)
    ws, connected, _ = await connect(campaign.id, [ORIGIN, cookie])
    assert connected
    snapshot = await ws.receive_json_from(timeout=5)
    assert snapshot["campaign"]["status"] == "completed"
    assert snapshot["campaign"]["succeeded"] == 8
    assert all(g["text"] for g in snapshot["generations"])
    await ws.disconnect()


async def test_anonymous_is_refused(catalog, user, simulator):
    campaign = await sync_to_async(small_campaign)(catalog, user)
    ws, connected, code = await connect(campaign.id, [ORIGIN])
    assert not connected and code == 4401


async def test_another_users_campaign_is_not_found(catalog, user, other_user, simulator):
    campaign = await sync_to_async(small_campaign)(catalog, user)
    cookie = await sync_to_async(session_cookie)(other_user)
    ws, connected, code = await connect(campaign.id, [ORIGIN, cookie])
    assert not connected and code == 4404


async def test_foreign_origin_is_refused(catalog, user, simulator):
    campaign = await sync_to_async(small_campaign)(catalog, user)
    cookie = await sync_to_async(session_cookie)(user)
    ws, connected, _ = await connect(campaign.id, [(b"origin", b"http://evil.example.com"), cookie])
    assert not connected


async def test_api_token_authenticates_and_needs_the_launch_scope(catalog, user, simulator, make_token):
    campaign = await sync_to_async(small_campaign)(catalog, user)
    raw = await sync_to_async(make_token)(user, "read")
    ws, connected, _ = await connect(campaign.id, [ORIGIN, (b"authorization", f"Bearer {raw}".encode())])
    assert connected
    await ws.receive_json_from(timeout=5)
    await ws.send_json_to({"action": "launch"})
    reply = await ws.receive_json_from(timeout=5)
    assert reply["type"] == "error" and "lacks the 'launch' scope" in reply["detail"] and reply["status"] == 403
    assert (await Campaign.objects.aget(id=campaign.id)).status == "draft"
    await ws.disconnect()


async def test_unknown_action_is_an_error_not_a_crash(catalog, user, simulator):
    campaign = await sync_to_async(small_campaign)(catalog, user)
    cookie = await sync_to_async(session_cookie)(user)
    ws, connected, _ = await connect(campaign.id, [ORIGIN, cookie])
    await ws.receive_json_from(timeout=5)
    await ws.send_json_to({"action": "explode"})
    reply = await ws.receive_json_from(timeout=5)
    assert reply["type"] == "error"
    await asyncio.sleep(0)
    await ws.disconnect()


async def test_provider_status_events_reach_the_page(catalog, user, simulator):
    from campaigns.services.publish import publish_event

    campaign = await sync_to_async(small_campaign)(catalog, user)
    cookie = await sync_to_async(session_cookie)(user)
    ws, connected, _ = await connect(campaign.id, [ORIGIN, cookie])
    assert connected
    await ws.receive_json_from(timeout=5)
    event = {"type": "provider.status", "campaign_id": campaign.id, "provider_id": 7, "breaker": "open"}
    await publish_event(campaign.id, event)
    assert await ws.receive_json_from(timeout=5) == event
    await ws.disconnect()


async def test_a_viewer_joining_mid_stream_is_resynced_without_gaps_or_doubles(catalog, user, simulator, inline_engine):
    from campaigns.services.launch import campaign_launch

    for m in catalog["models"]:
        m.name = m.name.split("@")[0] + "@ttft=5,gap=30,len=40,jitter=0"
        await m.asave()
    campaign = await sync_to_async(small_campaign)(catalog, user)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    await asyncio.sleep(0.5)  # cells are mid-stream
    cookie = await sync_to_async(session_cookie)(user)
    ws, connected, _ = await connect(campaign.id, [ORIGIN, cookie])
    assert connected
    snapshot = await ws.receive_json_from(timeout=5)
    texts: dict[int, str] = {g["id"]: g["text"] for g in snapshot["generations"]}
    resynced = 0
    async for event in live_events(ws):
        if event["type"] == "generation.delta":
            # The page's rule: append what lies beyond the text it has; a piece after a gap
            # waits for the resync (the whole text so far), which covers every earlier piece.
            have = texts.get(event["id"], "")
            if event["offset"] <= len(have):
                texts[event["id"]] = have + event["text"][len(have) - event["offset"]:]
            resynced += bool(event.get("resync"))
        elif event["type"] == "campaign.finished":
            break
    await ws.disconnect()
    assert resynced > 0
    stored = {g.id: g.text async for g in Generation.objects.filter(campaign_id=campaign.id)}
    assert texts == stored


async def test_a_resync_answers_only_the_viewer_that_joined(catalog, user, simulator, inline_engine):
    from campaigns.services.launch import campaign_launch

    for m in catalog["models"]:
        m.name = m.name.split("@")[0] + "@ttft=5,gap=30,len=40,jitter=0"
        await m.asave()
    campaign = await sync_to_async(small_campaign)(catalog, user)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    cookie = await sync_to_async(session_cookie)(user)

    async def join_and_wait_for_its_resync() -> tuple[WebsocketCommunicator, list[dict[str, Any]]]:
        for _ in range(100):  # until text has streamed: only then is there something to resync
            ws, connected, _ = await connect(campaign.id, [ORIGIN, cookie])
            assert connected
            snapshot = await ws.receive_json_from(timeout=5)
            if snapshot["campaign"]["status"] == "running":
                seen = []
                async for event in live_events(ws):
                    seen.append(event)
                    if event.get("resync"):
                        return ws, seen
            await ws.disconnect()
        raise AssertionError("no resync arrived")

    first, _ = await join_and_wait_for_its_resync()
    second, _ = await join_and_wait_for_its_resync()
    after_second_joined = []
    async for event in live_events(first):
        after_second_joined.append(event)
        if event["type"] == "campaign.finished":
            break
    await first.disconnect()
    await second.disconnect()
    assert any(e["type"] == "generation.delta" for e in after_second_joined), "the first viewer kept streaming"
    assert not [e for e in after_second_joined if e.get("resync")], "the second viewer's resync went to it alone"
