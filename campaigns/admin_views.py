"""Admin pages beyond the model admins: the usage report with its chart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from campaigns.services.usage import last_days, usage_report

CHART_HEIGHT = 160


def _bars(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bar geometry for the daily chart: reported spend below, estimated on top."""
    peak = max((r["spend_usd"] for r in rows), default=Decimal(0)) or Decimal(1)
    bars = []
    for i, r in enumerate(rows):
        reported_h = float(r["reported_usd"] / peak) * CHART_HEIGHT
        estimated_h = float(r["estimated_usd"] / peak) * CHART_HEIGHT
        bars.append({
            "x": 40 + i * 22, "day": r["key"], "spend": r["spend_usd"],
            "reported_y": CHART_HEIGHT - reported_h + 10, "reported_h": reported_h,
            "estimated_y": CHART_HEIGHT - reported_h - estimated_h + 10, "estimated_h": estimated_h,
        })
    return bars


@staff_member_required
def usage_view(request: HttpRequest) -> HttpResponse:
    since, until = last_days(30)
    daily = usage_report(group_by="day", since=since, until=until)
    context = {
        **admin.site.each_context(request),
        "title": "Usage: spend of the last 30 days",
        "since": since,
        "until": until,
        "bars": _bars(daily),
        "chart_width": 60 + 22 * max(len(daily), 1),
        "chart_height": CHART_HEIGHT + 40,
        "peak": max((r["spend_usd"] for r in daily), default=Decimal(0)),
        "groups": [
            (title, usage_report(group_by=key, since=since, until=until))
            for key, title in [("model", "By model"), ("campaign", "By campaign"), ("user", "By user"),
                               ("token", "By API token"), ("day", "By day")]
        ],
    }
    return render(request, "admin/usage.html", context)
