"""Errors raised by provider clients.

Exception hierarchy::

    ProviderError
    ├── APIStatusError             the provider answered with an HTTP (or gRPC) error status
    │   ├── BadRequestError        400, 404, 413, 422 … (never retried)
    │   ├── AuthenticationError    401, 403 (never retried)
    │   ├── RateLimitError         429 (retried, honouring retry-after)
    │   └── ServerError            408, 409, 5xx (retried)
    ├── InvalidKeyError            the stored API key cannot be sent in a header (never retried)
    ├── APIConnectionError         the request did not get an answer (retried)
    │   └── APITimeoutError        connect/read timeout or the attempt's deadline
    └── StreamError                the stream was malformed or ended before [DONE]

Every error carries the provider's name and, for streams, the partial text received.
"""

from __future__ import annotations

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "InvalidKeyError",
    "ProviderError",
    "RateLimitError",
    "ServerError",
    "StreamError",
    "status_error",
]


class ProviderError(Exception):
    """Base class: something went wrong talking to a provider."""

    retryable: bool = False

    def __init__(self, message: str, *, provider: str = "", partial_text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.partial_text = partial_text

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}" if self.provider else self.message


class APIStatusError(ProviderError):
    """The provider answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        provider: str = "",
        retry_after: float | None = None,
        grpc_code: str = "",
    ) -> None:
        super().__init__(message, provider=provider)
        self.status_code = status_code
        self.retry_after = retry_after
        self.grpc_code = grpc_code
        """The gRPC status name (``UNAVAILABLE`` …) when a gRPC server answered; ``status_code`` is then
        its HTTP equivalent, so attempts, rate-limit counts and the retry policy read one field."""

    def __str__(self) -> str:
        prefix = f"{self.provider}: " if self.provider else ""
        status = f"gRPC {self.grpc_code}" if self.grpc_code else f"HTTP {self.status_code}"
        return f"{prefix}{status}: {self.message}"


class BadRequestError(APIStatusError):
    """The request itself is wrong (context too long, unknown model …): retrying cannot help."""


class AuthenticationError(APIStatusError):
    """The API key was refused."""


class RateLimitError(APIStatusError):
    retryable = True


class ServerError(APIStatusError):
    retryable = True


class InvalidKeyError(ProviderError):
    """The API key holds characters an HTTP header cannot carry: no request was sent."""


class APIConnectionError(ProviderError):
    retryable = True


class APITimeoutError(APIConnectionError):
    """A connect/read timeout, or the attempt outlived its wall-clock deadline."""


class StreamError(ProviderError):
    """The event stream was malformed, carried an error, or ended before ``[DONE]``."""


def status_error(
    status_code: int, message: str, *, provider: str, retry_after: float | None, grpc_code: str = ""
) -> APIStatusError:
    """The error class for an HTTP status, following openai-python's retry policy."""
    cls: type[APIStatusError]
    if status_code == 429:
        cls = RateLimitError
    elif status_code in (408, 409) or status_code >= 500:
        cls = ServerError
    elif status_code in (401, 403):
        cls = AuthenticationError
    else:
        cls = BadRequestError
    return cls(message, status_code=status_code, provider=provider, retry_after=retry_after, grpc_code=grpc_code)
