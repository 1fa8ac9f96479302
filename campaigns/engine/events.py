"""The live-event protocol: every message a campaign's viewers receive, defined once.

Each event is a :class:`~typing.TypedDict` whose ``type`` names it (and, with the dot as an
underscore, the websocket consumer's handler). Each is built by one function of this
module; the engine, the services, the websocket, the SSE stream and ``campaign.js``
all pass these shapes and no other. ``docs/EVENTS.md`` is checked against this module.

Event tree (one channel-layer group per campaign)::

    Event
    ├── GenerationStarted    generation.started    a cell began running (in this engine)
    ├── GenerationDelta      generation.delta      text that streamed in, placed by ``offset``
    ├── GenerationRewrite    generation.rewrite    a cell failed its checks and is written again
    ├── GenerationFinished   generation.finished   the generation as stored (sent only once written)
    ├── CampaignProgress     campaign.progress     counts, spend and status, from the database
    ├── CampaignFinished     campaign.finished     the campaign has nothing left to run
    ├── ProviderStatus       provider.status       circuit breaker changes and rate limiting
    ├── QuotaWarning         quota.warning         a quota crossed 80 %, 95 % or 100 %
    └── CampaignBatch        campaign.batch        several of the above, in order, in one message

A ``generation.finished`` carries the generation's stored fields: ``model_id`` is always
the cell's model and ``served_by_id`` the model that wrote the text (a fallback, if used).
Offsets and lengths in deltas count Unicode code points.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Literal, TypedDict, get_type_hints

from campaigns.engine.status import BreakerState, GenerationStatus

__all__ = [
    "EVENT_TYPES",
    "CampaignBatch",
    "CampaignFinished",
    "CampaignProgress",
    "Event",
    "GenerationDelta",
    "GenerationFinished",
    "GenerationRewrite",
    "GenerationStarted",
    "ProviderStatus",
    "QuotaWarning",
    "StoredGeneration",
    "campaign_batch",
    "campaign_finished",
    "campaign_progress",
    "describe_protocol",
    "generation_delta",
    "generation_finished",
    "generation_rewrite",
    "generation_started",
    "provider_status",
    "quota_warning",
]


class GenerationStarted(TypedDict):
    type: Literal["generation.started"]
    campaign_id: int
    id: int
    """The generation."""


class GenerationDelta(TypedDict):
    type: Literal["generation.delta"]
    campaign_id: int
    id: int
    offset: int
    """Code points of this generation's text sent before ``text``."""
    text: str
    resync: bool
    """True when this is the whole text so far, resent to a viewer that just joined (offset 0)."""


class GenerationRewrite(TypedDict):
    type: Literal["generation.rewrite"]
    campaign_id: int
    id: int
    rewrite: int
    """Which rewrite starts (1 for the first); the cell's text starts afresh at offset 0."""
    check_failures: list[str]
    """Why the previous copy failed its checks."""


class StoredGeneration(TypedDict):
    """A generation as stored: what the snapshot, the API and ``generation.finished`` carry."""

    id: int
    product_id: int
    template_id: int
    model_id: int
    variant: int
    language: str
    served_by_id: int | None
    status: str
    text: str
    ttft_ms: float | None
    latency_ms: float | None
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    """Prompt tokens the provider served from its cache (inside ``tokens_in``)."""
    tokens_reasoning: int
    """Reasoning tokens (inside ``tokens_out``)."""
    cost_usd: str
    cost_source: str
    attempts: int
    error: str
    rating: str
    approved: bool
    edited_text: str
    checks_passed: bool | None
    """Whether the kept copy passed the template's checks; None when not checked (yet)."""
    check_failures: list[str]
    """Why the kept copy failed its checks (empty when it passed)."""


class GenerationFinished(StoredGeneration):
    type: Literal["generation.finished"]
    campaign_id: int


class _Progress(TypedDict):
    campaign_id: int
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    skipped: int
    passing: int
    """Generations whose copy passed its checks."""
    failing_checks: int
    """Generations whose copy failed its checks."""
    cost_per_passing_usd: str | None
    """Spend per passing generation; None before any."""
    pending: int
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    tokens_reasoning: int
    cache_hit_ratio: float | None
    """tokens_cached / tokens_in; None before any prompt token."""
    spend_usd: str
    budget_usd: str
    status: str
    """The campaign's status."""


class CampaignProgress(_Progress):
    type: Literal["campaign.progress"]


class CampaignFinished(_Progress):
    type: Literal["campaign.finished"]


class ProviderStatus(TypedDict):
    type: Literal["provider.status"]
    campaign_id: int
    provider_id: int
    provider: str
    breaker: str
    """A :class:`~campaigns.engine.status.BreakerState` value."""
    rate_limited: bool
    concurrency_limit: int | None
    """The adaptive concurrency limit after a 429, else None."""


