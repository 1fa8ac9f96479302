"""``/usage``: spend grouped by campaign, model, user, token or day (staff: everyone's; others: their own)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Query

from campaigns.api.common import ApiRouter, responses, user_of
from campaigns.schemas import UsageOut, UsageParams
from campaigns.services.errors import InvalidInput
from campaigns.services.usage import usage_report

__all__ = ["router"]

router = ApiRouter()


@router.get("/usage", response=responses(200, UsageOut), tags=["usage"])
async def usage(request: HttpRequest, params: Query[UsageParams]) -> dict[str, Any]:
    """Every provider call's cost, summed per group; a non-staff caller sees only their own campaigns."""
    if params.since and params.until and params.since > params.until:
        raise InvalidInput("until", "until: must not be before since")
    rows = await sync_to_async(usage_report)(
        group_by=params.group_by, user=user_of(request), since=params.since, until=params.until
    )
    return {
        "group_by": params.group_by,
        "since": params.since,
        "until": params.until,
        "spend_usd": sum((row["spend_usd"] for row in rows), Decimal(0)),
        "items": rows,
    }
