"""Reads: campaign statistics and snapshots, always computed from the generations."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet, Sum

from campaigns.engine.costs import MONEY_QUANTUM
from campaigns.engine.status import GenerationStatus
from campaigns.models import Attempt, Campaign, Generation
from campaigns.services.prices import campaigns_cache_savings

__all__ = [
    "cache_hit_ratio",
    "campaign_progress",
    "campaign_snapshot",
    "campaign_stats",
    "campaigns_stats",
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


def _progress_aggregates() -> dict[str, Any]:
    return {
        "total": Count("id"),
        "queued": Count("id", filter=Q(status=S.QUEUED)),
        "running": Count("id", filter=Q(status=S.RUNNING)),
        "succeeded": Count("id", filter=Q(status=S.SUCCEEDED)),
        "failed": Count("id", filter=Q(status=S.FAILED)),
        "cancelled": Count("id", filter=Q(status=S.CANCELLED)),
        "skipped": Count("id", filter=Q(status=S.SKIPPED)),
        "passing": Count("id", filter=Q(checks_passed=True)),
        "failing_checks": Count("id", filter=Q(checks_passed=False)),
        "approved": Count("id", filter=Q(approved=True)),
        "spend": Sum("cost_usd"),
        "tokens_in": Sum("tokens_in"),
        "tokens_out": Sum("tokens_out"),
        "tokens_cached": Sum("tokens_cached"),
        "tokens_reasoning": Sum("tokens_reasoning"),
    }


def cache_hit_ratio(tokens_in: int, tokens_cached: int) -> float | None:
    """The share of prompt tokens the provider served from its cache (None before any)."""
    return round(tokens_cached / tokens_in, 4) if tokens_in else None


def _progress(campaign: Campaign, agg: dict[str, Any]) -> dict[str, Any]:
    spend = agg.get("spend") or Decimal(0)
    counts = {
        k: agg.get(k) or 0
        for k in ("total", *(s.value for s in GenerationStatus), "passing", "failing_checks")
    }
    return {
        **counts,
        "cost_per_passing_usd": _per(spend, counts["passing"]),
        "pending": counts["queued"] + counts["running"],
        "tokens_in": agg.get("tokens_in") or 0,
        "tokens_out": agg.get("tokens_out") or 0,
        "tokens_cached": agg.get("tokens_cached") or 0,
        "tokens_reasoning": agg.get("tokens_reasoning") or 0,
        "cache_hit_ratio": cache_hit_ratio(agg.get("tokens_in") or 0, agg.get("tokens_cached") or 0),
        "spend_usd": str(spend),
        "budget_usd": str(campaign.budget_usd),
        "status": campaign.status,
    }


def _per(spend: Decimal, count: int) -> str | None:
    """Spend per piece of copy, as a money string; None when there is none."""
    return str((spend / count).quantize(MONEY_QUANTUM)) if count else None


def campaign_progress(campaign: Campaign) -> dict[str, Any]:
    """Counts, spend and tokens, summed from the generations in one query."""
    return _progress(campaign, campaign.generations.aggregate(**_progress_aggregates()))


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
    return campaigns_stats([campaign])[campaign.id]


def campaigns_stats(campaigns: Sequence[Campaign]) -> dict[int, dict[str, Any]]:
    """``campaign_stats`` of several campaigns (a page of a list) in two queries."""
    ids = [c.id for c in campaigns]
    generations = Generation.objects.filter(campaign_id__in=ids).order_by()  # no ordering in the GROUP BY
    sums = {row.pop("campaign_id"): row for row in generations.values("campaign_id").annotate(**_progress_aggregates())}
    timings: dict[int, tuple[list[float], list[float]]] = {cid: ([], []) for cid in ids}
    rewrite_costs = dict(
        Attempt.objects.filter(generation__campaign_id__in=ids, rewrite__gt=0).order_by()
        .values("generation__campaign_id").annotate(usd=Sum("cost_usd")).values_list("generation__campaign_id", "usd")
    )
    succeeded = generations.filter(status=S.SUCCEEDED).values_list("campaign_id", "ttft_ms", "latency_ms")
    for campaign_id, ttft, latency in succeeded:
        if ttft is not None:
            timings[campaign_id][0].append(ttft)
        if latency is not None:
            timings[campaign_id][1].append(latency)
    savings = campaigns_cache_savings(ids)
    stats = {}
    for campaign in campaigns:
        ttfts, latencies = timings[campaign.id]
        agg = sums.get(campaign.id, {})
        stats[campaign.id] = {
            **_progress(campaign, agg),
            "approved": agg.get("approved") or 0,
            "cost_per_approved_usd": _per(agg.get("spend") or Decimal(0), agg.get("approved") or 0),
            "rewrite_usd": str(rewrite_costs.get(campaign.id) or Decimal(0)),
            "ttft_ms_p50": percentile(ttfts, 50),
            "ttft_ms_p95": percentile(ttfts, 95),
            "latency_ms_p50": percentile(latencies, 50),
            "latency_ms_p95": percentile(latencies, 95),
            "cache_savings_usd": str(savings[campaign.id]),
        }
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
        "tokens_cached": g.tokens_cached,
        "tokens_reasoning": g.tokens_reasoning,
        "cost_usd": str(g.cost_usd),
        "cost_source": g.cost_source,
        "attempts": g.attempts,
        "error": g.error,
        "rating": g.rating,
        "approved": g.approved,
        "edited_text": g.edited_text,
        "checks_passed": g.checks_passed,
        "check_failures": g.check_failures,
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
