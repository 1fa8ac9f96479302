"""The dashboard: the campaigns a user sees, with progress, spend and last activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from campaigns.models import Campaign, Generation
from campaigns.services.matrix import Matrix
from campaigns.services.selectors import campaigns_visible_to

__all__ = ["DashboardRow", "dashboard_campaigns", "dashboard_row", "dashboard_totals", "done_percent", "spend_percent"]

DONE_STATUSES = tuple(Generation.TERMINAL)


def done_percent(done: int, total: int) -> int:
    """Progress in whole percent, rounded down (0 when there is nothing to do)."""
    return 100 * done // total if total else 0


def spend_percent(spend: Decimal, budget: Decimal) -> int:
    """Spend against the budget in percent, capped at 100 (0 without a budget)."""
    return min(100, round(100 * spend / budget)) if budget else 0


def _m2m_count(through: Any) -> Coalesce:
    counts = through.objects.filter(campaign=OuterRef("pk")).values("campaign").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def dashboard_campaigns(*, user: Any) -> QuerySet[Campaign]:
    """The campaigns ``user`` sees, newest first, annotated with what a dashboard row needs."""
    return (
        campaigns_visible_to(user)
        .select_related("owner", "team")
        .annotate(
            n_generations=Count("generations"),
            n_done=Count("generations", filter=Q(generations__status__in=DONE_STATUSES)),
            n_approved=Count("generations", filter=Q(generations__approved=True)),
            spend=Sum("generations__cost_usd"),
            last_finished=Max("generations__finished_at"),
            n_products=_m2m_count(Campaign.products.through),
            n_templates=_m2m_count(Campaign.templates.through),
            n_models=_m2m_count(Campaign.llm_models.through),
        )
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class DashboardRow:
    campaign: Campaign
    done: int
    total: int
    approved: int
    spend: Decimal
    budget: Decimal
    last_activity: datetime

    @property
    def percent(self) -> int:
        return done_percent(self.done, self.total)

    @property
    def spend_percent(self) -> int:
        return spend_percent(self.spend, self.budget)


def dashboard_row(campaign: Any) -> DashboardRow:
    """A row of :func:`dashboard_campaigns`; a draft counts the cells it will have."""
    planned = Matrix.counted(
        products=campaign.n_products, templates=campaign.n_templates, models=campaign.n_models,
        variants=campaign.variants, languages=len(campaign.languages or []),
    ).size
    moments = [campaign.created_at, campaign.launched_at, campaign.finished_at, campaign.last_finished]
    return DashboardRow(
        campaign=campaign,
        done=campaign.n_done,
        total=campaign.n_generations or planned,
        approved=campaign.n_approved,
        spend=campaign.spend or Decimal(0),
        budget=campaign.budget_usd,
        last_activity=max(m for m in moments if m is not None),
    )


def dashboard_totals(*, user: Any) -> dict[str, Any]:
    """Headline numbers over every campaign ``user`` sees."""
    campaigns = campaigns_visible_to(user)
    generations = Generation.objects.filter(campaign__in=campaigns)
    totals = generations.aggregate(spend=Sum("cost_usd"), approved=Count("id", filter=Q(approved=True)))
    return {
        "running": campaigns.filter(status=Campaign.Status.RUNNING).count(),
        "campaigns": campaigns.count(),
        "spend": totals["spend"] or Decimal(0),
        "approved": totals["approved"],
    }
