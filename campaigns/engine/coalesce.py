"""Coalescing of token deltas into live events.

The first delta of a generation is sent at once; later ones are buffered and flushed
together at most every ``interval`` seconds, so the channel layer carries tens of
messages per second per campaign instead of one per token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from campaigns.engine.events import GenerationDelta, generation_delta

__all__ = ["DeltaCoalescer"]


@dataclass
class _Pending:
    campaign_id: int
    parts: list[str] = field(default_factory=list)
    last_sent: float = 0.0
    seq: int = 0
    """Characters already sent, so a viewer can place the next piece exactly."""


class DeltaCoalescer:
    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._pending: dict[int, _Pending] = {}

    def add(self, job_id: int, campaign_id: int, text: str) -> GenerationDelta | None:
        """Buffer ``text``; return an event to send now (the first delta) or None."""
        pending = self._pending.get(job_id)
        if pending is None:
            pending = self._pending[job_id] = _Pending(campaign_id)
        pending.parts.append(text)
        if pending.last_sent == 0.0:
            return self._take(job_id, pending)
        return None

    def due(self, *, now: float | None = None) -> list[GenerationDelta]:
        """Events for every generation whose buffer waited at least ``interval``."""
        now = time.monotonic() if now is None else now
        return [
            self._take(job_id, p, now)
            for job_id, p in list(self._pending.items())
            if p.parts and now - p.last_sent >= self.interval
        ]

    def finish(self, job_id: int) -> GenerationDelta | None:
        """Flush and forget ``job_id``; return its last event, if any text is left."""
        pending = self._pending.pop(job_id, None)
        if pending is None or not pending.parts:
            return None
        return self._take(job_id, pending)

    def _take(self, job_id: int, pending: _Pending, now: float | None = None) -> GenerationDelta:
        text = "".join(pending.parts)
        pending.parts.clear()
        event = generation_delta(pending.campaign_id, job_id, offset=pending.seq, text=text)
        pending.seq += len(text)
        pending.last_sent = time.monotonic() if now is None else now
        return event
