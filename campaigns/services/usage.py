"""Spend reports: by campaign, model, user, token and day, reported versus estimated.

Computed from the attempts, the record of every provider call, so interrupted and failed
attempts count too.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from campaigns.models import Attempt

__all__ = ["USAGE_GROUPS", "usage_report"]

USAGE_GROUPS = {
    "campaign": ("generation__campaign_id", "generation__campaign__name"),
    "model": ("model_id", "model__name"),
    "user": ("generation__campaign__owner_id", "generation__campaign__owner__username"),
    "token": ("generation__campaign__launched_by_token_id", "generation__campaign__launched_by_token__prefix"),
    "day": ("day", "day"),
}
ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=20, decimal_places=10))


def _attempts(*, user: Any | None, since: date | None, until: date | None) -> QuerySet[Attempt]:
    qs = Attempt.objects.all()
    if user is not None and not user.is_staff:
        qs = qs.filter(generation__campaign__owner=user)
    if since is not None:
        qs = qs.filter(created_at__date__gte=since)
    if until is not None:
        qs = qs.filter(created_at__date__lte=until)
    return qs


def usage_report(
    *, group_by: str, user: Any | None = None, since: date | None = None, until: date | None = None
) -> list[dict[str, Any]]:
    """Rows of {key, label, spend_usd, reported_usd, estimated_usd, attempts, tokens_in, tokens_out,
    tokens_cached, tokens_reasoning}.

    A non-staff ``user`` sees only the spend of their own campaigns.
    """
    if group_by not in USAGE_GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(USAGE_GROUPS)}")
    key, label = USAGE_GROUPS[group_by]
    qs = _attempts(user=user, since=since, until=until)
    if group_by == "day":
        qs = qs.annotate(day=TruncDate("created_at"))
    rows = (
        qs.values(key, label)
        .annotate(
            spend=Coalesce(Sum("cost_usd"), ZERO),
            reported=Coalesce(Sum("cost_usd", filter=Q(cost_source="reported")), ZERO),
            estimated=Coalesce(Sum("cost_usd", filter=Q(cost_source="estimated")), ZERO),
            n=Count("id"),
            tin=Coalesce(Sum("tokens_in"), 0),
            tout=Coalesce(Sum("tokens_out"), 0),
            tcached=Coalesce(Sum("tokens_cached"), 0),
            treasoning=Coalesce(Sum("tokens_reasoning"), 0),
        )
        .order_by(key)
    )
    return [
        {
            "key": _plain(row[key]),
            "label": str(row[label]) if row[label] is not None else "—",
            "spend_usd": row["spend"],
            "reported_usd": row["reported"],
            "estimated_usd": row["estimated"],
            "attempts": row["n"],
            "tokens_in": row["tin"],
            "tokens_out": row["tout"],
            "tokens_cached": row["tcached"],
            "tokens_reasoning": row["treasoning"],
        }
        for row in rows
    ]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def last_days(days: int = 30) -> tuple[date, date]:
    today = timezone.localdate()
    return today - timedelta(days=days - 1), today
