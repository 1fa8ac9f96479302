"""Streaming chat completions against OpenAI-compatible endpoints, with httpx.

One shared :class:`httpx.AsyncClient` per process (see :func:`make_http_client`) is
passed to :func:`stream_chat`, which sends one attempt, reports each text delta through
a callback and returns the :class:`Completion`, or raises a
:class:`~campaigns.providers.errors.ProviderError`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
from httpx_sse import EventSource, SSEError

from campaigns.providers.errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidKeyError,
    ProviderError,
    StreamError,
    status_error,
)
from campaigns.providers.usage import Usage, parse_usage

__all__ = [
    "API_KEY_CHARS",
    "RESERVED_BODY_FIELDS",
    "TOKEN_LIMIT_PARAMS",
    "ChatRequest",
    "Completion",
    "Usage",
    "auth_headers",
    "make_http_client",
    "parameter_hint",
    "parse_retry_after",
    "parse_usage",
    "request_body",
    "stream_chat",
]

DEFAULT_CONNECT_TIMEOUT = 10.0
MAX_ERROR_BODY = 2000
TOKEN_LIMIT_PARAMS = ("max_tokens", "max_completion_tokens")
"""The request field that caps the answer: OpenAI's reasoning models refuse ``max_tokens``."""
RESERVED_BODY_FIELDS = frozenset({"model", "messages", "stream"})
"""Fields a model's ``extra_body`` may never set."""


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion attempt."""

    provider: str
    base_url: str
    api_key: str
    model: str
    messages: Sequence[Mapping[str, str]]
    max_tokens: int
    temperature: float
    read_timeout: float = 60.0
    deadline: float | None = None
    """Wall-clock seconds for the whole attempt; read timeouts alone don't stop a dripping stream."""
    token_limit_param: str = "max_tokens"
    """``max_tokens`` | ``max_completion_tokens``"""
    send_temperature: bool = True
    include_usage: bool = True
    """Ask for ``stream_options.include_usage`` (some servers refuse the field)."""
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    """Extra fields merged into the request body; never ``model``, ``messages`` or ``stream``."""


@dataclass
class Completion:
    text: str
    usage: Usage | None
    finish_reason: str = ""
    response_id: str = ""


def make_http_client(*, max_connections: int = 1000, transport: str = "aiohttp") -> httpx.AsyncClient:
    """The process-wide client: explicit pool limits and timeouts, never httpx's defaults.

    ``transport="aiohttp"`` uses httpx-aiohttp (same httpx API, an order of magnitude less
    client CPU per stream under high concurrency than httpcore, see encode/httpx#3215).
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    timeout = httpx.Timeout(connect=DEFAULT_CONNECT_TIMEOUT, read=60.0, write=30.0, pool=30.0)
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), limits=limits, timeout=timeout)
    return httpx.AsyncClient(limits=limits, timeout=timeout)


API_KEY_CHARS = "[!-~]"
"""What an API key may hold: visible ASCII without spaces, all an HTTP header can carry.
The model's validator and the API schema build their patterns from it."""
_SENDABLE_KEY = re.compile(f"{API_KEY_CHARS}*")


def auth_headers(api_key: str, provider: str) -> dict[str, str]:
    """``Authorization: Bearer <key>``, or nothing without a key.

    Raises :class:`InvalidKeyError` for a key an HTTP header cannot carry (only visible
    ASCII can be sent), before any request is made.
    """
    if not api_key:
        return {}
    if not _SENDABLE_KEY.fullmatch(api_key):
        raise InvalidKeyError(
            "the API key holds spaces or characters other than printable ASCII; set the key again",
            provider=provider,
        )
    return {"Authorization": f"Bearer {api_key}"}


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                return None
    return None


def _error_message(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:MAX_ERROR_BODY] or "(empty body)"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail"))
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:MAX_ERROR_BODY]
        if err:
            return str(err)[:MAX_ERROR_BODY]
    return text[:MAX_ERROR_BODY]


def request_body(req: ChatRequest) -> dict[str, Any]:
    """The JSON body of a streaming attempt: the model's extra fields first, then ours on top."""
    body = {k: v for k, v in req.extra_body.items() if k not in RESERVED_BODY_FIELDS}
    body["model"] = req.model
    body["messages"] = [dict(m) for m in req.messages]
    limit_param = req.token_limit_param if req.token_limit_param in TOKEN_LIMIT_PARAMS else "max_tokens"
    for other in TOKEN_LIMIT_PARAMS:
        body.pop(other, None)
    body[limit_param] = req.max_tokens
    if req.send_temperature:
        body["temperature"] = req.temperature
    else:
        body.pop("temperature", None)
    body["stream"] = True
    if req.include_usage:
        body["stream_options"] = {"include_usage": True}
    return body


# What to change when a provider refuses a parameter: (parameter, hint).
_PARAMETER_HINTS = (
    ("max_completion_tokens", "set the model's token_limit_param to max_tokens"),
    ("max_tokens", "set the model's token_limit_param to max_completion_tokens"),
    ("temperature", "turn the model's send_temperature off"),
    ("stream_options", "turn the model's include_usage off"),
    ("include_usage", "turn the model's include_usage off"),
)
_UNSUPPORTED = re.compile(r"unsupported|not supported|unrecognized|unknown|not allowed|invalid|does not support|use ",
                          re.IGNORECASE)


