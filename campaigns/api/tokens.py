"""``/tokens``: a user's API tokens -- list, create (the secret is shown once), rename or re-limit, revoke."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Status

from campaigns.api.auth import ADMIN
from campaigns.api.common import ApiRouter, aget_or_404, apage, links, responses, user_of
from campaigns.models import ApiToken
from campaigns.schemas import ObjectId, PageOut, PageParams, TokenCreatedOut, TokenIn, TokenOut, TokenPatch
from campaigns.services.tokens import rate_limit_check, token_create

__all__ = ["router"]

router = ApiRouter(auth=ADMIN)


def _tokens(request: HttpRequest) -> Any:
    return ApiToken.objects.filter(user=user_of(request)).order_by("-created_at", "-id")


@router.get("/tokens", response=responses(200, PageOut[TokenOut]), tags=["tokens"])
async def token_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The caller's tokens, newest first, revoked ones included."""
    return await apage(_tokens(request), page)


@router.post(
    "/tokens",
    response=responses(201, TokenCreatedOut),
    tags=["tokens"],
    openapi_extra=links(201, "token_id", "token_detail"),
)
async def token_create_view(request: HttpRequest, payload: TokenIn) -> Status:
    """A new token for the caller; ``token`` is the secret, shown in this response only."""
    token, raw = await sync_to_async(token_create)(
        user=user_of(request),
        scopes=[str(s) for s in payload.scopes],
        name=payload.name,
        expires_at=payload.expires_at,
        rate_limit_per_minute=payload.rate_limit_per_minute,
    )
    token.token = raw  # type: ignore[attr-defined]
    return Status(201, token)


@router.get("/tokens/{token_id}", response=responses(200, TokenOut, 404), tags=["tokens"])
async def token_detail(request: HttpRequest, token_id: ObjectId) -> ApiToken:
    return await aget_or_404(_tokens(request), token_id, "token")


@router.patch("/tokens/{token_id}", response=responses(200, TokenOut, 404, 422), tags=["tokens"])
async def token_update(request: HttpRequest, token_id: ObjectId, payload: TokenPatch) -> ApiToken:
    """Rename a token or change its rate limit (raising it above the default needs a staff user)."""
    token = await aget_or_404(_tokens(request), token_id, "token")
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    await sync_to_async(rate_limit_check)(user_of(request), changes.get("rate_limit_per_minute"))
    if changes:
        for name, value in changes.items():
            setattr(token, name, value)
        await token.asave(update_fields=list(changes))
    return token


@router.delete("/tokens/{token_id}", response=responses(204, None, 404), tags=["tokens"])
async def token_revoke(request: HttpRequest, token_id: ObjectId) -> Status:
    """Revoke a token: it stops working at once (it stays listed, with ``revoked_at``)."""
    token = await aget_or_404(_tokens(request), token_id, "token")
    if token.revoked_at is None:
        await ApiToken.objects.filter(id=token.id).aupdate(revoked_at=timezone.now())
    return Status(204, None)
