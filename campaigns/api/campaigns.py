"""Campaigns: create, read, change, delete, launch, cancel, estimate and export.

A user sees their own campaigns and those shared with their teams (staff see all); any
other campaign answers 404.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from ninja import Query, Status

from campaigns.api.auth import LAUNCH, READ, WRITE
from campaigns.api.common import ApiRouter, aget_or_404, apage, asearch_page, links, ordered, responses, user_of
from campaigns.models import ApiToken, Campaign, Team
from campaigns.schemas import (
    CampaignFilters,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    EstimateIn,
    EstimateOut,
    ExportOut,
    ExportParams,
    GenerationFilters,
    GenerationOut,
    ObjectId,
    PageOut,
)
from campaigns.services.campaign_edit import campaign_delete, campaign_update
from campaigns.services.errors import InvalidInput
from campaigns.services.estimate import campaign_estimate, matrix_estimate
from campaigns.services.export import CONTENT_TYPES, export_csv, export_json, export_rows, export_xlsx
from campaigns.services.launch import campaign_cancel, campaign_create, campaign_launch
from campaigns.services.prices import campaign_pinned_prices
from campaigns.services.selectors import campaign_stats, campaigns_stats, campaigns_visible_to

__all__ = ["campaign_out", "filter_generations", "router"]

router = ApiRouter(auth=READ)

EXPORT_RESPONSES = {
    200: {
        "description": "The campaign's copy, one row per generation, as a download.",
        "content": {
            CONTENT_TYPES["csv"]: {"schema": {"type": "string"}},
            CONTENT_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def campaign_out(campaign: Campaign, stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """A campaign with its statistics, as ``CampaignOut`` (queries the database)."""
    return {
        **{f: getattr(campaign, f) for f in ("id", "name", "team_id", "variants", "max_tokens", "temperature")},
        "rewrites": campaign.rewrites,
        **{f: getattr(campaign, f) for f in ("created_at", "launched_at", "finished_at")},
        **(stats if stats is not None else campaign_stats(campaign)),
        "languages": list(campaign.languages or []),
        "product_ids": [p.id for p in campaign.products.all()],
        "template_ids": [t.id for t in campaign.templates.all()],
        "model_ids": [m.id for m in campaign.llm_models.all()],
        "pinned_prices": campaign_pinned_prices(campaign),
    }


acampaign_out = sync_to_async(campaign_out)


@sync_to_async
def _campaigns_out(campaigns: list[Campaign]) -> list[dict[str, Any]]:
    """``campaign_out`` of each campaign of a page: one trip to the worker thread, and a fixed
    number of queries whatever the page size."""
    prefetch_related_objects(campaigns, "products", "templates", "llm_models", "pinned_prices__model")
    stats = campaigns_stats(campaigns)
    return [campaign_out(c, stats[c.id]) for c in campaigns]


def _token(request: HttpRequest) -> ApiToken | None:
    """The API token of the call; None for the browser's session."""
    return request.auth if isinstance(request.auth, ApiToken) else None  # type: ignore[attr-defined]


async def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    return await aget_or_404(campaigns_visible_to(user_of(request)), campaign_id, "campaign")


def filter_generations(generations: Any, filters: GenerationFilters) -> Any:
    """Apply the generation filters and ordering of ``filters`` to a queryset."""
    exact = ("status", "product_id", "template_id", "model_id", "approved", "rating", "checks_passed")
    conditions = {name: getattr(filters, name) for name in exact if getattr(filters, name) is not None}
    if filters.language:
        conditions["language"] = filters.language
    return ordered(generations.filter(**conditions), filters.ordering)


# Create, read, change, delete -----------------------------------------------------------


def _team(user: Any, team_id: int | None) -> Team | None:
    """Team ``team_id`` (None: none) if ``user`` may share with it: a member of it, or staff."""
    if team_id is None:
        return None
    team = Team.objects.filter(id=team_id).first()
    if team is None or not (user.is_staff or team.members.filter(pk=user.pk).exists()):
        raise InvalidInput("team_id", f"team_id: no team {team_id} that you are a member of")
    return team


@transaction.atomic
def _create(user: Any, data: dict[str, Any]) -> Campaign:
    team = _team(user, data.pop("team_id", None))
    campaign = campaign_create(owner=user, **data)
    if team is not None:
        campaign.team = team
        campaign.save(update_fields=["team"])
    return campaign


@transaction.atomic
def _update(user: Any, campaign_id: int, changes: dict[str, Any]) -> Campaign:
    share = "team_id" in changes
    team = _team(user, changes.pop("team_id")) if share else None
    campaign = campaign_update(user=user, campaign_id=campaign_id, **changes)
    if share and campaign.team_id != (team.id if team else None):
        campaign.team = team
        campaign.save(update_fields=["team"])
    return campaign


CAMPAIGN_LINKS = links(
    201,
    "campaign_id",
    "campaign_detail",
    "campaign_update",
    "campaign_delete",
    "campaign_launch",
    "campaign_cancel",
    "generation_list",
    "campaign_estimate",
    "campaign_export",
)


