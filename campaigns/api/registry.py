"""Providers and models: readable by everyone, registered and changed by staff with ``admin``."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Query, Status

from campaigns.api.auth import READ, STAFF_ADMIN, is_staff_admin
from campaigns.api.common import ApiRouter, adelete_or_404, aget_or_404, asearch_page, links, responses
from campaigns.models import LLMModel, Provider
from campaigns.schemas import (
    LLMModelFilters,
    LLMModelIn,
    LLMModelOut,
    LLMModelPatch,
    ObjectId,
    PageOut,
    ProviderFilters,
    ProviderIn,
    ProviderOut,
    ProviderPatch,
    ProviderTestOut,
)
from campaigns.services.errors import InvalidInput
from campaigns.services.llm_models import llm_model_create, llm_model_sync_price, llm_model_update
from campaigns.services.providers import provider_save, provider_test_connection_async

__all__ = ["router"]

router = ApiRouter(auth=READ)


# Providers ------------------------------------------------------------------------------


asave_provider = sync_to_async(provider_save)


@router.get("/providers", response=responses(200, PageOut[ProviderOut]), tags=["providers"])
async def provider_list(request: HttpRequest, filters: Query[ProviderFilters]) -> dict[str, Any]:
    # Only those who see the whole base URL may search it (no guessing what others don't see).
    fields = ("name", "base_url") if is_staff_admin(request) else ("name",)
    return await asearch_page(Provider.objects.all(), filters, *fields)


@router.post(
    "/providers",
    response=responses(201, ProviderOut),
    auth=STAFF_ADMIN,
    tags=["providers"],
    openapi_extra=links(201, "provider_id", "provider_detail", "provider_update", "provider_delete"),
)
async def provider_create(request: HttpRequest, payload: ProviderIn) -> Status:
    return Status(201, await asave_provider(provider=Provider(), changes=payload.dict()))


@router.get("/providers/{provider_id}", response=responses(200, ProviderOut, 404), tags=["providers"])
async def provider_detail(request: HttpRequest, provider_id: ObjectId) -> Provider:
    return await aget_or_404(Provider.objects.all(), provider_id, "provider")


@router.patch(
    "/providers/{provider_id}", response=responses(200, ProviderOut, 404), auth=STAFF_ADMIN, tags=["providers"]
)
async def provider_update(request: HttpRequest, provider_id: ObjectId, payload: ProviderPatch) -> Provider:
    """Change a provider; pointing ``base_url`` at another scheme, host or port needs ``api_key`` again (422)."""
    provider = await aget_or_404(Provider.objects.all(), provider_id, "provider")
    return await asave_provider(provider=provider, changes=payload.dict(exclude_unset=True))


@router.post(
    "/providers/{provider_id}/test",
    response=responses(200, ProviderTestOut, 404),
    auth=STAFF_ADMIN,
    tags=["providers"],
)
async def provider_test(request: HttpRequest, provider_id: ObjectId) -> dict[str, Any]:
    """Check the key against the provider (lists its models): ok, invalid key, unreachable, rate limited."""
    provider = await aget_or_404(Provider.objects.all(), provider_id, "provider")
    result = await provider_test_connection_async(provider)
    return {
        "status": result.status,
        "detail": result.detail,
        "latency_ms": result.latency_ms,
        "models": list(result.models),
    }


@router.delete(
    "/providers/{provider_id}", response=responses(204, None, 404, 409), auth=STAFF_ADMIN, tags=["providers"]
)
async def provider_delete(request: HttpRequest, provider_id: ObjectId) -> Status:
    return await adelete_or_404(Provider.objects.all(), provider_id, "provider")


# Models ---------------------------------------------------------------------------------


async def _check_references(data: dict[str, Any], model_id: int | None = None) -> None:
    provider_id = data.get("provider_id")
    if provider_id is not None and not await Provider.objects.filter(id=provider_id).aexists():
        raise InvalidInput("provider_id", f"provider_id: no such provider {provider_id}")
    fallback_id = data.get("fallback_id")
    if fallback_id is not None:
        if fallback_id == model_id:
            raise InvalidInput("fallback_id", "fallback_id: a model cannot be its own fallback")
        if not await LLMModel.objects.filter(id=fallback_id).aexists():
            raise InvalidInput("fallback_id", f"fallback_id: no such model {fallback_id}")


@router.get("/models", response=responses(200, PageOut[LLMModelOut]), tags=["models"])
async def model_list(request: HttpRequest, filters: Query[LLMModelFilters]) -> dict[str, Any]:
    models = LLMModel.objects.all()
    if filters.provider_id is not None:
        models = models.filter(provider_id=filters.provider_id)
    if filters.is_active is not None:
        models = models.filter(is_active=filters.is_active)
    return await asearch_page(models, filters, "name", "label")


@router.post(
    "/models",
    response=responses(201, LLMModelOut),
    auth=STAFF_ADMIN,
    tags=["models"],
    openapi_extra=links(201, "model_id", "model_detail", "model_update", "model_delete"),
)
async def model_create(request: HttpRequest, payload: LLMModelIn) -> Status:
    """Prices left out are filled from the price catalog (for the provider's kind); an unknown model needs them."""
    data = payload.dict()
    await _check_references(data)
    return Status(201, await sync_to_async(llm_model_create)(data=data))


@router.get("/models/{model_id}", response=responses(200, LLMModelOut, 404), tags=["models"])
async def model_detail(request: HttpRequest, model_id: ObjectId) -> LLMModel:
    return await aget_or_404(LLMModel.objects.all(), model_id, "model")


@router.patch("/models/{model_id}", response=responses(200, LLMModelOut, 404), auth=STAFF_ADMIN, tags=["models"])
async def model_update(request: HttpRequest, model_id: ObjectId, payload: LLMModelPatch) -> LLMModel:
    model = await aget_or_404(LLMModel.objects.all(), model_id, "model")
    data = payload.dict(exclude_unset=True)
    await _check_references(data, model_id)
    return await sync_to_async(llm_model_update)(model=model, data=data)


@router.post(
    "/models/{model_id}/sync-price",
    response=responses(200, LLMModelOut, 404),
    auth=STAFF_ADMIN,
    tags=["models"],
)
async def model_sync_price(request: HttpRequest, model_id: ObjectId) -> LLMModel:
    """Set the model's prices from the built-in price catalog (422 if it does not know the model).
    Campaigns already launched keep the prices they pinned."""
    model = await aget_or_404(LLMModel.objects.all(), model_id, "model")
    return await sync_to_async(llm_model_sync_price)(model=model)


@router.delete("/models/{model_id}", response=responses(204, None, 404, 409), auth=STAFF_ADMIN, tags=["models"])
async def model_delete(request: HttpRequest, model_id: ObjectId) -> Status:
    return await adelete_or_404(LLMModel.objects.all(), model_id, "model")
