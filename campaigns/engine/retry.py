"""Retry policy, after openai-python's: which errors retry and how long to wait."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from campaigns.providers.errors import APIStatusError, ProviderError

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "INITIAL_RETRY_DELAY",
    "MAX_RETRY_AFTER",
    "MAX_RETRY_DELAY",
    "RetryPolicy",
]

DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """The engine's retry policy (``Engine(retry=…)``): the one source of retry decisions.

    A provider that sets its own retry count applies it through :meth:`for_provider`;
    one that does not (``max_retries=None``) follows the engine's.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay: float = INITIAL_RETRY_DELAY
    max_delay: float = MAX_RETRY_DELAY

    def for_provider(self, max_retries: int | None) -> RetryPolicy:
        """This policy with a provider's own retry count, when it sets one."""
        if max_retries is None or max_retries == self.max_retries:
            return self
        return replace(self, max_retries=max_retries)

    def should_retry(self, exc: ProviderError, *, retries_done: int) -> bool:
        """Retry 408/409/429/5xx and connection errors, never other 4xx, never after text arrived.

        Text that already streamed was paid for; retrying it would pay again beyond the
        attempt's reservation, so a cut stream ends the job with its partial text.
        """
        return retries_done < self.max_retries and exc.retryable and not exc.partial_text

    def delay(self, exc: ProviderError, *, retries_done: int, rng: random.Random | None = None) -> float:
        if isinstance(exc, APIStatusError) and exc.retry_after is not None and exc.retry_after <= MAX_RETRY_AFTER:
            return exc.retry_after
        backoff = min(self.initial_delay * 2.0**retries_done, self.max_delay)
        jitter = 1.0 - 0.25 * (rng or random).random()
        return backoff * jitter
