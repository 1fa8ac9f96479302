"""The live campaign websocket: a snapshot on connect, then the campaign's events."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from campaigns.engine.commands import CommandKind
from campaigns.engine.events import EVENT_TYPES
from campaigns.services import access
from campaigns.services.errors import DomainError
from campaigns.services.launch import campaign_cancel, campaign_launch
from campaigns.services.publish import campaign_group
from campaigns.services.selectors import campaign_snapshot
from campaigns.services.signals import engine_signal_async

__all__ = ["CampaignConsumer"]

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class CampaignConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/campaigns/<id>/``: send ``{"action": "launch"|"cancel"}``, receive events."""

    campaign_id: int
    group: str

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        token = self.scope.get("api_token")
        if token is not None and not {"read", "admin"} & set(token.scopes):
            await self.close(code=CLOSE_FORBIDDEN)  # watching is reading: a token needs 'read'
            return
        self.campaign_id = int(self.scope["url_route"]["kwargs"]["campaign_id"])
        campaign = await database_sync_to_async(access.campaign_for_user)(user, self.campaign_id)
        if campaign is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = campaign_group(self.campaign_id)
        # Join before reading the snapshot: nothing that happens in between is missed.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(campaign_snapshot)(campaign))
        if campaign.status == campaign.Status.RUNNING:
            # Cells in flight have text the database doesn't have yet: ask the engines for it.
            await engine_signal_async(CommandKind.RESYNC, campaign_id=self.campaign_id, reply_to=self.channel_name)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        actions = {"launch": campaign_launch, "cancel": campaign_cancel}
        if action not in actions:
            await self.send_json({"type": "error", "detail": "action must be 'launch' or 'cancel'"})
            return
        try:
            # The service checks access and the token's scope, and applies the token's quotas.
            campaign = await database_sync_to_async(actions[action])(
                campaign_id=self.campaign_id, actor=self.scope["user"], token=self.scope.get("api_token")
            )
        except DomainError as exc:
            await self.send_json(
                {"type": "error", "action": action, "status": exc.status_code, "detail": exc.message}
            )
            return
        await self.send_json({"type": "campaign.status", "campaign_id": campaign.id, "status": campaign.status})

    async def _forward(self, event: dict[str, Any]) -> None:
        await self.send_json(event)


# Group events are dispatched by their "type": one handler per event of the protocol
# (campaigns/engine/events.py), each forwarding the event as it is.
for _type in EVENT_TYPES:
    setattr(CampaignConsumer, _type.replace(".", "_"), CampaignConsumer._forward)
