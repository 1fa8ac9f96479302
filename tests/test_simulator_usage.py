"""The simulator's usage: a prefix cache per model, usage shapes, reasoning tokens."""

from __future__ import annotations

from decimal import Decimal

from campaigns.engine.costs import worst_case_usd
from campaigns.simulator import CACHE_BLOCK_BYTES, PrefixCache, SimConfig, make_usage, parse_model_directives


def _messages(system: str, user: str = "Write a tagline.") -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def test_the_prefix_cache_serves_whole_blocks_already_sent_on_the_same_model() -> None:
    cache = PrefixCache()
    shared = "S" * (3 * CACHE_BLOCK_BYTES)
    assert cache.lookup_and_store("m", _messages(shared, "one")) == (0, 192)
    cached, written = cache.lookup_and_store("m", _messages(shared, "two"))
    assert (cached, written) == (192, 0)  # the three blocks of the system prompt; the tail is too short
    assert cache.lookup_and_store("other", _messages(shared, "one"))[0] == 0  # caches are per model
    # A prompt that differs in its first block shares nothing, however much of the rest it repeats.
    assert cache.lookup_and_store("m", _messages("X" + shared[1:], "two"))[0] == 0
    assert cache.lookup_and_store("m", _messages("short"))[0] == 0  # under one block: never cached


def test_usage_shapes_and_reasoning_tokens() -> None:
    openai = make_usage(SimConfig(), 300, 40, cached=128, written=64, reasoning=0)
    assert openai["prompt_tokens_details"]["cached_tokens"] == 128 and "completion_tokens_details" not in openai
    deepseek = make_usage(SimConfig(usage_shape="deepseek"), 300, 40, cached=128, written=0, reasoning=8)
    assert (deepseek["prompt_cache_hit_tokens"], deepseek["prompt_cache_miss_tokens"]) == (128, 172)
    assert deepseek["completion_tokens_details"] == {"reasoning_tokens": 8}
    openrouter = make_usage(SimConfig(usage_shape="openrouter"), 300, 40, cached=128, written=64, reasoning=0)
    assert openrouter["prompt_tokens_details"] == {"cached_tokens": 128, "cache_write_tokens": 64}
    off = make_usage(SimConfig(cache=False), 300, 40, cached=128, written=64, reasoning=0)
    assert off["prompt_tokens_details"]["cached_tokens"] == 0


def test_usage_knobs_in_the_model_name() -> None:
    cfg = parse_model_directives("sim@usage=deepseek,reasoning=12,reasoner=1,cache=0", SimConfig())
    assert (cfg.usage_shape, cfg.reasoning, cfg.reasoner, cfg.cache) == ("deepseek", 12, True, False)


def test_the_worst_case_uses_the_cache_write_price_when_it_is_higher() -> None:
    messages = [{"role": "user", "content": "x" * 84}]  # 100 tokens at worst
    plain = worst_case_usd(messages, 0, input_usd_per_mtok=Decimal(1_000_000), output_usd_per_mtok=Decimal(0))
    dearer = worst_case_usd(
        messages,
        0,
        input_usd_per_mtok=Decimal(1_000_000),
        output_usd_per_mtok=Decimal(0),
        cache_write_usd_per_mtok=Decimal(1_250_000),
    )
    assert (plain, dearer) == (Decimal(100), Decimal(125))
