"""Reviewing generated copy: rate it, approve it, edit it (the generated text is kept)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from campaigns.models import Generation
from campaigns.services.errors import CampaignStateError, InvalidInput, NotFound
from campaigns.services.selectors import campaigns_visible_to

__all__ = ["UNCHANGED", "generation_review", "generations_visible_to"]

UNCHANGED: Any = object()
"""The default of a review field that is not being changed."""

REVIEWABLE = {Generation.Status.SUCCEEDED, Generation.Status.FAILED, Generation.Status.CANCELLED}


def generations_visible_to(user: Any) -> QuerySet[Generation]:
    """The generations of the campaigns ``user`` may see."""
    return Generation.objects.filter(campaign__in=campaigns_visible_to(user))


@transaction.atomic
def generation_review(
    *,
    user: Any,
    generation_id: int,
    rating: int | None = UNCHANGED,
    approved: bool = UNCHANGED,
    edited_text: str = UNCHANGED,
) -> Generation:
    """Apply a reviewer's rating (1-5, None clears), approval and edit ("" clears) to a finished cell."""
    if not generations_visible_to(user).filter(id=generation_id).exists():
        raise NotFound(f"generation {generation_id} not found")
    generation = Generation.objects.select_for_update().get(id=generation_id)
    if generation.status not in REVIEWABLE:
        raise CampaignStateError(f"generation {generation_id} is {generation.status}; review it once it has finished")
    if rating is not UNCHANGED:
        if rating is not None and not 1 <= rating <= 5:
            raise InvalidInput("rating", "rating: must be between 1 and 5")
        generation.rating = rating
    if approved is not UNCHANGED and approved != generation.approved:
        generation.approved = approved
        generation.approved_at = timezone.now() if approved else None
    if edited_text is not UNCHANGED:
        generation.edited_text = "" if edited_text == generation.text else edited_text
    generation.save(update_fields=["rating", "approved", "approved_at", "edited_text"])
    return generation