def parameter_hint(message: str, req: ChatRequest) -> str:
    """For a 400 that names a parameter the model refuses: which model setting to change ("" if none)."""
    if not _UNSUPPORTED.search(message):
        return ""
    sent = request_body(req)
    for name in sorted(req.extra_body, key=len, reverse=True):
        if name not in RESERVED_BODY_FIELDS and re.search(rf"\b{re.escape(name)}\b", message):
            return f"remove {name!r} from the model's extra_body"
    for name, hint in _PARAMETER_HINTS:
        # "use max_completion_tokens instead" names both: blame the one we sent.
        if re.search(rf"\b{name}\b", message) and (name in sent or name == "include_usage" and req.include_usage):
            return hint
    return ""


def _parse_usage(data: Mapping[str, Any]) -> Usage | None:
    return parse_usage(data.get("usage"))


class _StreamState:
    def __init__(self, on_delta: Callable[[str], None]) -> None:
        self.on_delta = on_delta
        self.parts: list[str] = []
        self.completion = Completion(text="", usage=None)
        self.done = False

    def feed(self, raw: str, provider: str) -> None:
        if raw.strip() == "[DONE]":
            self.done = True
            return
        try:
            data = orjson.loads(raw)  # every chunk of every stream: a third of the parsing CPU with json
        except ValueError as exc:
            raise StreamError(f"malformed event data: {raw[:200]!r}", provider=provider) from exc
        if not isinstance(data, dict):
            raise StreamError(f"malformed event data: {raw[:200]!r}", provider=provider)
        if data.get("error"):
            raise StreamError(f"error in stream: {_error_message(raw.encode())}", provider=provider)
        self.completion.response_id = self.completion.response_id or str(data.get("id") or "")
        usage = _parse_usage(data)
        if usage is not None:
            self.completion.usage = usage
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if content:
                self.parts.append(content)
                self.on_delta(content)
            if choice.get("finish_reason"):
                self.completion.finish_reason = str(choice["finish_reason"])

    @property
    def text(self) -> str:
        return "".join(self.parts)


async def stream_chat(
    client: httpx.AsyncClient,
    req: ChatRequest,
    *,
    on_delta: Callable[[str], None],
) -> Completion:
    """Send one streaming attempt; call ``on_delta`` with each piece of text as it arrives.

    Raises a :class:`ProviderError`; a :class:`StreamError` or timeout carries the
    partial text received so far.
    """
    state = _StreamState(on_delta)
    url = req.base_url.rstrip("/") + "/chat/completions"
    headers = {"Accept": "text/event-stream", "Content-Type": "application/json", **auth_headers(req.api_key, req.provider)}
    timeout = httpx.Timeout(connect=DEFAULT_CONNECT_TIMEOUT, read=req.read_timeout, write=30.0, pool=30.0)
    try:
        async with asyncio.timeout(req.deadline):
            async with client.stream("POST", url, json=request_body(req), headers=headers, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    body = await resp.aread()
                    message = _error_message(body)
                    hint = parameter_hint(message, req) if resp.status_code == 400 else ""
                    raise status_error(
                        resp.status_code,
                        f"{message} (hint: {hint})" if hint else message,
                        provider=req.provider,
                        retry_after=parse_retry_after(resp.headers),
                    )
                await _consume(resp, state, req.provider)
    except ProviderError as exc:
        exc.partial_text = state.text
        raise
    except TimeoutError as exc:
        raise APITimeoutError(
            f"attempt exceeded its deadline of {req.deadline:.1f}s", provider=req.provider, partial_text=state.text
        ) from exc
    except httpx.TimeoutException as exc:
        raise APITimeoutError(
            f"timed out ({type(exc).__name__})", provider=req.provider, partial_text=state.text
        ) from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        if state.parts:
            raise StreamError(
                f"stream interrupted after {len(state.parts)} deltas: {type(exc).__name__}: {exc}",
                provider=req.provider,
                partial_text=state.text,
            ) from exc
        raise APIConnectionError(f"{type(exc).__name__}: {exc}", provider=req.provider) from exc
    state.completion.text = state.text
    return state.completion


async def _consume(resp: httpx.Response, state: _StreamState, provider: str) -> None:
    content_type = resp.headers.get("content-type", "")
    if "text/event-stream" not in content_type:
        body = await resp.aread()
        raise StreamError(
            f"expected an event stream, got {content_type or 'no content type'}: {_error_message(body)[:200]}",
            provider=provider,
        )
    try:
        async for sse in EventSource(resp).aiter_sse():
            if state.done:
                continue
            if sse.data == "":
                continue
            state.feed(sse.data, provider)
    except SSEError as exc:
        raise StreamError(f"malformed event stream: {exc}", provider=provider) from exc
    if not state.done:
        raise StreamError(
            f"stream ended before [DONE] after {len(state.parts)} deltas", provider=provider
        )
