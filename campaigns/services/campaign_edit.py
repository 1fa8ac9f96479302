"""Changing and deleting campaigns.

Name and budget may change at any time (the engine reads the budget under a lock
before every reservation, so a lowered budget only stops new calls). The matrix --
products, templates, models, variants, languages, max_tokens, temperature -- is pinned
at launch: it changes only while the campaign is a draft.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction

from campaigns.models import Campaign, LLMModel, Product, PromptTemplate
from campaigns.services.errors import CampaignStateError, NotFound, full_clean_or_invalid
from campaigns.services.launch import (
    languages_clean,
    matrix_check,
    models_active,
    objects_by_ids,
    template_version_current,
)
from campaigns.services.matrix import Matrix
from campaigns.services.selectors import campaigns_visible_to

__all__ = ["ALWAYS_EDITABLE", "campaign_delete", "campaign_update"]

ALWAYS_EDITABLE = frozenset({"name", "budget_usd"})
SCALARS = ("name", "budget_usd", "variants", "languages", "max_tokens", "temperature", "rewrites")
RELATIONS: dict[str, tuple[str, type[Any]]] = {
    "product_ids": ("products", Product),
    "template_ids": ("templates", PromptTemplate),
    "model_ids": ("llm_models", LLMModel),
}


def _locked(user: Any, campaign_id: int) -> Campaign:
    """The campaign, if ``user`` may see it, locked for this transaction."""
    if not campaigns_visible_to(user).filter(id=campaign_id).exists():
        raise NotFound(f"campaign {campaign_id} not found")
    return Campaign.objects.select_for_update().get(id=campaign_id)


def _related(field: str, model: type[Any], ids: Sequence[int]) -> list[Any]:
    """The objects ``ids`` name (as ``campaign_create`` checks them: all exist, models active)."""
    objects = objects_by_ids(model, ids, field)
    if model is LLMModel:
        models_active(objects, field)
    return objects


def _check_cells(campaign: Campaign, related: dict[str, list[Any]], changed: set[str]) -> None:
    """The matrix as edited must fit; over the limit, the error names the changed field that grew it."""
    counts = {
        f: len(related[f]) if f in related else getattr(campaign, name).count() for f, (name, _) in RELATIONS.items()
    }
    matrix = Matrix.counted(
        products=counts["product_ids"], templates=counts["template_ids"], models=counts["model_ids"],
        variants=campaign.variants, languages=len(campaign.languages or []),
    )
    matrix_check(matrix, changed=changed)


@transaction.atomic
def campaign_update(*, user: Any, campaign_id: int, **changes: Any) -> Campaign:
    """Apply ``changes`` (CampaignPatch's fields) to a campaign ``user`` may see."""
    campaign = _locked(user, campaign_id)
    pinned = sorted(set(changes) - ALWAYS_EDITABLE)
    if pinned and campaign.status != Campaign.Status.DRAFT:
        raise CampaignStateError(
            f"campaign '{campaign.name}' is {campaign.status}; {', '.join(pinned)} can change only in a draft"
        )
    if "languages" in changes:
        changes["languages"] = languages_clean(changes["languages"])
    if "budget_usd" in changes:
        changes["budget_usd"] = Decimal(changes["budget_usd"])
    for name in SCALARS:
        if name in changes:
            setattr(campaign, name, changes[name])
    related = {f: _related(f, model, changes[f]) for f, (_, model) in RELATIONS.items() if f in changes}
    _check_cells(campaign, related, set(changes))
    full_clean_or_invalid(campaign, exclude=["owner"])
    campaign.save()
    for f, objects in related.items():
        getattr(campaign, RELATIONS[f][0]).set(objects)
    if "template_ids" in related:  # pin the texts of the new templates, as campaign_create does
        campaign.template_versions.set([template_version_current(t) for t in related["template_ids"]])
    return campaign


@transaction.atomic
def campaign_delete(*, user: Any, campaign_id: int) -> None:
    """Delete a campaign and its generations; a running one must be cancelled first."""
    campaign = _locked(user, campaign_id)
    if campaign.status == Campaign.Status.RUNNING:
        raise CampaignStateError(f"campaign '{campaign.name}' is running; cancel it before deleting it")
    campaign.delete()
