"""Every way to launch a campaign goes through one service that knows who acts and with which token.

The paths: the studio's launch button (a session), the API with a session and with a bearer
token, and the live websocket with a session and with a bearer token. On each, the quota of
the credential that acts refuses a launch when it has nothing left (naming itself), and the
spend of a launch made with a token is reported under that token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Generation, Quota, QuotaUsage
from campaigns.services.tokens import token_create
from campaigns.services.usage import usage_report
from copygen.asgi import application
from tests.test_engine_e2e import make_campaign, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

HOST = (b"host", b"127.0.0.1:8000")
ORIGIN = (b"origin", b"http://127.0.0.1:8000")

Launcher = Callable[[int, Any, str], Awaitable[str]]


def _session(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@sync_to_async
def _ui(campaign_id: int, user: Any, raw: str) -> str:
    response = _session(user).post(reverse("campaigns:campaign_launch", args=[campaign_id]), follow=True)
    assert response.status_code == 200
    return " ".join(str(m) for m in response.context["messages"] if m.level_tag == "error")


def _api_answer(response: Any) -> str:
    if response.status_code == 202:
        return ""
    assert 400 <= response.status_code < 500, response.content
    return f"{response.status_code} {response.json()['detail']}"


@sync_to_async
def _api_session(campaign_id: int, user: Any, raw: str) -> str:
    return _api_answer(_session(user).post(f"/api/v1/campaigns/{campaign_id}/launch"))


@sync_to_async
def _api_token(campaign_id: int, user: Any, raw: str) -> str:
    return _api_answer(Client().post(f"/api/v1/campaigns/{campaign_id}/launch", HTTP_AUTHORIZATION=f"Bearer {raw}"))


async def _ws(campaign_id: int, credentials: tuple[bytes, bytes]) -> str:
    ws = WebsocketCommunicator(application, f"/ws/campaigns/{campaign_id}/", headers=[HOST, ORIGIN, credentials])
    connected, code = await ws.connect(timeout=5)
    assert connected, code
    try:
        assert (await ws.receive_json_from(timeout=5))["type"] == "campaign.snapshot"
        await ws.send_json_to({"action": "launch"})
        while True:
            frame = await ws.receive_json_from(timeout=10)
            if frame["type"] == "error":
                assert 400 <= frame["status"] < 500
                return f"{frame['status']} {frame['detail']}"
            if frame["type"] == "campaign.status":
                return ""
    finally:
        await ws.disconnect()


async def _ws_session(campaign_id: int, user: Any, raw: str) -> str:
    client = await sync_to_async(_session)(user)
    return await _ws(campaign_id, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))


async def _ws_token(campaign_id: int, user: Any, raw: str) -> str:
    return await _ws(campaign_id, (b"authorization", f"Bearer {raw}".encode()))


PATHS: dict[str, Launcher] = {
    "studio button (session)": _ui,
    "API (session)": _api_session,
    "API (token)": _api_token,
    "websocket (session)": _ws_session,
    "websocket (token)": _ws_token,
}


def _one_cell(catalog: dict[str, Any], owner: Any, name: str) -> Campaign:
    return make_campaign(
        catalog, owner, name=name, product_ids=[catalog["products"][0].id],
        template_ids=[catalog["templates"][0].id], model_ids=[catalog["models"][0].id],
    )


@pytest.mark.parametrize("path", list(PATHS))
async def test_every_launch_path_applies_the_acting_quota_and_reports_spend_under_the_token(
    path: str, catalog: Any, user: Any, simulator: Any, inline_engine: Any
) -> None:
    launch = PATHS[path]
    token, raw = await sync_to_async(token_create)(user=user, scopes=["read", "launch"])
    by_token = path.endswith("(token)")
    # Nothing left on the credential that acts: the token's own quota, or the user's for a session.
    owner = {"token": token} if by_token else {"user": user}
    quota = await Quota.objects.acreate(
        scope="token" if by_token else "user", period="total", limit_usd=Decimal(0), **owner
    )
    named = f"quota {await sync_to_async(str)(quota)} exhausted"

    refused = await sync_to_async(_one_cell)(catalog, user, "Refused")
    detail = await launch(refused.id, user, raw)
    assert named in detail, detail
    if path != "studio button (session)":
        assert detail.startswith("402 ")
    refused = await Campaign.objects.aget(id=refused.id)
    assert refused.status == Campaign.Status.DRAFT
    assert not await Generation.objects.filter(campaign_id=refused.id).aexists()

    quota.limit_usd = Decimal("1")
    await quota.asave()
    campaign = await sync_to_async(_one_cell)(catalog, user, "Accepted")
    assert await launch(campaign.id, user, raw) == ""
    campaign = await wait_finished(campaign.id, timeout=30)
    assert campaign.status == Campaign.Status.COMPLETED and campaign.spent_usd > 0
    assert campaign.launched_by_token_id == (token.id if by_token else None)
    # The quota counted the spend, and the usage report shows it under the token (or none).
    usage = await QuotaUsage.objects.aget(quota=quota)
    assert usage.spent_usd == campaign.spent_usd and usage.reserved_usd == 0
    rows = {row["key"]: row["spend_usd"] for row in await sync_to_async(usage_report)(group_by="token")}
    assert rows == {(token.id if by_token else None): campaign.spent_usd}


async def test_a_token_revoked_while_its_websocket_is_open_launches_nothing(catalog: Any, user: Any) -> None:
    token, raw = await sync_to_async(token_create)(user=user, scopes=["read", "launch"])
    campaign = await sync_to_async(_one_cell)(catalog, user, "Revoked")
    ws = WebsocketCommunicator(
        application, f"/ws/campaigns/{campaign.id}/", headers=[HOST, ORIGIN, (b"authorization", f"Bearer {raw}".encode())]
    )
    assert (await ws.connect(timeout=5))[0]
    await ws.receive_json_from(timeout=5)
    token.revoked_at = timezone.now()
    await token.asave(update_fields=["revoked_at"])
    await ws.send_json_to({"action": "launch"})
    frame = await ws.receive_json_from(timeout=5)
    await ws.disconnect()
    assert frame["type"] == "error" and frame["status"] == 403 and "revoked" in frame["detail"]
    assert (await Campaign.objects.aget(id=campaign.id)).status == Campaign.Status.DRAFT


async def test_a_stranger_can_neither_launch_nor_cancel_through_the_service(catalog: Any, user: Any,
                                                                           other_user: Any) -> None:
    from campaigns.services.errors import NotFound
    from campaigns.services.launch import campaign_cancel, campaign_launch

    campaign = await sync_to_async(_one_cell)(catalog, user, "Mine")
    with pytest.raises(NotFound):
        await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=other_user, token=None)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=user, token=None)
    with pytest.raises(NotFound):
        await sync_to_async(campaign_cancel)(campaign_id=campaign.id, actor=other_user, token=None)
    assert (await Campaign.objects.aget(id=campaign.id)).status == Campaign.Status.RUNNING
