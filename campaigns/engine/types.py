"""Plain data the engine works on; the Django side builds these from its rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from campaigns.engine.costs import cost_usd, worst_case_usd

__all__ = ["AttemptRecord", "Job", "JobResult", "ModelSpec", "ProviderSpec"]


@dataclass(frozen=True)
class ProviderSpec:
    id: int
    name: str
    base_url: str
    api_key: str
    max_concurrency: int = 16
    timeout: float = 60.0
    max_retries: int | None = None
    """Retries of this provider's calls; None: the engine's :class:`~campaigns.engine.retry.RetryPolicy` decides."""
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    # How the provider is called (gRPC fields used by ``triton-grpc`` only) -----------------
    protocol: str = "openai"
    """``openai`` (HTTP, ``base_url``) or ``triton-grpc`` (``target``, ``tls``, ``ca_bundle``)."""
    target: str = ""
    tls: bool = False
    ca_bundle: str = ""


@dataclass(frozen=True)
class ModelSpec:
    id: int
    name: str
    provider: ProviderSpec
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    fallback: ModelSpec | None = None
    """Used when retries are exhausted on a retryable error."""
    cached_input_usd_per_mtok: Decimal | None = None
    """None: cached tokens are billed at the input price."""
    cache_write_usd_per_mtok: Decimal | None = None
    """None: cache writes are billed at the input price."""
    # Request options (what the model's server accepts)
    token_limit_param: str = "max_tokens"
    send_temperature: bool = True
    include_usage: bool = True
    extra_body: Mapping[str, Any] = field(default_factory=dict)

    def cost_usd(self, tokens_in: int, tokens_out: int, *, tokens_cached: int = 0, tokens_cache_write: int = 0) -> Decimal:
        """The cost of a call at this model's (pinned) prices."""
        return cost_usd(
            tokens_in,
            tokens_out,
            tokens_cached=tokens_cached,
            tokens_cache_write=tokens_cache_write,
            input_usd_per_mtok=self.input_usd_per_mtok,
            output_usd_per_mtok=self.output_usd_per_mtok,
            cached_input_usd_per_mtok=self.cached_input_usd_per_mtok,
            cache_write_usd_per_mtok=self.cache_write_usd_per_mtok,
        )

    def worst_case_usd(self, messages: Sequence[Mapping[str, str]], max_tokens: int) -> Decimal:
        return worst_case_usd(
            messages,
            max_tokens,
            input_usd_per_mtok=self.input_usd_per_mtok,
            output_usd_per_mtok=self.output_usd_per_mtok,
            cache_write_usd_per_mtok=self.cache_write_usd_per_mtok,
        )
    # Triton gRPC models only ----------------------------------------------------------------
    preset: str = "vllm"
    """``vllm`` | ``tensorrt_llm``: the tensor names of the model's backend."""
    prompt_format: str = "chatml"
    """``chatml`` | ``llama3`` | ``plain``: how the pinned messages become ``text_input``."""


@dataclass(frozen=True)
class Job:
    """One generation to run: everything the engine needs, pinned at launch."""

    id: int
    campaign_id: int
    model: ModelSpec
    messages: Sequence[Mapping[str, str]]
    max_tokens: int
    temperature: float
    attempts_before: int = 0
    """Attempts already recorded for this generation (by an engine that lost its lease)."""
    checks: Sequence[Mapping[str, Any]] = ()
    """Copy checks run on each finished attempt (validated JSON, pinned at launch)."""
    language: str = ""
    """The cell's language (what a language check expects)."""
    rewrites: int = 0
    """How many times copy that fails its checks is generated again, with the reasons as feedback."""


@dataclass
class AttemptRecord:
    """One provider call: every attempt is accounted for, failed and interrupted ones too."""

    number: int
    model_id: int
    status_code: int | None = None
    error: str = ""
    duration_ms: float | None = None
    ttft_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    tokens_cache_write: int = 0
    tokens_reasoning: int = 0
    cost_usd: Decimal = Decimal(0)
    cost_source: str = ""
    closed: bool = False
    rewrite: int = 0
    """0: the first writing of the cell; n: its n-th rewrite."""
    text: str = ""
    """The copy this attempt wrote, kept when it was checked."""
    checks_passed: bool | None = None
    check_results: list[dict[str, Any]] = field(default_factory=list)
    kept: bool = False
    """The attempt whose copy the cell keeps (the best one)."""


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
    tokens_cached: int = 0
    tokens_cache_write: int = 0
    tokens_reasoning: int = 0
    cost_usd: Decimal = Decimal(0)
    cost_source: str = ""
    attempts: int = 0
    error: str = ""
    finish_reason: str = ""
    response_id: str = ""
    model_id: int | None = None
    """The model that produced the text (the fallback, if it was used)."""
    attempt_log: list[AttemptRecord] = field(default_factory=list)
    checks_passed: bool | None = None
    """None: the copy was not checked (the job did not succeed)."""
    check_failures: list[str] = field(default_factory=list)
