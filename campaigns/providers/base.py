"""The seam between the engine and the ways of calling a model.

A :class:`Provider` sends one attempt of a :class:`ChatRequest`, reports each text delta
through a callback and returns the :class:`Completion`, or raises a
:class:`~campaigns.providers.errors.ProviderError`. Two implementations:

- :class:`OpenAICompatible`: OpenAI-compatible chat completions over HTTP + SSE (httpx);
- :class:`~campaigns.providers.triton_grpc.TritonGrpc`: Triton / KServe v2
  ``ModelStreamInfer`` over gRPC, for the requests that carry a :class:`TritonEndpoint`.

The engine picks one by the provider's protocol (:data:`PROTOCOLS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx

    from campaigns.providers.openai_compatible import ChatRequest, Completion

__all__ = [
    "OPENAI",
    "PRESETS",
    "PROMPT_FORMAT_NAMES",
    "PROTOCOLS",
    "TARGET_PATTERN",
    "TRITON_GRPC",
    "OpenAICompatible",
    "Provider",
    "TritonEndpoint",
]

OPENAI = "openai"
TRITON_GRPC = "triton-grpc"
PROTOCOLS = (OPENAI, TRITON_GRPC)
"""How a provider is called: OpenAI-compatible HTTP, or Triton's gRPC inference service."""

PRESETS = ("vllm", "tensorrt_llm")
"""The tensor layouts of Triton's LLM backends: the vLLM backend, the TensorRT-LLM ensemble."""

PROMPT_FORMAT_NAMES = ("chatml", "llama3", "plain")
"""How chat messages become a raw prompt (see :mod:`campaigns.providers.prompt_formats`)."""

TARGET_PATTERN = r"^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):[0-9]{1,5}$"
"""A gRPC target as ``host:port`` (a name, an IPv4 address or a bracketed IPv6 one); the
model's validator and the API schema both use it."""


@dataclass(frozen=True)
class TritonEndpoint:
    """Where and how a Triton-served model is called (the request's ``model`` is the Triton model name)."""

    target: str
    """``host:port`` of the gRPC server."""
    tls: bool = False
    ca_bundle: str = ""
    """PEM certificates to trust instead of the system roots (TLS only)."""
    preset: str = "vllm"
    prompt_format: str = "chatml"


class Provider(Protocol):
    """One way of calling a model. Implementations hold their connections and are reused."""

    async def stream_chat(self, request: ChatRequest, *, on_delta: Callable[[str], None]) -> Completion:
        """Send one attempt; call ``on_delta`` with each piece of text as it arrives.

        Raises a :class:`~campaigns.providers.errors.ProviderError`; errors after text
        arrived carry that partial text. Cancelling the awaiting task closes the stream.
        """
        ...

    async def aclose(self) -> None:
        """Close the connections this provider holds."""
        ...


@dataclass(frozen=True)
class OpenAICompatible:
    """OpenAI-compatible chat completions, streamed over HTTP with a shared httpx client."""

    client: httpx.AsyncClient

    async def stream_chat(self, request: ChatRequest, *, on_delta: Callable[[str], None]) -> Completion:
        from campaigns.providers.openai_compatible import stream_chat

        return await stream_chat(self.client, request, on_delta=on_delta)

    async def aclose(self) -> None:
        await self.client.aclose()
