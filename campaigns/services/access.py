"""Who may see and act on what; the same rules for the UI, the API and the websocket."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from campaigns.models import ApiToken, Campaign
from campaigns.services.errors import NotFound, PermissionDenied
from campaigns.services.selectors import campaigns_visible_to

__all__ = ["campaign_act_check", "campaign_for_user", "token_live"]

ADMIN_SCOPE = ApiToken.Scope.ADMIN.value


def campaign_for_user(user: Any, campaign_id: int) -> Campaign | None:
    """The campaign if ``user`` may see it, else None (others' campaigns look absent)."""
    return campaigns_visible_to(user).filter(id=campaign_id).first()


def token_live(token: ApiToken) -> ApiToken | None:
    """``token`` as stored now, or None once revoked or expired (a websocket outlives checks at connect)."""
    current = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).first()
    if current is None or (current.expires_at is not None and current.expires_at <= timezone.now()):
        return None
    return current


def campaign_act_check(*, actor: Any, token: ApiToken | None, campaign_id: int, scope: str) -> ApiToken | None:
    """Refuse unless ``actor`` sees the campaign and ``token`` (if any) is theirs, live and holds ``scope``.

    Returns the token as stored now (its quotas apply to what it launches). A campaign the
    actor may not see answers as absent, like everywhere else.
    """
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied("sign in or send an API token to act on a campaign")
    live = None
    if token is not None:
        live = token_live(token)
        if live is None or live.user_id != actor.pk:
            raise PermissionDenied("invalid, expired or revoked API token")
        if scope not in live.scopes and ADMIN_SCOPE not in live.scopes:
            raise PermissionDenied(f"this API token lacks the '{scope}' scope")
    if campaign_for_user(actor, campaign_id) is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return live
