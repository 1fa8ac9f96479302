"""The dashboard: campaigns with status, progress, spend against budget and last activity."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from campaigns.services.studio.dashboard import dashboard_campaigns, dashboard_row, dashboard_totals
from campaigns.views._common import page_of


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    page = page_of(request, dashboard_campaigns(user=request.user))
    context = {
        "page": page,
        "rows": [dashboard_row(c) for c in page.object_list],
        "totals": dashboard_totals(user=request.user),
    }
    return render(request, "campaigns/dashboard.html", context)
