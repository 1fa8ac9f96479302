"""Who may see and act on what; the same rules for the UI, the API and the websocket."""

from __future__ import annotations

from typing import Any

from campaigns.models import Campaign
from campaigns.services.selectors import campaigns_visible_to

__all__ = ["campaign_for_user", "can_act"]


def campaign_for_user(user: Any, campaign_id: int) -> Campaign | None:
    """The campaign if ``user`` may see it, else None (others' campaigns look absent)."""
    return campaigns_visible_to(user).filter(id=campaign_id).first()


def can_act(scope: dict[str, Any], needed: str, campaign_id: int) -> bool:
    """A session user who sees the campaign may act; a token also needs the scope."""
    token = scope.get("api_token")
    if token is not None and needed not in token.scopes and "admin" not in token.scopes:
        return False
    return campaign_for_user(scope["user"], campaign_id) is not None
