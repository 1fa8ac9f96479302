"""Plain data the engine works on; the Django side builds these from its rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["Job", "JobResult", "ModelSpec", "ProviderSpec"]


@dataclass(frozen=True)
class ProviderSpec:
    id: int
    name: str
    base_url: str
    api_key: str
    max_concurrency: int = 16
    timeout: float = 60.0
    rpm_limit: int | None = None
    tpm_limit: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    id: int
    name: str
    provider: ProviderSpec
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal


@dataclass(frozen=True)
class Job:
    """One generation to run: everything the engine needs, pinned at launch."""

    id: int
    campaign_id: int
    model: ModelSpec
    messages: Sequence[Mapping[str, str]]
    max_tokens: int
    temperature: float
    reserved_usd: Decimal = Decimal(0)


@dataclass
class JobResult:
    """The terminal record of a job."""

    job_id: int
    campaign_id: int
    status: str
    """``succeeded`` | ``failed`` | ``cancelled``"""
    text: str = ""
    ttft_ms: float | None = None
    latency_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)
    cost_source: str = ""
    attempts: int = 0
    error: str = ""
    finish_reason: str = ""
    response_id: str = ""
    extra: dict[str, object] = field(default_factory=dict)
