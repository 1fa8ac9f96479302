"""Checking a provider's key and reachability: the "Test connection" of the admin and the API."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from campaigns.providers.errors import APIStatusError, InvalidKeyError, ProviderError, status_error
from campaigns.providers.openai_compatible import _error_message, auth_headers, parse_retry_after

__all__ = ["ProbeResult", "probe_provider"]


@dataclass(frozen=True)
class ProbeResult:
    status: str
    """``ok`` | ``invalid_key`` | ``unreachable`` | ``rate_limited`` | ``error``"""
    detail: str
    latency_ms: float | None = None
    models: tuple[str, ...] = ()


async def probe_provider(
    client: httpx.AsyncClient, *, name: str, base_url: str, api_key: str, timeout: float = 10.0
) -> ProbeResult:
    """List the provider's models with its key and say what that tells."""
    started = time.monotonic()
    try:
        headers = auth_headers(api_key, name)
    except InvalidKeyError as exc:
        return ProbeResult("invalid_key", str(exc))
    try:
        response = await client.get(base_url.rstrip("/") + "/models", headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return ProbeResult("unreachable", f"{name}: no answer within {timeout:.0f}s")
    except httpx.HTTPError as exc:
        return ProbeResult("unreachable", f"{name}: {type(exc).__name__}: {exc}")
    latency = round((time.monotonic() - started) * 1000.0, 1)
    if response.status_code >= 400:
        error: ProviderError = status_error(
            response.status_code, _error_message(response.content), provider=name,
            retry_after=parse_retry_after(response.headers),
        )
        return ProbeResult(_status_of(error), str(error), latency)
    try:
        data = response.json()
        models = tuple(str(m["id"]) for m in data.get("data", []) if isinstance(m, dict) and "id" in m)
    except (ValueError, AttributeError, TypeError):
        return ProbeResult("error", f"{name}: /models did not answer with a JSON model list", latency)
    return ProbeResult("ok", f"{name}: key accepted, {len(models)} models listed", latency, models)


def _status_of(error: ProviderError) -> str:
    if isinstance(error, APIStatusError) and error.status_code in (401, 403):
        return "invalid_key"
    if isinstance(error, APIStatusError) and error.status_code == 429:
        return "rate_limited"
    return "error"
