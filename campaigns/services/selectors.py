"""Reads: campaign statistics and snapshots, always computed from the generations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet, Sum

from campaigns.models import Campaign, Generation

__all__ = [
    "campaign_progress",
    "campaign_snapshot",
    "campaign_stats",
    "campaigns_visible_to",
    "generation_dict",
    "percentile",
]

S = Generation.Status


def campaigns_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Campaign]:
    """Staff see every campaign; a marketer sees their own and those shared with their teams."""
    if not user.is_authenticated:
        return Campaign.objects.none()
    if user.is_staff:
        return Campaign.objects.all()
    return Campaign.objects.filter(Q(owner=user) | Q(team__members=user)).distinct()


def campaign_progress(campaign: Campaign) -> dict[str, Any]:
    """Counts, spend and tokens, summed from the generations in one query."""
    agg = campaign.generations.aggregate(
        total=Count("id"),
        queued=Count("id", filter=Q(status=S.QUEUED)),
        running=Count("id", filter=Q(status=S.RUNNING)),
        succeeded=Count("id", filter=Q(status=S.SUCCEEDED)),
        failed=Count("id", filter=Q(status=S.FAILED)),
        cancelled=Count("id", filter=Q(status=S.CANCELLED)),
        skipped=Count("id", filter=Q(status=S.SKIPPED)),
        spend=Sum("cost_usd"),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
    )
    spend = agg.pop("spend") or Decimal(0)
    return {
        **agg,
        "pending": agg["queued"] + agg["running"],
        "tokens_in": agg["tokens_in"] or 0,
        "tokens_out": agg["tokens_out"] or 0,
        "spend_usd": str(spend),
        "budget_usd": str(campaign.budget_usd),
        "status": campaign.status,
    }


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100) of ``values``, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


def campaign_stats(campaign: Campaign) -> dict[str, Any]:
    """Progress plus latency percentiles of the succeeded generations."""
    stats = campaign_progress(campaign)
    rows = list(
        campaign.generations.filter(status=S.SUCCEEDED).values_list("ttft_ms", "latency_ms")
    )
    ttfts = [t for t, _ in rows if t is not None]
    latencies = [t for _, t in rows if t is not None]
    stats.update(
        ttft_ms_p50=percentile(ttfts, 50),
        ttft_ms_p95=percentile(ttfts, 95),
        latency_ms_p50=percentile(latencies, 50),
        latency_ms_p95=percentile(latencies, 95),
    )
    return stats


def generation_dict(g: Generation) -> dict[str, Any]:
    return {
        "id": g.id,
        "product_id": g.product_id,
        "template_id": g.template_id,
        "model_id": g.model_id,
        "variant": g.variant,
        "language": g.language,
        "served_by_id": g.served_by_id,
        "status": g.status,
        "text": g.text,
        "ttft_ms": g.ttft_ms,
        "latency_ms": g.latency_ms,
        "tokens_in": g.tokens_in,
        "tokens_out": g.tokens_out,
        "cost_usd": str(g.cost_usd),
        "cost_source": g.cost_source,
        "attempts": g.attempts,
        "error": g.error,
        "rating": g.rating,
        "approved": g.approved,
        "edited_text": g.edited_text,
    }


SNAPSHOT_LIMIT = 5000


def campaign_snapshot(campaign: Campaign) -> dict[str, Any]:
    """What a viewer needs to draw the page: the campaign, its axes and its cells."""
    generations = list(campaign.generations.order_by("id")[:SNAPSHOT_LIMIT])
    return {
        "type": "campaign.snapshot",
        "campaign_id": campaign.id,
        "campaign": {"id": campaign.id, "name": campaign.name, **campaign_stats(campaign)},
        "generations": [generation_dict(g) for g in generations],
        "truncated": campaign.generations.count() > SNAPSHOT_LIMIT,
    }
