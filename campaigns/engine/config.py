"""How an engine runs, as one immutable value (``Engine(config=EngineConfig(...))``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from campaigns.engine.retry import RetryPolicy

__all__ = ["EngineConfig"]


@dataclass(frozen=True)
class EngineConfig:
    """Limits and intervals of one engine; build a variant with :func:`dataclasses.replace`."""

    max_in_flight: int = 500
    """Jobs running at once in this engine."""
    claim_batch: int = 200
    """Most jobs claimed in one trip to the store."""
    poll_interval: float = 1.0
    """Seconds between looks for work when nothing wakes the engine."""
    lease_renew_interval: float = 20.0
    delta_interval: float = 0.05
    """Least gap between two coalesced deltas of one generation."""
    write_interval: float = 0.05
    """How long finished results gather before one batch write."""
    publish_gap: float = 0.01
    """Least gap between two live messages of one campaign."""
    stop_timeout: float = 10.0
    """Seconds ``stop()`` waits for jobs to let go before handing them back anyway."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker_threshold: int = 5
    """Consecutive failures that open a provider's circuit breaker."""
    breaker_cooldown: float = 5.0
    """Seconds an open breaker waits before its first probe (doubling while probes fail)."""
