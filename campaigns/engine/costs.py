"""Money: cost from usage and prices, worst-case reservations, usage estimates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
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


def cost_usd(tokens_in: int, tokens_out: int, *, input_usd_per_mtok: Decimal, output_usd_per_mtok: Decimal) -> Decimal:
    exact = (Decimal(tokens_in) * input_usd_per_mtok + Decimal(tokens_out) * output_usd_per_mtok) / MILLION
    return exact.quantize(MONEY_QUANTUM, rounding=ROUND_CEILING)


def worst_case_input_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    return sum(len(str(m.get("content", "")).encode("utf-8")) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def worst_case_usd(
    messages: Sequence[Mapping[str, str]],
    max_tokens: int,
    *,
    input_usd_per_mtok: Decimal,
    output_usd_per_mtok: Decimal,
) -> Decimal:
    """The most one attempt can cost: every prompt byte a token, and max_tokens out."""
    return cost_usd(
        worst_case_input_tokens(messages),
        max_tokens,
        input_usd_per_mtok=input_usd_per_mtok,
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
