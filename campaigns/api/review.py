"""Generations across campaigns: list, read (with every provider attempt) and review."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Query

from campaigns.api.auth import READ, WRITE
from campaigns.api.campaigns import filter_generations
from campaigns.api.common import ApiRouter, aget_or_404, apage, responses, user_of
from campaigns.models import Generation, Prompt
from campaigns.schemas import (
    AllGenerationFilters,
    GenerationDetailOut,
    GenerationOut,
    GenerationPatch,
    ObjectId,
    PageOut,
)
from campaigns.services.review import generation_review, generations_visible_to

__all__ = ["router"]

router = ApiRouter(auth=READ)


async def _detail(generation: Generation) -> Generation:
    generation.attempt_log = [a async for a in generation.attempt_set.order_by("number")]  # type: ignore[attr-defined]
    generation.messages = (await Prompt.objects.aget(id=generation.prompt_id)).messages  # type: ignore[attr-defined]
    return generation


@router.get("/generations", response=responses(200, PageOut[GenerationOut]), tags=["generations"])
async def generation_list_all(request: HttpRequest, filters: Query[AllGenerationFilters]) -> dict[str, Any]:
    generations = generations_visible_to(user_of(request))
    if filters.campaign_id is not None:
        generations = generations.filter(campaign_id=filters.campaign_id)
    return await apage(filter_generations(generations, filters), filters)


@router.get("/generations/{generation_id}", response=responses(200, GenerationDetailOut, 404), tags=["generations"])
async def generation_detail(request: HttpRequest, generation_id: ObjectId) -> Generation:
    generation = await aget_or_404(generations_visible_to(user_of(request)), generation_id, "generation")
    return await _detail(generation)


@router.patch(
    "/generations/{generation_id}",
    response=responses(200, GenerationDetailOut, 404, 409),
    auth=WRITE,
    tags=["generations"],
)
async def generation_review_view(request: HttpRequest, generation_id: ObjectId, payload: GenerationPatch) -> Generation:
    """Rate (1-5, null clears), approve or unapprove, edit the text ("" restores the original)."""
    changes = payload.dict(exclude_unset=True)
    generation = await sync_to_async(generation_review)(user=user_of(request), generation_id=generation_id, **changes)
    return await _detail(generation)
