"""Provider services: saving one (its key bound to its host), what readers see of it, testing a connection."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from asgiref.sync import async_to_sync
from django.db import transaction

from campaigns.models import Provider
from campaigns.providers import make_http_client
from campaigns.providers.probe import ProbeResult, probe_provider
from campaigns.services.errors import InvalidInput, full_clean_or_invalid

__all__ = [
    "provider_key_needed",
    "provider_save",
    "provider_test_connection",
    "provider_test_connection_async",
    "url_host",
    "url_redacted",
]

DEFAULT_PORTS = {"http": 80, "https": 443}


def url_host(url: str) -> str:
    """Where ``url`` sends requests, as ``scheme://host:port`` (the port always given; no user-info)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def url_redacted(url: str) -> str:
    """``url`` without user-info, query or fragment: what a reader without the ``admin`` scope sees."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def provider_key_needed(*, provider_id: int | None, base_url: str) -> str | None:
    """Why the key must be sent again to point provider ``provider_id`` at ``base_url``, or None.

    A stored key was given for the host it was entered with: moving the provider to another
    scheme, host or port must not send it there. Only a provider that holds a key is concerned.
    """
    if provider_id is None:
        return None
    stored = Provider.objects.filter(pk=provider_id).first()
    if stored is None or not stored.api_key or url_host(stored.base_url) == url_host(base_url):
        return None
    return (
        f"api_key: base_url moves the provider from {url_host(stored.base_url)} to {url_host(base_url)}; "
        "send the API key for the new host again (an empty string for none)"
    )


@transaction.atomic
def provider_save(*, provider: Provider, changes: dict[str, Any]) -> Provider:
    """Create or change ``provider`` with ``changes``: every field validated, the key stored encrypted.

    Changing where ``base_url`` points (scheme, host or port) without sending ``api_key`` is
    refused, naming ``api_key``; a sent ``api_key`` replaces the key ("" removes it).
    """
    changes = dict(changes)
    key_sent = "api_key" in changes
    if key_sent:
        provider.set_api_key(changes.pop("api_key"))
    for name, value in changes.items():
        setattr(provider, name, value)
    full_clean_or_invalid(provider)
    if not key_sent:
        reason = provider_key_needed(provider_id=provider.pk, base_url=provider.base_url)
        if reason:
            raise InvalidInput("api_key", reason)
    provider.save()
    return provider


async def provider_test_connection_async(provider: Provider) -> ProbeResult:
    async with make_http_client(max_connections=4, transport="httpx") as client:
        return await probe_provider(
            client, name=provider.name, base_url=provider.base_url, api_key=provider.api_key or "",
            timeout=min(provider.timeout, 15.0),
        )


def provider_test_connection(provider: Provider) -> ProbeResult:
    return async_to_sync(provider_test_connection_async)(provider)
