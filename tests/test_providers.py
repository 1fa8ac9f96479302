"""Parsing of OpenAI-compatible streams (httpx.MockTransport: parsing only; the engine tests use real sockets)."""

from __future__ import annotations

import json

import httpx
import pytest

from campaigns.providers import (
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    RateLimitError,
    ServerError,
    StreamError,
    stream_chat,
)
from campaigns.providers.openai_compatible import parse_retry_after

REQ = ChatRequest(provider="Acme", base_url="http://127.0.0.1:1/v1", api_key="k", model="m",
                  messages=[{"role": "user", "content": "hi"}], max_tokens=16, temperature=0.5)


def sse(*events: str, sep: bytes = b"\n\n") -> bytes:
    return b"".join(b"data: " + e.encode() + sep for e in events)


def chunk(content: str) -> str:
    return json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]})


def client_for(body: bytes | list[bytes], status: int = 200, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    parts = body if isinstance(body, list) else [body]

    async def stream():  # type: ignore[no-untyped-def]
        for p in parts:
            yield p

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer k"
        payload = json.loads(request.content)
        assert payload["stream"] is True and payload["stream_options"] == {"include_usage": True}
        h = {"content-type": "text/event-stream", **(headers or {})}
        return httpx.Response(status, headers=h, content=stream())

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def run(client: httpx.AsyncClient) -> tuple[list[str], object]:
    deltas: list[str] = []
    completion = await stream_chat(client, REQ, on_delta=deltas.append)
    return deltas, completion


async def test_text_usage_and_finish_reason() -> None:
    usage = json.dumps({"id": "c1", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}})
    done = json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    deltas, completion = await run(client_for(sse(chunk("Hel"), chunk("lo"), done, usage, "[DONE]")))
    assert deltas == ["Hel", "lo"]
    assert completion.text == "Hello" and completion.finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (7, 2)


async def test_crlf_comments_and_utf8_split_across_reads() -> None:
    body = b": keep-alive\r\n\r\n" + sse(chunk("日本語のコピー"), "[DONE]", sep=b"\r\n\r\n")
    # Split inside a multi-byte character, one byte at a time around it.
    pieces = [body[i : i + 1] for i in range(len(body))]
    deltas, completion = await run(client_for(pieces))
    assert completion.text == "日本語のコピー" and completion.usage is None


async def test_stream_without_done_is_an_error_with_partial_text() -> None:
    with pytest.raises(StreamError, match=r"before \[DONE\]") as err:
        await run(client_for(sse(chunk("partial"))))
    assert err.value.partial_text == "partial"
    assert "Acme" in str(err.value)


@pytest.mark.parametrize(
    "data",
    [
        "{not json",
        '{"choices": [{"delta": {"content": "x"}}], "score": NaN}',  # not JSON, though Python's json takes it
        '{"choices": [{"delta": {"content": "\\ud800"}}]}',  # a lone surrogate no database can store
        "[1, 2]",
    ],
)
async def test_malformed_data_line(data: str) -> None:
    with pytest.raises(StreamError, match="malformed"):
        await run(client_for(sse(chunk("a"), data, "[DONE]")))


async def test_plain_text_error_body_with_200_is_a_stream_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=b'{"detail": "nope"}')

    with pytest.raises(StreamError, match="expected an event stream"):
        await stream_chat(httpx.AsyncClient(transport=httpx.MockTransport(handler)), REQ, on_delta=lambda s: None)


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (401, b'{"detail": "Invalid API key"}', AuthenticationError, "Invalid API key"),
        (400, b'{"error": {"message": "context too long"}}', BadRequestError, "context too long"),
        (500, b"Internal Server Error", ServerError, "Internal Server Error"),
        (429, b'{"error": {"message": "slow down"}}', RateLimitError, "slow down"),
    ],
)
async def test_status_errors(status: int, body: bytes, cls: type, message: str) -> None:
    with pytest.raises(cls) as err:
        await run(client_for(body, status=status, headers={"retry-after-ms": "250"}))
    assert message in str(err.value) and f"HTTP {status}" in str(err.value)
    assert err.value.retry_after == 0.25


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
