"""Prices pinned per campaign at launch, and the cache figures of a campaign's bill.

A campaign's attempts are costed with the prices its models had when it launched
(:class:`~campaigns.models.CampaignPrice`), so changing a model's price mid-campaign leaves
that campaign's bill unchanged. Campaigns launched before prices were pinned fall back to
the model's current prices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Sum, prefetch_related_objects

from campaigns.engine.costs import cache_savings_usd
from campaigns.models import Attempt, Campaign, CampaignPrice, LLMModel

__all__ = [
    "PriceSet",
    "campaign_pinned_prices",
    "campaigns_cache_savings",
    "prices_for",
    "prices_pin",
    "prices_pinned",
]


@dataclass(frozen=True)
class PriceSet:
    """One model's prices per million tokens (USD)."""

    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    cached_input_usd_per_mtok: Decimal | None = None
    cache_write_usd_per_mtok: Decimal | None = None
    price_source: str = ""

    @classmethod
    def of(cls, row: LLMModel | CampaignPrice) -> PriceSet:
        return cls(
            input_usd_per_mtok=row.input_usd_per_mtok,
            output_usd_per_mtok=row.output_usd_per_mtok,
            cached_input_usd_per_mtok=row.cached_input_usd_per_mtok,
            cache_write_usd_per_mtok=row.cache_write_usd_per_mtok,
            price_source=row.price_source,
        )


def prices_pin(*, campaign: Campaign, models: Sequence[LLMModel]) -> None:
    """Pin the current prices of ``models`` and of their fallbacks for ``campaign``."""
    ids = {m.id for m in models} | {m.fallback_id for m in models if m.fallback_id}
    rows = [
        CampaignPrice(campaign=campaign, model=m, **PriceSet.of(m).__dict__)
        for m in LLMModel.objects.filter(id__in=ids).order_by("id")
    ]
    CampaignPrice.objects.bulk_create(rows, ignore_conflicts=True)


def prices_pinned(campaign_ids: Iterable[int]) -> dict[tuple[int, int], PriceSet]:
    """The pinned prices of ``campaign_ids``, by (campaign id, model id), in one query."""
    return {
        (row.campaign_id, row.model_id): PriceSet.of(row)
        for row in CampaignPrice.objects.filter(campaign_id__in=list(campaign_ids))
    }


def prices_for(pinned: dict[tuple[int, int], PriceSet], campaign_id: int, model: LLMModel) -> PriceSet:
    """The prices ``campaign_id`` bills ``model`` at: pinned, else (launched before pinning) current."""
    return pinned.get((campaign_id, model.id)) or PriceSet.of(model)


def campaign_pinned_prices(campaign: Campaign) -> list[dict[str, Any]]:
    """The pinned prices of a campaign, one entry per model, for the page and the API."""
    prefetch_related_objects([campaign], "pinned_prices__model")  # no query when a page prefetched them
    rows = sorted(campaign.pinned_prices.all(), key=lambda row: (str(row.model), row.model_id))
    return [
        {
            "model_id": row.model_id,
            "model": str(row.model),
            "input_usd_per_mtok": row.input_usd_per_mtok,
            "cached_input_usd_per_mtok": row.cached_input_usd_per_mtok,
            "cache_write_usd_per_mtok": row.cache_write_usd_per_mtok,
            "output_usd_per_mtok": row.output_usd_per_mtok,
            "price_source": row.price_source,
            "pinned_at": row.pinned_at,
        }
        for row in rows
    ]


def campaigns_cache_savings(campaign_ids: Sequence[int]) -> dict[int, Decimal]:
    """What the provider's prompt cache saved each campaign: cached tokens of its attempts, per
    model, times the difference between the pinned input and cached-input prices."""
    savings = {cid: Decimal(0) for cid in campaign_ids}
    cached = (
        Attempt.objects.filter(generation__campaign_id__in=list(campaign_ids), tokens_cached__gt=0)
        .order_by()
        .values("generation__campaign_id", "model_id")
        .annotate(tokens=Sum("tokens_cached"))
    )
    rows = list(cached)
    if not rows:
        return savings
    pinned = prices_pinned(campaign_ids)
    models = {m.id: m for m in LLMModel.objects.filter(id__in={r["model_id"] for r in rows})}
    for row in rows:
        cid, model = row["generation__campaign_id"], models[row["model_id"]]
        prices = prices_for(pinned, cid, model)
        savings[cid] += cache_savings_usd(
            row["tokens"],
            input_usd_per_mtok=prices.input_usd_per_mtok,
            cached_input_usd_per_mtok=prices.cached_input_usd_per_mtok,
        )
    return savings
