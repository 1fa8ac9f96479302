"""Money: cost from usage and prices, worst-case reservations, usage estimates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "cache_savings_usd",
    "cost_usd",
    "estimate_input_tokens",
    "estimate_tokens",
    "worst_case_input_tokens",
    "worst_case_usd",
]

MILLION = Decimal(1_000_000)
# Money is stored with 10 decimal places (a ten-thousandth of a micro-dollar).
MONEY_QUANTUM = Decimal("1e-10")
# A byte-level BPE never yields more tokens than bytes; 16 tokens per message covers the
# chat template's role and separator tokens.
MESSAGE_OVERHEAD_TOKENS = 16


def cost_usd(
    tokens_in: int,
    tokens_out: int,
    *,
    input_usd_per_mtok: Decimal,
    output_usd_per_mtok: Decimal,
    tokens_cached: int = 0,
    tokens_cache_write: int = 0,
    cached_input_usd_per_mtok: Decimal | None = None,
    cache_write_usd_per_mtok: Decimal | None = None,
) -> Decimal:
    """What a call costs, per million tokens, rounded up to the money quantum.

    ``tokens_cached`` and ``tokens_cache_write`` are part of ``tokens_in``: the rest of the
    prompt is billed at the input price, cached tokens at the cached-input price and cache
    writes at the cache-write price (each the input price when the model has none).
    """
    cached = min(max(tokens_cached, 0), tokens_in)
    writes = min(max(tokens_cache_write, 0), tokens_in - cached)
    cached_price = input_usd_per_mtok if cached_input_usd_per_mtok is None else cached_input_usd_per_mtok
    write_price = input_usd_per_mtok if cache_write_usd_per_mtok is None else cache_write_usd_per_mtok
    exact = (
        Decimal(tokens_in - cached - writes) * input_usd_per_mtok
        + Decimal(cached) * cached_price
        + Decimal(writes) * write_price
        + Decimal(tokens_out) * output_usd_per_mtok
    ) / MILLION
    return exact.quantize(MONEY_QUANTUM, rounding=ROUND_CEILING)


def cache_savings_usd(
    tokens_cached: int, *, input_usd_per_mtok: Decimal, cached_input_usd_per_mtok: Decimal | None
) -> Decimal:
    """What serving ``tokens_cached`` from the cache saved against the full input price."""
    if cached_input_usd_per_mtok is None or tokens_cached <= 0:
        return Decimal(0)
    exact = Decimal(tokens_cached) * (input_usd_per_mtok - cached_input_usd_per_mtok) / MILLION
    return exact.quantize(MONEY_QUANTUM)


def worst_case_input_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    return sum(len(str(m.get("content", "")).encode("utf-8")) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def worst_case_usd(
    messages: Sequence[Mapping[str, str]],
    max_tokens: int,
    *,
    input_usd_per_mtok: Decimal,
    output_usd_per_mtok: Decimal,
    cache_write_usd_per_mtok: Decimal | None = None,
) -> Decimal:
    """The most one attempt can cost: every prompt byte a token at the full input price (or the
    cache-write price, where writing the cache costs more), and max_tokens out."""
    input_price = max(input_usd_per_mtok, cache_write_usd_per_mtok or Decimal(0))
    return cost_usd(
        worst_case_input_tokens(messages),
        max_tokens,
        input_usd_per_mtok=input_price,
        output_usd_per_mtok=output_usd_per_mtok,
    )


BYTES_PER_TOKEN = 4
"""What English text averages with current tokenizers; estimates only, never reservations."""


def estimate_tokens(text: str = "", *, utf8_bytes: int | None = None) -> int:
    """The usage estimate when the provider reported none, for ``text`` or for ``utf8_bytes``
    of text (what a lease renewal recorded): ~4 UTF-8 bytes per token, at least 1.

    Counted in bytes, never characters: a CJK character is 3 bytes and about one token.
    """
    size = len(text.encode("utf-8")) if utf8_bytes is None else utf8_bytes
    if size <= 0:
        return 0
    return max(1, -(-size // BYTES_PER_TOKEN))


# Role and separator tokens of a chat message, for estimates (the worst case uses 16).
ESTIMATED_TOKENS_PER_MESSAGE = 4


def estimate_input_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """A prompt-size estimate when the provider reported no usage."""
    return sum(estimate_tokens(str(m.get("content", ""))) + ESTIMATED_TOKENS_PER_MESSAGE for m in messages)
