"""Registering models: prices filled from the catalog when left empty, and where they came from."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from campaigns.models import LLMModel, Provider
from campaigns.services.errors import InvalidInput, full_clean_or_invalid
from campaigns.services.price_catalog import PRICE_FIELDS, catalog_lookup, catalog_source, model_price_sync

__all__ = ["llm_model_create", "llm_model_fill", "llm_model_sync_price", "llm_model_update"]

REQUIRED_PRICES = ("input_usd_per_mtok", "output_usd_per_mtok")
REQUEST_OPTIONS = ("token_limit_param", "send_temperature", "include_usage")


def llm_model_fill(model: LLMModel, *, given: set[str]) -> None:
    """On creation: fill the prices left empty (and request options not ``given``) from the
    catalog, or refuse a model without prices that the catalog does not know."""
    empty = [f for f in PRICE_FIELDS if getattr(model, f) is None]
    provider = Provider.objects.filter(id=model.provider_id).first()
    entry = catalog_lookup(kind=provider.kind, name=model.name) if provider is not None and empty else None
    if entry is not None:
        for name in empty:
            setattr(model, name, entry.prices[name])
        for name, value in entry.request.items():
            if name not in given:
                setattr(model, name, value)
    missing = [f for f in REQUIRED_PRICES if getattr(model, f) is None]
    if missing:
        kind = provider.kind if provider is not None else "?"
        raise InvalidInput(
            missing[0],
            f"{missing[0]}: the price catalog has no price for '{model.name}' at a provider of kind '{kind}'; "
            "set the prices",
        )
    filled = entry is not None and all(f in empty for f in REQUIRED_PRICES)
    model.price_source = catalog_source() if filled else "manual"
    model.price_updated_at = timezone.now()


def _set(model: LLMModel, data: dict[str, Any]) -> None:
    for name, value in data.items():
        setattr(model, name, value)


@transaction.atomic
def llm_model_create(*, data: dict[str, Any]) -> LLMModel:
    """A new model from ``data`` (request options left out or None take their defaults)."""
    given = {k for k, v in data.items() if v is not None}
    model = LLMModel()
    _set(model, {k: v for k, v in data.items() if v is not None or k in PRICE_FIELDS or k == "fallback_id"})
    llm_model_fill(model, given=given)
    full_clean_or_invalid(model)
    model.save()
    return model


@transaction.atomic
def llm_model_update(*, model: LLMModel, data: dict[str, Any]) -> LLMModel:
    """Change ``model``; a changed price makes its prices manual, set now. Running campaigns
    keep the prices they pinned at launch."""
    if any(f in data and data[f] != getattr(model, f) for f in PRICE_FIELDS):
        model.price_source = "manual"
        model.price_updated_at = timezone.now()
    missing = [f for f in REQUIRED_PRICES if f in data and data[f] is None]
    if missing:
        raise InvalidInput(missing[0], f"{missing[0]}: a model keeps its input and output prices")
    _set(model, data)
    full_clean_or_invalid(model)
    model.save()
    return model


@transaction.atomic
def llm_model_sync_price(*, model: LLMModel) -> LLMModel:
    """Set ``model``'s prices from the catalog; refused (naming the model) if it does not know it."""
    model = LLMModel.objects.select_related("provider").get(id=model.id)
    if model_price_sync(model, apply=True) is None:
        raise InvalidInput(
            "name",
            f"name: the price catalog has no price for '{model.name}' at a provider of kind '{model.provider.kind}'",
        )
    return model
