"""Token usage as providers report it, in every shape real OpenAI-compatible servers use.

- OpenAI, OpenRouter, vLLM (``--enable-prompt-tokens-details``), Qwen/DashScope, Kimi:
  ``usage.prompt_tokens_details.cached_tokens`` (counted inside ``prompt_tokens``);
  OpenRouter also ``prompt_tokens_details.cache_write_tokens``.
- DeepSeek: ``usage.prompt_cache_hit_tokens`` + ``usage.prompt_cache_miss_tokens``
  (= ``prompt_tokens``); newer answers may carry ``prompt_tokens_details.cached_tokens``
  as well, the same tokens: they are counted once.
- Reasoning: ``usage.completion_tokens_details.reasoning_tokens`` (inside ``completion_tokens``).

A missing, ``null`` or malformed detail means "none reported": never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Usage", "parse_usage"]

MAX_TOKENS_FIELD = 10**12
"""More tokens than any single call can use: a larger number is malformed, not usage."""


@dataclass(frozen=True)
class Usage:
    """What one call used. ``cached_tokens`` and ``cache_write_tokens`` are part of
    ``prompt_tokens``; ``reasoning_tokens`` is part of ``completion_tokens``."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    """Prompt tokens served from the provider's prompt cache (billed at the cached-input price)."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the cache (billed at the cache-write price)."""
    reasoning_tokens: int = 0


def _count(value: Any) -> int | None:
    """A token count, or None when the value is not one (bools, floats with a fraction, text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_TOKENS_FIELD:
        return value
    return None


def _detail(usage: Mapping[str, Any], group: str, key: str) -> int | None:
    details = usage.get(group)
    if not isinstance(details, Mapping):
        return None
    return _count(details.get(key))


def parse_usage(usage: Any) -> Usage | None:
    """The :class:`Usage` of a response's ``usage`` object; None if it reports no token counts."""
    if not isinstance(usage, Mapping):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    if prompt is None or completion is None:
        return None
    # DeepSeek's own fields win: newer answers repeat the hits as cached_tokens too.
    cached = _count(usage.get("prompt_cache_hit_tokens"))
    if cached is None:
        cached = _detail(usage, "prompt_tokens_details", "cached_tokens")
    cached = min(cached or 0, prompt)
    writes = min(_detail(usage, "prompt_tokens_details", "cache_write_tokens") or 0, prompt - cached)
    reasoning = min(_detail(usage, "completion_tokens_details", "reasoning_tokens") or 0, completion)
    return Usage(prompt, completion, cached, writes, reasoning)
