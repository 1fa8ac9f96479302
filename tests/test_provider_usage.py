"""Usage in every provider's shape, request options, and refusals of a parameter."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from campaigns.providers.errors import BadRequestError
from campaigns.providers.openai_compatible import ChatRequest, parameter_hint, request_body, stream_chat
from campaigns.providers.usage import Usage, parse_usage
from campaigns.simulator import Simulator

# OpenAI, vLLM (--enable-prompt-tokens-details), Qwen/DashScope and Kimi K2 answer in this shape.
OPENAI = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
OPENROUTER = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 512},
}
DEEPSEEK = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "prompt_cache_hit_tokens": 1920,
    "prompt_cache_miss_tokens": 86,
}
DEEPSEEK_NEWER = {**DEEPSEEK, "prompt_tokens_details": {"cached_tokens": 1920}}
REASONING = {
    "prompt_tokens": 100,
    "completion_tokens": 900,
    "completion_tokens_details": {"reasoning_tokens": 640},
}


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (OPENAI, Usage(2006, 300, cached_tokens=1920)),
        (OPENROUTER, Usage(2006, 300, cached_tokens=1024, cache_write_tokens=512)),
        (DEEPSEEK, Usage(2006, 300, cached_tokens=1920)),
        (DEEPSEEK_NEWER, Usage(2006, 300, cached_tokens=1920)),  # the same hits, counted once
        (REASONING, Usage(100, 900, reasoning_tokens=640)),
        ({"prompt_tokens": 10, "completion_tokens": 5}, Usage(10, 5)),
    ],
    ids=["openai", "openrouter", "deepseek", "deepseek-newer", "reasoning", "plain"],
)
def test_every_usage_shape_is_read(usage: dict[str, Any], expected: Usage) -> None:
    assert parse_usage(usage) == expected


@pytest.mark.parametrize(
    "details",
    [
        {"prompt_tokens_details": None, "completion_tokens_details": None},
        {"prompt_tokens_details": "lots", "completion_tokens_details": []},
        {"prompt_tokens_details": {"cached_tokens": None}},
        {"prompt_tokens_details": {"cached_tokens": "12"}},
        {"prompt_tokens_details": {"cached_tokens": -5}},
        {"prompt_tokens_details": {"cached_tokens": 1.5}},
        {"prompt_tokens_details": {"cached_tokens": True}},
        {"prompt_tokens_details": {"cached_tokens": 10**30}},
        {"prompt_cache_hit_tokens": {"n": 3}},
        {"completion_tokens_details": {"reasoning_tokens": "many"}},
    ],
)
def test_missing_null_or_malformed_details_mean_none_reported(details: dict[str, Any]) -> None:
    assert parse_usage({"prompt_tokens": 50, "completion_tokens": 7, **details}) == Usage(50, 7)


def test_details_never_exceed_their_totals() -> None:
    usage = parse_usage(
        {
            "prompt_tokens": 50,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 80, "cache_write_tokens": 80},
            "completion_tokens_details": {"reasoning_tokens": 9},
        }
    )
    assert usage == Usage(50, 7, cached_tokens=50, cache_write_tokens=0, reasoning_tokens=7)


@pytest.mark.parametrize(
    "usage", [None, [], "x", {}, {"prompt_tokens": 5}, {"prompt_tokens": "5", "completion_tokens": 1}]
)
def test_no_usable_counts_is_no_usage(usage: Any) -> None:
    assert parse_usage(usage) is None


def _request(simulator: Simulator, model: str, **options: Any) -> ChatRequest:
    return ChatRequest(
        provider="sim",
        base_url=simulator.base_url,
        api_key="",
        model=model,  # type: ignore[attr-defined]
        messages=[{"role": "system", "content": "S" * 700}, {"role": "user", "content": "Write a tagline."}],
        max_tokens=32,
        temperature=0.7,
        read_timeout=10,
        deadline=20,
        **options,
    )


@pytest.mark.parametrize(("shape", "writes"), [("openai", False), ("deepseek", False), ("openrouter", True)])
async def test_the_final_stream_chunk_carries_cached_tokens_in_each_shape(
    simulator: Simulator, shape: str, writes: bool
) -> None:
    model = f"sim-cache@ttft=1,gap=0,len=6,jitter=0,usage={shape}"
    async with httpx.AsyncClient() as client:
        first = await stream_chat(client, _request(simulator, model), on_delta=lambda _: None)
        second = await stream_chat(client, _request(simulator, model), on_delta=lambda _: None)
    assert first.usage is not None and second.usage is not None
    assert first.usage.cached_tokens == 0
    # 700 + 2 bytes of the system message: two whole 256-byte blocks were sent before.
    assert second.usage.cached_tokens == 128
    assert second.usage == parse_usage(simulator.completions[second.response_id]["usage"])
    assert (first.usage.cache_write_tokens > 0) is writes


async def test_a_non_streamed_response_carries_the_same_usage(simulator: Simulator) -> None:
    body = {
        "model": "sim-ns@ttft=1,gap=0,len=4,jitter=0,usage=deepseek,reasoning=3",
        "messages": [{"role": "user", "content": "x" * 600}],
        "max_tokens": 20,
    }
    async with httpx.AsyncClient(base_url=simulator.base_url) as client:  # type: ignore[attr-defined]
        await client.post("/chat/completions", json=body)
        answer = (await client.post("/chat/completions", json=body)).json()
    usage = parse_usage(answer["usage"])
    assert usage == Usage(answer["usage"]["prompt_tokens"], 7, cached_tokens=128, reasoning_tokens=3)


# Request options ------------------------------------------------------------------------


def test_the_request_body_follows_the_models_options(simulator: Simulator) -> None:
    plain = request_body(_request(simulator, "m"))
    assert plain["max_tokens"] == 32 and plain["temperature"] == 0.7
    assert plain["stream"] is True and plain["stream_options"] == {"include_usage": True}
    reasoning = request_body(
        _request(
            simulator,
            "m",
            token_limit_param="max_completion_tokens",
            send_temperature=False,
            include_usage=False,
            extra_body={"reasoning_effort": "low", "model": "evil", "messages": [], "stream": False, "max_tokens": 9},
        )
    )
    assert reasoning["max_completion_tokens"] == 32 and "max_tokens" not in reasoning
    assert "temperature" not in reasoning and "stream_options" not in reasoning
    assert reasoning["reasoning_effort"] == "low"
    assert reasoning["model"] == "m" and reasoning["stream"] is True and len(reasoning["messages"]) == 2


async def test_a_reasoning_model_refusing_max_tokens_fails_with_a_hint(simulator: Simulator) -> None:
    model = "sim-o@ttft=1,gap=0,len=4,jitter=0,reasoner=1"
    async with httpx.AsyncClient() as client:
        with pytest.raises(BadRequestError) as refused:
            await stream_chat(client, _request(simulator, model), on_delta=lambda _: None)
        assert "'max_tokens' is not supported" in str(refused.value)
        assert "set the model's token_limit_param to max_completion_tokens" in str(refused.value)
        with pytest.raises(BadRequestError) as refused:
            await stream_chat(
                client, _request(simulator, model, token_limit_param="max_completion_tokens"), on_delta=lambda _: None
            )
        assert "turn the model's send_temperature off" in str(refused.value)
        done = await stream_chat(
            client,
            _request(simulator, model, token_limit_param="max_completion_tokens", send_temperature=False),
            on_delta=lambda _: None,
        )
    assert done.text and done.usage is not None


def test_hints_name_the_setting_only_for_a_refused_parameter(simulator: Simulator) -> None:
    req = _request(simulator, "m", extra_body={"reasoning_effort": "low"})
    assert parameter_hint("Unrecognized request argument supplied: reasoning_effort", req) == (
        "remove 'reasoning_effort' from the model's extra_body"
    )
    assert parameter_hint("stream_options is not supported by this server", req) == (
        "turn the model's include_usage off"
    )
    assert parameter_hint("This model's maximum context length is 8192 tokens.", req) == ""
