"""``/quotas``: spending limits (staff with ``admin``) and ``/quotas/mine`` (anyone signed in)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpRequest
from ninja import Query, Status

from campaigns.api.auth import READ, STAFF_ADMIN
from campaigns.api.common import ApiRouter, adelete_or_404, aget_or_404, links, responses, save, user_of
from campaigns.models import ApiToken, Quota, QuotaUsage
from campaigns.schemas import ObjectId, PageOut, QuotaFilters, QuotaIn, QuotaOut, QuotaPatch
from campaigns.services.budgets import quota_period
from campaigns.services.errors import InvalidInput

__all__ = ["router"]

router = ApiRouter(auth=STAFF_ADMIN)


FIELDS = ("id", "scope", "user_id", "token_id", "period", "limit_usd", "is_active", "created_at")


def _current(quota: Quota, start: datetime, resets: datetime | None, usage: QuotaUsage | None) -> dict[str, Any]:
    """The current period of ``quota``: its start, spent, reserved, left, used_pct and resets_at."""
    spent = usage.spent_usd if usage else Decimal(0)
    reserved = usage.reserved_usd if usage else Decimal(0)
    return {
        "period_start": start,
        "spent_usd": spent,
        "reserved_usd": reserved,
        "left_usd": max(quota.limit_usd - spent - reserved, Decimal(0)),
        "used_pct": int(spent * 100 / quota.limit_usd) if quota.limit_usd else 100,
        "resets_at": resets,
    }


def quotas_out(quotas: Sequence[Quota]) -> list[dict[str, Any]]:
    """Each quota as QuotaOut, with its current period (the usages of all of them read in one query)."""
    now = datetime.now(UTC)
    periods = [quota_period(q.period, now) for q in quotas]
    starts = {start for start, _ in periods}
    usages = {
        (u.quota_id, u.period_start): u for u in QuotaUsage.objects.filter(quota__in=quotas, period_start__in=starts)
    }
    return [
        {**{f: getattr(q, f) for f in FIELDS}, "current": _current(q, start, resets, usages.get((q.id, start)))}
        for q, (start, resets) in zip(quotas, periods, strict=True)
    ]


def quota_out(quota: Quota) -> dict[str, Any]:
    return quotas_out([quota])[0]


def _quota_save(quota: Quota, data: dict[str, Any]) -> dict[str, Any]:
    """Apply ``data``, check the scope names exactly its subject, save; the quota as QuotaOut."""
    for name, value in data.items():
        setattr(quota, name, value)
    subject = {"user": "user_id", "token": "token_id"}.get(quota.scope)
    for field in ("user_id", "token_id"):
        if field == subject and getattr(quota, field) is None:
            raise InvalidInput(field, f"{field}: a {quota.scope} quota names its {quota.scope}")
        if field != subject and getattr(quota, field) is not None:
            raise InvalidInput(field, f"{field}: must be null for a {quota.scope} quota")
    if quota.user_id is not None and not get_user_model().objects.filter(pk=quota.user_id).exists():
        raise InvalidInput("user_id", f"user_id: no such user {quota.user_id}")
    if quota.token_id is not None and not ApiToken.objects.filter(pk=quota.token_id).exists():
        raise InvalidInput("token_id", f"token_id: no such API token {quota.token_id}")
    return quota_out(save(quota))


def _mine(user: Any, token: ApiToken | None) -> list[dict[str, Any]]:
    """The active quotas that apply to ``user``'s campaigns, and to launches by ``token``."""
    applies = Q(scope=Quota.Scope.GLOBAL) | Q(scope=Quota.Scope.USER, user=user)
    if token is not None:
        applies |= Q(scope=Quota.Scope.TOKEN, token=token)
    return quotas_out(list(Quota.objects.filter(applies, is_active=True).order_by("scope", "id")))


def _list(filters: QuotaFilters) -> dict[str, Any]:
    quotas = Quota.objects.order_by("scope", "id")
    conditions = {f: getattr(filters, f) for f in ("scope", "user_id", "token_id", "is_active")}
    quotas = quotas.filter(**{f: v for f, v in conditions.items() if v is not None})
    page = quotas[filters.offset : filters.offset + filters.limit]
    return {"items": quotas_out(list(page)), "count": quotas.count()}


@router.get("/quotas/mine", response=responses(200, list[QuotaOut]), auth=READ, tags=["quotas"])
async def quota_mine(request: HttpRequest) -> list[dict[str, Any]]:
    """The active quotas that limit the caller's spending: their own, the global ones, the calling token's."""
    token = request.auth if isinstance(request.auth, ApiToken) else None  # type: ignore[attr-defined]
    return await sync_to_async(_mine)(user_of(request), token)


@router.get("/quotas", response=responses(200, PageOut[QuotaOut]), tags=["quotas"])
async def quota_list(request: HttpRequest, filters: Query[QuotaFilters]) -> dict[str, Any]:
    return await sync_to_async(_list)(filters)


@router.post(
    "/quotas",
    response=responses(201, QuotaOut),
    tags=["quotas"],
    openapi_extra=links(201, "quota_id", "quota_detail", "quota_update", "quota_delete"),
)
async def quota_create(request: HttpRequest, payload: QuotaIn) -> Status:
    """A spending limit; a launch it leaves nothing for answers 402, naming it."""
    return Status(201, await sync_to_async(_quota_save)(Quota(), payload.dict()))


@router.get("/quotas/{quota_id}", response=responses(200, QuotaOut, 404), tags=["quotas"])
async def quota_detail(request: HttpRequest, quota_id: ObjectId) -> dict[str, Any]:
    quota = await aget_or_404(Quota.objects.all(), quota_id, "quota")
    return await sync_to_async(quota_out)(quota)


@router.patch("/quotas/{quota_id}", response=responses(200, QuotaOut, 404), tags=["quotas"])
async def quota_update(request: HttpRequest, quota_id: ObjectId, payload: QuotaPatch) -> dict[str, Any]:
    quota = await aget_or_404(Quota.objects.all(), quota_id, "quota")
    return await sync_to_async(_quota_save)(quota, payload.dict(exclude_unset=True))


@router.delete("/quotas/{quota_id}", response=responses(204, None, 404), tags=["quotas"])
async def quota_delete(request: HttpRequest, quota_id: ObjectId) -> Status:
    return await adelete_or_404(Quota.objects.all(), quota_id, "quota")
