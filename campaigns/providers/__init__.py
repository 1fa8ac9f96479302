"""Clients for LLM providers (OpenAI-compatible HTTP, Triton gRPC). No Django imports: plain dataclasses in, plain results out."""

from campaigns.providers.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamError,
)
from campaigns.providers.openai_compatible import ChatRequest, Completion, Usage, make_http_client, stream_chat

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ChatRequest",
    "Completion",
    "ProviderError",
    "RateLimitError",
    "ServerError",
    "StreamError",
    "Usage",
    "make_http_client",
    "stream_chat",
]
