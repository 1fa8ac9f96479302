"""The dashboard: campaigns with status, progress, spend against budget and last activity."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from campaigns.services.budgets import quotas_for_user
from campaigns.services.studio.dashboard import dashboard_campaigns, dashboard_row, dashboard_totals
from campaigns.views._common import page_of

PERIOD_LABELS = {"day": "daily", "month": "monthly", "total": "total"}


def _quota_card(row: dict[str, Any]) -> dict[str, Any]:
    """A quota row with its heading ("Your daily quota", "Everyone's monthly quota")."""
    whose = "Everyone's" if row["scope"] == "global" else "Your"
    return {**row, "label": f"{whose} {PERIOD_LABELS.get(row['period'], row['period'])} quota"}


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    page = page_of(request, dashboard_campaigns(user=request.user))
    context = {
        "page": page,
        "rows": [dashboard_row(c) for c in page.object_list],
        "totals": dashboard_totals(user=request.user),
        "quotas": [_quota_card(q) for q in quotas_for_user(request.user)],
    }
    return render(request, "campaigns/dashboard.html", context)
