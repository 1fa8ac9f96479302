"""Provider services: testing a connection."""

from __future__ import annotations

from asgiref.sync import async_to_sync

from campaigns.models import Provider
from campaigns.providers import make_http_client
from campaigns.providers.probe import ProbeResult, probe_provider

__all__ = ["provider_test_connection", "provider_test_connection_async"]


async def provider_test_connection_async(provider: Provider) -> ProbeResult:
    async with make_http_client(max_connections=4, transport="httpx") as client:
        return await probe_provider(
            client, name=provider.name, base_url=provider.base_url, api_key=provider.api_key or "",
            timeout=min(provider.timeout, 15.0),
        )


def provider_test_connection(provider: Provider) -> ProbeResult:
    return async_to_sync(provider_test_connection_async)(provider)
