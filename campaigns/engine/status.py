"""Status values shared by the models, the engine and the browser, each defined once.

- :class:`GenerationStatus` -- a cell's life: ``queued`` → ``running`` → one of :data:`TERMINAL`.
- :class:`Outcome` -- how one run of a job ended in an engine: a terminal status, or
  ``released`` (handed back unfinished; the cell goes back to ``queued``, it never shows it).
- :class:`BreakerState` -- a provider's circuit breaker.

The Django models take their choices from these enums, and the campaign page reads them
from the JSON the server renders into it (``status_vocabulary()``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["BREAKER_LABELS", "TERMINAL", "BreakerState", "GenerationStatus", "Outcome", "status_vocabulary"]


class GenerationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


TERMINAL: tuple[GenerationStatus, ...] = (
    GenerationStatus.SUCCEEDED, GenerationStatus.FAILED, GenerationStatus.CANCELLED, GenerationStatus.SKIPPED,
)
"""A generation in one of these has its final text and cost; nothing runs it again."""


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RELEASED = "released"
    """Interrupted by its engine stopping or losing the lease: queued again, not finished."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    """Calls flow."""
    OPEN = "open"
    """Calls paused after consecutive failures, until the cooldown ends."""
    HALF_OPEN = "half_open"
    """One probe call tests whether the provider is back."""


BREAKER_LABELS: dict[BreakerState, str] = {
    BreakerState.CLOSED: "healthy",
    BreakerState.OPEN: "breaker open: calls paused",
    BreakerState.HALF_OPEN: "recovering: testing one call",
}
"""How the live page and the provider panel name each breaker state."""


def status_vocabulary() -> dict[str, Any]:
    """The values the browser needs, as JSON: every generation status, the terminal ones,
    and each breaker state with its label."""
    return {
        "generation": [s.value for s in GenerationStatus],
        "terminal": [s.value for s in TERMINAL],
        "breaker_labels": {s.value: label for s, label in BREAKER_LABELS.items()},
    }