class QuotaWarning(TypedDict):
    type: Literal["quota.warning"]
    campaign_id: int
    quota_id: int
    scope: str
    period: str
    level: int
    limit_usd: str
    spent_usd: str
    resets_at: str | None
    detail: str


Event = (
    GenerationStarted | GenerationDelta | GenerationRewrite | GenerationFinished | CampaignProgress | CampaignFinished | ProviderStatus
    | QuotaWarning
)


class CampaignBatch(TypedDict):
    type: Literal["campaign.batch"]
    campaign_id: int
    events: list[Event]


EVENT_TYPES: dict[str, type] = {
    "generation.started": GenerationStarted,
    "generation.delta": GenerationDelta,
    "generation.rewrite": GenerationRewrite,
    "generation.finished": GenerationFinished,
    "campaign.progress": CampaignProgress,
    "campaign.finished": CampaignFinished,
    "provider.status": ProviderStatus,
    "quota.warning": QuotaWarning,
    "campaign.batch": CampaignBatch,
}
"""Every event type and its definition (the websocket consumer has one handler per key)."""


# --- builders: one per event -------------------------------------------------------------
def generation_started(campaign_id: int, generation_id: int) -> GenerationStarted:
    return {"type": "generation.started", "campaign_id": campaign_id, "id": generation_id}


def generation_delta(
    campaign_id: int, generation_id: int, *, offset: int, text: str, resync: bool = False
) -> GenerationDelta:
    return {
        "type": "generation.delta", "campaign_id": campaign_id, "id": generation_id, "offset": offset,
        "text": text, "resync": resync,
    }


def generation_rewrite(
    campaign_id: int, generation_id: int, *, rewrite: int, check_failures: Sequence[str]
) -> GenerationRewrite:
    return {
        "type": "generation.rewrite", "campaign_id": campaign_id, "id": generation_id, "rewrite": rewrite,
        "check_failures": list(check_failures),
    }


def generation_finished(campaign_id: int, generation: StoredGeneration) -> GenerationFinished:
    status = generation["status"]
    if status in (GenerationStatus.QUEUED, GenerationStatus.RUNNING):
        raise ValueError(f"generation {generation['id']} is {status}, not finished")
    return {"type": "generation.finished", "campaign_id": campaign_id, **generation}


def campaign_progress(campaign_id: int, progress: _Progress | dict[str, object]) -> CampaignProgress:
    return {**progress, "type": "campaign.progress", "campaign_id": campaign_id}  # type: ignore[typeddict-item]


def campaign_finished(campaign_id: int, progress: _Progress | dict[str, object]) -> CampaignFinished:
    return {**progress, "type": "campaign.finished", "campaign_id": campaign_id}  # type: ignore[typeddict-item]


def provider_status(
    campaign_id: int,
    *,
    provider_id: int,
    provider: str,
    breaker: BreakerState,
    rate_limited: bool = False,
    concurrency_limit: int | None = None,
) -> ProviderStatus:
    return {
        "type": "provider.status", "campaign_id": campaign_id, "provider_id": provider_id, "provider": provider,
        "breaker": breaker.value, "rate_limited": rate_limited, "concurrency_limit": concurrency_limit,
    }


def quota_warning(
    campaign_id: int,
    *,
    quota_id: int,
    scope: str,
    period: str,
    level: int,
    limit_usd: str,
    spent_usd: str,
    resets_at: str | None,
    detail: str,
) -> QuotaWarning:
    return {
        "type": "quota.warning", "campaign_id": campaign_id, "quota_id": quota_id, "scope": scope, "period": period,
        "level": level, "limit_usd": limit_usd, "spent_usd": spent_usd, "resets_at": resets_at, "detail": detail,
    }


def campaign_batch(campaign_id: int, events: Sequence[Event]) -> CampaignBatch:
    return {"type": "campaign.batch", "campaign_id": campaign_id, "events": list(events)}


# --- documentation ---------------------------------------------------------------------
def _type_name(annotation: object) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "").replace("campaigns.engine.events.", "")
    return text.replace("NoneType", "None")


_TREE = (__doc__ or "").split("::", 1)[1].split("\n\n", 2)[1]


def describe_protocol() -> str:
    """The protocol as Markdown, from the definitions above (``docs/EVENTS.md`` embeds it)."""
    lines = [
        "<!-- generated from campaigns/engine/events.py by describe_protocol(); tests/test_events.py checks it -->",
        "",
        "```",
        textwrap.dedent(_TREE).strip("\n"),
        "```",
    ]
    for name, definition in EVENT_TYPES.items():
        lines += ["", f"### `{name}`", "", "| field | type |", "|---|---|"]
        for field, annotation in get_type_hints(definition).items():
            shown = f'"{name}"' if field == "type" else _type_name(annotation)
            lines.append(f"| `{field}` | `{shown}` |".replace(" | None", " \\| None"))
    return "\n".join(lines) + "\n"
