"""Checking a provider's key and reachability: the "Test connection" of the admin and the API.

OpenAI-compatible providers list their models with the key (``GET /models``); Triton gRPC
servers answer ``ServerLive``, then ``ModelReady`` and ``ModelMetadata`` for each model, whose
declared tensors must include the ones its preset sends and reads (what is missing is named).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import httpx
from tritonclient.grpc import service_pb2, service_pb2_grpc

from campaigns.providers.base import TritonEndpoint
from campaigns.providers.errors import APIStatusError, InvalidKeyError, ProviderError, status_error
from campaigns.providers.openai_compatible import _error_message, auth_headers, parse_retry_after
from campaigns.providers.triton_grpc import call_metadata, grpc_error, make_channel, missing_tensors

__all__ = ["ProbeResult", "probe_provider", "probe_triton"]


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


async def probe_triton(
    endpoint: TritonEndpoint, *, name: str, api_key: str, models: Sequence[tuple[str, str]], timeout: float = 10.0
) -> ProbeResult:
    """``ServerLive``, then ``ModelReady`` and ``ModelMetadata`` of each ``(model name, preset)``."""
    started = time.monotonic()
    try:
        metadata = call_metadata(api_key, name)
    except InvalidKeyError as exc:
        return ProbeResult("invalid_key", str(exc))
    channel = make_channel(endpoint)
    try:
        async with asyncio.timeout(timeout):  # one bound for every call of the check
            return await _check_triton(channel, endpoint, name=name, metadata=metadata, models=models,
                                       timeout=timeout, started=started)
    except TimeoutError:
        return ProbeResult("unreachable", f"{name}: {endpoint.target}: no answer within {timeout:.0f}s")
    finally:
        await channel.close()


async def _check_triton(
    channel: grpc.aio.Channel, endpoint: TritonEndpoint, *, name: str, metadata: tuple[tuple[str, str], ...],
    models: Sequence[tuple[str, str]], timeout: float, started: float,
) -> ProbeResult:
    try:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        live = await stub.ServerLive(service_pb2.ServerLiveRequest(), metadata=metadata, timeout=timeout)
        if not live.live:
            return ProbeResult("error", f"{name}: the server at {endpoint.target} is not live", _ms(started))
        problems, ready = [], []
        for model, preset in models:
            answer = await stub.ModelReady(service_pb2.ModelReadyRequest(name=model), metadata=metadata, timeout=timeout)
            if not answer.ready:
                problems.append(f"model {model} is not ready")
                continue
            meta = await stub.ModelMetadata(service_pb2.ModelMetadataRequest(name=model), metadata=metadata, timeout=timeout)
            inputs, outputs = missing_tensors(meta, preset)
            if inputs or outputs:
                missing = [f"inputs {', '.join(inputs)}"] * bool(inputs) + [f"outputs {', '.join(outputs)}"] * bool(outputs)
                problems.append(f"model {model} lacks the {preset} preset's {'; '.join(missing)}")
            else:
                ready.append(model)
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return ProbeResult("unreachable", f"{name}: {endpoint.target}: gRPC {exc.code().name}: {exc.details()}")
        return ProbeResult(_status_of(grpc_error(exc, provider=name)), str(grpc_error(exc, provider=name)), _ms(started))
    if problems:
        return ProbeResult("error", f"{name}: " + "; ".join(problems), _ms(started), tuple(ready))
    return ProbeResult("ok", f"{name}: server live, {len(ready)} models ready with their preset's tensors",
                       _ms(started), tuple(ready))


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000.0, 1)
