"""Provider services: saving one (its key bound to its endpoint), the fields of each protocol, what readers
see of it, testing a connection."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from asgiref.sync import async_to_sync
from django.db import transaction

from campaigns.models import LLMModel, Provider
from campaigns.providers import make_http_client
from campaigns.providers.base import TRITON_GRPC, TritonEndpoint
from campaigns.providers.probe import ProbeResult, probe_provider, probe_triton
from campaigns.services.errors import InvalidInput, full_clean_or_invalid

__all__ = [
    "model_protocol_fields",
    "provider_endpoint",
    "provider_key_needed",
    "provider_protocol_fields",
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


def provider_endpoint(*, protocol: str, base_url: str = "", target: str = "", tls: bool = False) -> str:
    """Where a provider's requests (and its key) go: ``scheme://host:port``, or ``grpc[s]://host:port``."""
    if protocol == TRITON_GRPC:
        return f"{'grpcs' if tls else 'grpc'}://{target.lower()}"
    return url_host(base_url)


def provider_key_needed(
    *, provider_id: int | None, base_url: str, protocol: str = "openai", target: str = "", tls: bool = False
) -> str | None:
    """Why the key must be sent again to point provider ``provider_id`` at a new endpoint, or None.

    A stored key was given for the endpoint it was entered with: moving the provider to another
    scheme, host or port (or gRPC target, TLS or protocol) must not send it there. Only a provider
    that holds a key is concerned.
    """
    if provider_id is None:
        return None
    stored = Provider.objects.filter(pk=provider_id).first()
    if stored is None or not stored.api_key:
        return None
    before = provider_endpoint(protocol=stored.protocol, base_url=stored.base_url, target=stored.target, tls=stored.tls)
    after = provider_endpoint(protocol=protocol, base_url=base_url, target=target, tls=tls)
    if before == after:
        return None
    field = "base_url" if protocol == stored.protocol == "openai" else "the endpoint"
    return (
        f"api_key: {field} moves the provider from {before} to {after}; "
        "send the API key for the new host again (an empty string for none)"
    )


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


@transaction.atomic
def provider_save(*, provider: Provider, changes: dict[str, Any]) -> Provider:
    """Create or change ``provider`` with ``changes``: every field validated, the key stored encrypted.

    Changing where ``base_url`` points (scheme, host or port), or a gRPC provider's protocol,
    target or TLS, without sending ``api_key`` is refused, naming ``api_key``; a sent ``api_key``
    replaces the key ("" removes it). Switching ``protocol`` clears the other protocol's fields.
    """
    changes = provider_protocol_fields(dict(changes), provider)
    key_sent = "api_key" in changes
    if key_sent:
        provider.set_api_key(changes.pop("api_key"))
    for name, value in changes.items():
        setattr(provider, name, value)
    full_clean_or_invalid(provider)
    if not key_sent:
        reason = provider_key_needed(
            provider_id=provider.pk, base_url=provider.base_url, protocol=provider.protocol, target=provider.target,
            tls=provider.tls,
        )
        if reason:
            raise InvalidInput("api_key", reason)
    provider.save()
    return provider


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
