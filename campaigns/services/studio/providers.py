"""The health of the providers a campaign calls: circuit breaker and rate limiting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Max
from django.utils import timezone

from campaigns.engine.status import BREAKER_LABELS, BreakerState
from campaigns.models import Attempt, Campaign, Provider

__all__ = ["BREAKER_LABELS", "RATE_LIMIT_RECENT", "campaign_providers"]

# A 429 this recent means the provider is rate limiting the campaign right now.
RATE_LIMIT_RECENT = timedelta(seconds=60)


def campaign_providers(*, campaign: Campaign) -> list[dict[str, Any]]:
    """One entry per provider of the campaign's models, as the live page shows it."""
    providers = Provider.objects.filter(models__campaigns=campaign).distinct().order_by("name")
    limited = (
        Attempt.objects.filter(generation__campaign=campaign, status_code=429)
        .values("model__provider")
        .annotate(n=Count("id"), last=Max("created_at"))
    )
    by_provider = {row["model__provider"]: row for row in limited}
    recent = timezone.now() - RATE_LIMIT_RECENT
    out = []
    for p in providers:
        row = by_provider.get(p.id, {"n": 0, "last": None})
        out.append(
            {
                "provider_id": p.id,
                "provider": p.name,
                "breaker": p.breaker_state or BreakerState.CLOSED.value,
                "breaker_label": BREAKER_LABELS.get(BreakerState(p.breaker_state or BreakerState.CLOSED), p.breaker_state),
                "rate_limited": bool(row["last"] and row["last"] >= recent),
                "rate_limited_count": row["n"],
            }
        )
    return out
