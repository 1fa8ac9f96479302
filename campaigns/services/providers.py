"""Provider services: testing a connection, the fields of each protocol."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from campaigns.models import LLMModel, Provider
from campaigns.providers import make_http_client
from campaigns.providers.base import TRITON_GRPC, TritonEndpoint
from campaigns.providers.probe import ProbeResult, probe_provider, probe_triton

__all__ = ["model_protocol_fields", "provider_protocol_fields", "provider_test_connection", "provider_test_connection_async"]

OPENAI_FIELDS = {"base_url": ""}
GRPC_FIELDS = {"target": "", "tls": False, "ca_bundle": ""}


def provider_protocol_fields(data: dict[str, Any], provider: Provider) -> dict[str, Any]:
    """``data`` with the other protocol's fields emptied when ``protocol`` changes (unless sent too).

    Switching a provider to triton-grpc drops its base_url; back to openai drops target, tls
    and the CA bundle. What remains is checked by the model (a 4xx naming the field).
    """
    protocol = data.get("protocol")
    if protocol is None or protocol == provider.protocol:
        return data
    dropped = OPENAI_FIELDS if protocol == TRITON_GRPC else GRPC_FIELDS
    return {**dropped, **data}


def model_protocol_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The API's null preset / prompt format is the column's empty string (not a gRPC model)."""
    return {k: ("" if k in ("preset", "prompt_format") and v is None else v) for k, v in data.items()}



async def provider_test_connection_async(provider: Provider) -> ProbeResult:
    if provider.protocol == TRITON_GRPC:
        models = [(m.name, m.preset or "vllm") async for m in LLMModel.objects.filter(provider=provider, is_active=True)]
        endpoint = TritonEndpoint(target=provider.target, tls=provider.tls, ca_bundle=provider.ca_bundle)
        return await probe_triton(
            endpoint, name=provider.name, api_key=provider.api_key or "", models=models,
            timeout=min(provider.timeout, 15.0),
        )
    async with make_http_client(max_connections=4, transport="httpx") as client:
        return await probe_provider(
            client, name=provider.name, base_url=provider.base_url, api_key=provider.api_key or "",
            timeout=min(provider.timeout, 15.0),
        )


def provider_test_connection(provider: Provider) -> ProbeResult:
    return async_to_sync(provider_test_connection_async)(provider)
