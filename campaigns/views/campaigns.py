"""Campaigns: the builder (with a live cost estimate), the live page, launch and cancel."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from campaigns.engine.costs import BYTES_PER_TOKEN, ESTIMATED_TOKENS_PER_MESSAGE, MESSAGE_OVERHEAD_TOKENS
from campaigns.engine.status import status_vocabulary
from campaigns.forms import CampaignEstimateForm, CampaignForm, usd, usd_short
from campaigns.services import estimate, launch
from campaigns.services.errors import DomainError, InvalidInput
from campaigns.services.prices import campaign_pinned_prices
from campaigns.services.studio.grid import campaign_grid, campaign_summary, model_labels
from campaigns.services.studio.providers import campaign_providers
from campaigns.views._common import error_json, visible_campaign

MATRIX_FIELDS = ("products", "templates", "models")
ESTIMATE_ASSUMPTION = (
    f"Expected: input ≈ prompt bytes ÷ {BYTES_PER_TOKEN} + {ESTIMATED_TOKENS_PER_MESSAGE} tokens per message, "
    "output ≈ {ratio}% of max tokens. "
    f"Worst case: every prompt byte a token + {MESSAGE_OVERHEAD_TOKENS} per message, and max tokens out; "
    "the engine reserves this against the budget before each call."
)


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST if request.method == "POST" else None, user=request.user)
    if form.is_bound and form.is_valid():
        team = form.cleaned_data.get("team")
        try:
            with transaction.atomic():
                campaign = launch.campaign_create(owner=request.user, **form.service_kwargs())
                if team is not None:
                    campaign.team = team
                    campaign.save(update_fields=["team"])
        except InvalidInput as exc:
            form.add_service_error(exc.field, exc.message)
        else:
            shared = f" It is shared with {team.name}." if team is not None else ""
            messages.success(request, f"Campaign “{campaign.name}” created.{shared} Launch it when you are ready.")
            return redirect("campaigns:campaign_detail", pk=campaign.pk)
    has_teams = "team" in form.fields and form.fields["team"].queryset.exists()
    return render(request, "campaigns/campaign_form.html", {"form": form, "has_teams": has_teams})


def _estimate_json(result: dict[str, Any], budget: Decimal | None) -> dict[str, Any]:
    ratio = int(Decimal(result["expected_output_ratio"]) * 100)
    body = {
        "ready": True,
        "cells": result["cells"],
        "expected_usd": usd(result["expected_usd"]),
        "worst_case_usd": usd(result["worst_case_usd"]),
        "models": [
            {
                "model": row["model"],
                "cells": row["cells"],
                "expected_usd": usd(row["expected_usd"]),
                "worst_case_usd": usd(row["worst_case_usd"]),
            }
            for row in result["models"]
        ],
        "comparison": [
            {
                "model": row["model"],
                "model_id": row["model_id"],
                "expected_usd": usd(row["expected_usd"]),
                "worst_case_usd": usd(row["worst_case_usd"]),
                "price_source": row["price_source"],
            }
            for row in result.get("comparison") or []
        ],
        "assumption": ESTIMATE_ASSUMPTION.format(ratio=ratio),
        "budget_usd": None,
    }
    if budget is not None:
        body.update(
            budget_usd=usd_short(budget),
            budget_covers_worst_case=budget >= result["worst_case_usd"],
            budget_covers_expected=budget >= result["expected_usd"],
        )
    return body


@login_required
@require_POST
def campaign_estimate(request: HttpRequest) -> JsonResponse:
    """What the campaign being built would cost, per model and in total (form data in, JSON out)."""
    form = CampaignEstimateForm(request.POST)
    if not form.is_valid():
        missing = [f for f in MATRIX_FIELDS if f in form.errors]
        if missing:
            return JsonResponse({"ready": False, "missing": missing})
        errors = {name: errors[0] for name, errors in form.errors.items()}
        return JsonResponse({"ready": False, "errors": errors}, status=400)
    try:
        result = estimate.matrix_estimate(**form.service_kwargs(), compare_models=True)
    except DomainError as exc:
        return error_json(exc)
    return JsonResponse(_estimate_json(result, form.cleaned_data.get("budget_usd")))


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = visible_campaign(request, pk)
    labels = model_labels()
    grid = campaign_grid(campaign=campaign, labels=labels)
    providers = campaign_providers(campaign=campaign)
    context = {
        "campaign": campaign,
        "grid": grid,
        "summary": campaign_summary(campaign=campaign, grid=grid),
        "pinned_prices": campaign_pinned_prices(campaign),
        "providers": providers,
        "providers_json": [
            {
                "provider_id": p["provider_id"],
                "provider": p["provider"],
                "breaker": p["breaker"],
                "rate_limited": p["rate_limited"],
                "rate_limited_count": p["rate_limited_count"],
            }
            for p in providers
        ],
        "model_labels": labels,
        "model_names": [[m.id, m.label or m.name] for m in grid.models],
        "statuses": status_vocabulary(),
    }
    return render(request, "campaigns/campaign_detail.html", context)


def _campaign_action(request: HttpRequest, pk: int, action: Callable[..., Any], done: str) -> HttpResponse:
    """The same launch/cancel the websocket offers, for a browser without scripts."""
    campaign = visible_campaign(request, pk)
    try:
        action(campaign_id=campaign.pk, actor=request.user, token=None)  # a browser session holds no token
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Campaign “{campaign.name}” {done}.")
    return redirect("campaigns:campaign_detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_launch(request: HttpRequest, pk: int) -> HttpResponse:
    return _campaign_action(request, pk, launch.campaign_launch, "launched")


@login_required
@require_POST
def campaign_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _campaign_action(request, pk, launch.campaign_cancel, "cancelled")