@router.post(
    "/campaigns", response=responses(201, CampaignOut), auth=WRITE, tags=["campaigns"], openapi_extra=CAMPAIGN_LINKS
)
async def campaign_create_view(request: HttpRequest, payload: CampaignIn) -> Status:
    campaign = await sync_to_async(_create)(user_of(request), payload.dict())
    return Status(201, await acampaign_out(campaign))


@router.get("/campaigns", response=responses(200, PageOut[CampaignOut]), tags=["campaigns"])
async def campaign_list(request: HttpRequest, filters: Query[CampaignFilters]) -> dict[str, Any]:
    campaigns = campaigns_visible_to(user_of(request)).prefetch_related("products", "templates", "llm_models")
    if filters.status is not None:
        campaigns = campaigns.filter(status=filters.status)
    page = await asearch_page(campaigns, filters, "name")
    page["items"] = await _campaigns_out(page["items"])
    return page


@router.get("/campaigns/{campaign_id}", response=responses(200, CampaignOut, 404), tags=["campaigns"])
async def campaign_detail(request: HttpRequest, campaign_id: ObjectId) -> dict[str, Any]:
    return await acampaign_out(await _campaign(request, campaign_id))


@router.patch(
    "/campaigns/{campaign_id}", response=responses(200, CampaignOut, 404, 409), auth=WRITE, tags=["campaigns"]
)
async def campaign_update_view(request: HttpRequest, campaign_id: ObjectId, payload: CampaignPatch) -> dict[str, Any]:
    changes = payload.dict(exclude_unset=True)
    campaign = await sync_to_async(_update)(user_of(request), campaign_id, changes)
    return await acampaign_out(campaign)


@router.delete("/campaigns/{campaign_id}", response=responses(204, None, 404, 409), auth=WRITE, tags=["campaigns"])
async def campaign_delete_view(request: HttpRequest, campaign_id: ObjectId) -> Status:
    await sync_to_async(campaign_delete)(user=user_of(request), campaign_id=campaign_id)
    return Status(204, None)


# Launch and cancel ----------------------------------------------------------------------


@router.post(
    "/campaigns/{campaign_id}/launch",
    response=responses(202, CampaignOut, 402, 404, 409),
    auth=LAUNCH,
    tags=["campaigns"],
)
async def campaign_launch_view(request: HttpRequest, campaign_id: ObjectId) -> Status:
    """Queue every cell and start generating; 402 when a spending quota that applies has nothing left."""
    campaign = await _campaign(request, campaign_id)
    token = _token(request)
    launched = await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=user_of(request), token=token)
    return Status(202, await acampaign_out(launched))


@router.post(
    "/campaigns/{campaign_id}/cancel", response=responses(200, CampaignOut, 404, 409), auth=LAUNCH, tags=["campaigns"]
)
async def campaign_cancel_view(request: HttpRequest, campaign_id: ObjectId) -> dict[str, Any]:
    campaign = await _campaign(request, campaign_id)
    cancelled = await sync_to_async(campaign_cancel)(campaign_id=campaign.id, actor=user_of(request), token=_token(request))
    return await acampaign_out(cancelled)


# Generations, estimates, export ---------------------------------------------------------


@router.get(
    "/campaigns/{campaign_id}/generations",
    response=responses(200, PageOut[GenerationOut], 404),
    tags=["campaigns", "generations"],
)
async def generation_list(
    request: HttpRequest, campaign_id: ObjectId, filters: Query[GenerationFilters]
) -> dict[str, Any]:
    campaign = await _campaign(request, campaign_id)
    return await apage(filter_generations(campaign.generations.all(), filters), filters)


@router.get(
    "/campaigns/{campaign_id}/estimate", response=responses(200, EstimateOut, 404), tags=["campaigns", "estimates"]
)
async def campaign_estimate_view(request: HttpRequest, campaign_id: ObjectId) -> dict[str, Any]:
    campaign = await _campaign(request, campaign_id)
    return await sync_to_async(campaign_estimate)(campaign=campaign)


@router.post("/estimate", response=responses(200, EstimateOut), tags=["estimates"])
async def estimate(request: HttpRequest, payload: EstimateIn) -> dict[str, Any]:
    """The cost of a campaign before creating it: the body of ``POST /campaigns`` without name and budget."""
    return await sync_to_async(matrix_estimate)(**payload.dict())


@router.get(
    "/campaigns/{campaign_id}/export",
    response=responses(200, ExportOut, 404),
    tags=["campaigns", "generations"],
    openapi_extra={"responses": EXPORT_RESPONSES},
)
async def campaign_export(request: HttpRequest, campaign_id: ObjectId, params: Query[ExportParams]) -> HttpResponse:
    """Download the copy as CSV, JSON or xlsx; ``text`` is the final (edited) text, ``original_text`` the model's."""
    campaign = await _campaign(request, campaign_id)
    rows = await sync_to_async(export_rows)(campaign=campaign, approved_only=params.approved_only)
    if params.format == "csv":
        body = export_csv(rows)
    elif params.format == "json":
        body = export_json(rows, campaign=campaign)
    else:
        body = await sync_to_async(export_xlsx)(rows, campaign=campaign)
    response = HttpResponse(body, content_type=CONTENT_TYPES[params.format])
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.id}.{params.format}"'
    return response
