"""Running one job: attempts, retries, rate limits, breaker, fallback, and the record of each."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

import httpx

from campaigns.engine.checks import CheckReport, CheckSuite, feedback_message, measure
from campaigns.engine.costs import estimate_input_tokens, estimate_tokens, worst_case_input_tokens
from campaigns.engine.limits import AdaptiveConcurrency, CircuitBreaker, RateLimits, RateLimitTooSmall
from campaigns.engine.retry import RetryPolicy
from campaigns.engine.status import BreakerState
from campaigns.engine.types import AttemptRecord, Job, JobResult, ModelSpec
from campaigns.providers.base import TRITON_GRPC, OpenAICompatible, Provider, TritonEndpoint
from campaigns.providers.errors import InvalidKeyError, ProviderError, RateLimitError
from campaigns.providers.openai_compatible import ChatRequest, Completion
from campaigns.providers.triton_grpc import TritonGrpc

__all__ = ["JobContext", "ProviderControls", "attempt_deadline", "provider_for", "run_job"]

log = logging.getLogger("copygen.engine")

# A stream must make at least this many tokens per second on top of the base timeout.
MIN_TOKENS_PER_SECOND = 10.0


def attempt_deadline(job: Job, model: ModelSpec | None = None) -> float:
    """Wall-clock seconds one attempt may take: the provider timeout plus time for max_tokens."""
    return (model or job.model).provider.timeout + job.max_tokens / MIN_TOKENS_PER_SECOND


@dataclass
class ProviderControls:
    """Flow control of one provider inside one engine."""

    gate: AdaptiveConcurrency
    breaker: CircuitBreaker


@dataclass
class JobContext:
    client: httpx.AsyncClient
    retry: RetryPolicy
    controls: Callable[[ModelSpec], ProviderControls]
    rate_limits: RateLimits | None
    reserve: Callable[[Job, Decimal], Awaitable[bool]]
    """Reserve more money for a job (for a fallback model); False if the budget can't."""
    rng: random.Random = field(default_factory=random.Random)
    on_rate_limited: Callable[[ModelSpec], None] | None = None
    on_rewrite: Callable[[Job, int, list[str]], None] | None = None
    """A cell failed its checks and is being written again (rewrite number, reasons)."""
    grpc: TritonGrpc = field(default_factory=TritonGrpc)
    """Triton gRPC channels of this engine, one per provider per event loop."""

    def __post_init__(self) -> None:
        self.http = OpenAICompatible(self.client)


def provider_for(ctx: JobContext, model: ModelSpec) -> Provider:
    """The implementation that calls ``model``, by its provider's protocol."""
    return ctx.grpc if model.provider.protocol == TRITON_GRPC else ctx.http


def _triton_endpoint(model: ModelSpec) -> TritonEndpoint | None:
    provider = model.provider
    if provider.protocol != TRITON_GRPC:
        return None
    return TritonEndpoint(target=provider.target, tls=provider.tls, ca_bundle=provider.ca_bundle,
                          preset=model.preset, prompt_format=model.prompt_format)


class StoppedEarly(Exception):
    """The stream was stopped: the copy is already too long to pass a length check."""


@dataclass
class _Run:
    job: Job
    on_delta: Callable[[str], None]
    parts: list[str] = field(default_factory=list)
    attempts: list[AttemptRecord] = field(default_factory=list)
    model: ModelSpec | None = None
    first_delta_at: float | None = None
    attempt_started: float = 0.0
    completion: Completion | None = None
    error: ProviderError | None = None
    rewrite: int = 0
    stream_limit: tuple[int, str] | None = None
    """(length, counting): stop the stream once the copy is longer (a length check's stop margin)."""
    measured: int = 0
    kept_report: CheckReport | None = None

    def delta(self, piece: str) -> None:
        if self.first_delta_at is None:
            self.first_delta_at = time.monotonic()
        self.parts.append(piece)
        self.on_delta(piece)
        if self.stream_limit is not None:
            # Summed piece by piece (a grapheme split across pieces counts twice at most):
            # the margin absorbs that, and it is cheap on every delta.
            limit, counting = self.stream_limit
            self.measured += measure(piece, counting)
            if self.measured > limit:
                raise StoppedEarly(f"stopped early: longer than {limit} characters")

    @property
    def text(self) -> str:
        return "".join(self.parts)


async def run_job(job: Job, ctx: JobContext, *, on_delta: Callable[[str], None]) -> JobResult:
    """Run ``job`` to a terminal result.

    If the task is cancelled (campaign cancelled, engine stopping), the upstream stream is
    closed and the result is ``cancelled`` with the partial text and its estimated cost;
    the caller decides whether that means cancelled or handed back to the queue.
    """
    run = _Run(job=job, on_delta=on_delta, model=job.model)
    started = time.monotonic()
    suite = _suite(job)
    run.stream_limit = suite.stream_limit if suite is not None else None
    try:
        status = await _attempts(run, ctx)
        if suite is not None and status == "succeeded":
            status = await _check_and_rewrite(run, ctx, suite)
    except asyncio.CancelledError:
        _close_attempt(run, error="interrupted: cancelled while running")
        return _result(run, "cancelled", started)
    return _result(run, status, started)


def _suite(job: Job) -> CheckSuite | None:
    if not job.checks:
        return None
    try:
        return CheckSuite.from_json(job.checks, language=job.language)
    except ValueError:  # validated when saved: only a bug gets here
        log.exception("job %s: its checks do not validate; not checked", job.id)
        return None


@dataclass
class _Best:
    report: CheckReport
    completion: Completion | None
    attempt: AttemptRecord
    model: ModelSpec | None


async def _check_and_rewrite(run: _Run, ctx: JobContext, suite: CheckSuite) -> str:
    """Check the copy; while it fails and rewrites are left (and the budget covers one), write
    it again with the reasons as feedback. The cell keeps the best attempt: all checks
    passed, else the fewest failures (the earliest of equals)."""
    best: _Best | None = None
    first_messages = list(run.job.messages)
    while True:
        # Checks are CPU work (a language detector, regexes): off the event loop.
        report = await asyncio.to_thread(suite.run, run.text)
        attempt = run.attempts[-1]
        attempt.text, attempt.checks_passed = report.text, report.passed
        attempt.check_results = [r.as_json() for r in report.results]
        if best is None or len(report.failures) < len(best.report.failures):
            best = _Best(report, run.completion, attempt, run.model)
        if report.passed or run.rewrite >= run.job.rewrites:
            break
        messages = [
            *first_messages,
            {"role": "assistant", "content": report.text},
            {"role": "user", "content": feedback_message(report.failures)},
        ]
        model = run.model or run.job.model
        worst = model.worst_case_usd(messages, run.job.max_tokens)
        if not await ctx.reserve(run.job, worst):
            attempt.check_results.append(
                {"kind": "rewrite", "passed": False, "note": "rewrite skipped: the budget cannot cover another attempt"}
            )
            break
        run.rewrite += 1
        run.job = replace(run.job, messages=messages)
        run.parts, run.completion, run.error, run.measured = [], None, None, 0
        if ctx.on_rewrite is not None:
            ctx.on_rewrite(run.job, run.rewrite, report.failures)
        log.info("job %s: rewrite %d (%s)", run.job.id, run.rewrite, "; ".join(report.failures))
        if await _attempts(run, ctx) != "succeeded":
            run.error = None  # the rewrite failed; the cell keeps the copy it has
            break
    best.attempt.kept = True
    run.parts, run.completion, run.model = [best.report.text], best.completion, best.model
    run.kept_report = best.report
    return "succeeded"


async def _attempts(run: _Run, ctx: JobContext) -> str:
    retries = 0
    while True:
        assert run.model is not None
        controls = ctx.controls(run.model)
        probe = await controls.breaker.wait_turn()
        try:
            async with controls.gate.slot():
                await _rate_limit(run, ctx)
                await _attempt(run, ctx)
        except ProviderError as exc:
            run.error = exc
            _close_attempt(run, error=str(exc), status_code=getattr(exc, "status_code", None))
            if isinstance(exc, RateLimitError):
                controls.gate.on_rate_limited()
                if ctx.on_rate_limited is not None:
                    ctx.on_rate_limited(run.model)
                controls.breaker.release_probe()
            elif exc.retryable:
                controls.breaker.record_failure(probe)
            elif isinstance(exc, InvalidKeyError):
                controls.breaker.release_probe()  # nothing was sent: it says nothing of the provider
            else:
                controls.breaker.record_success(probe)  # the provider answered: it is up
            breaker_tripped = exc.retryable and not isinstance(exc, RateLimitError) and controls.breaker.state is not BreakerState.CLOSED
            if breaker_tripped and not exc.partial_text:
                continue  # the provider is down: wait for it, don't spend this job's retries
            policy = ctx.retry.for_provider(run.model.provider.max_retries)
            if policy.should_retry(exc, retries_done=retries):
                delay = policy.delay(exc, retries_done=retries, rng=ctx.rng)
                retries += 1
                log.info("job %s: %s; retry %d in %.2fs", run.job.id, exc, retries, delay)
                await asyncio.sleep(delay)
                continue
            if exc.retryable and not exc.partial_text and await _switch_to_fallback(run, ctx):
                retries = 0
                continue
            return "failed"
        except RateLimitTooSmall as exc:
            run.error = ProviderError(str(exc), provider=run.model.provider.name)
            return "failed"
        except asyncio.CancelledError:
            controls.breaker.release_probe()
            raise
        controls.breaker.record_success(probe)
        await controls.gate.on_success()
        run.error = None
        return "succeeded"


async def _rate_limit(run: _Run, ctx: JobContext) -> None:
    assert run.model is not None
    provider = run.model.provider
    if ctx.rate_limits is None or not (provider.rpm_limit or provider.tpm_limit):
        return
    tokens = worst_case_input_tokens(run.job.messages) + run.job.max_tokens
    await ctx.rate_limits.acquire(provider.id, rpm=provider.rpm_limit, tpm=provider.tpm_limit, tokens=tokens)


async def _attempt(run: _Run, ctx: JobContext) -> None:
    assert run.model is not None
    model = run.model
    run.attempt_started = time.monotonic()
    run.first_delta_at = None
    run.attempts.append(
        AttemptRecord(number=run.job.attempts_before + len(run.attempts) + 1, model_id=model.id, rewrite=run.rewrite)
    )
    request = ChatRequest(
        provider=model.provider.name,
        base_url=model.provider.base_url,
        api_key=model.provider.api_key,
        model=model.name,
        messages=run.job.messages,
        max_tokens=run.job.max_tokens,
        temperature=run.job.temperature,
        read_timeout=model.provider.timeout,
        deadline=attempt_deadline(run.job, model),
        token_limit_param=model.token_limit_param,
        send_temperature=model.send_temperature,
        include_usage=model.include_usage,
        extra_body=model.extra_body,
        triton=_triton_endpoint(model),
    )
    try:
        run.completion = await provider_for(ctx, model).stream_chat(request, on_delta=run.delta)
    except StoppedEarly as exc:
        # The upstream stream is closed; the attempt is billed as received (estimated).
        run.completion = Completion(text=run.text, usage=None, finish_reason="stopped_early")
        _close_attempt(run, completion=None, error=str(exc))
        return
    _close_attempt(run, completion=run.completion)


async def _switch_to_fallback(run: _Run, ctx: JobContext) -> bool:
    fallback = run.model.fallback if run.model is not None else None
    if fallback is None or any(a.model_id == fallback.id for a in run.attempts):
        return False
    worst = fallback.worst_case_usd(run.job.messages, run.job.max_tokens)
    if not await ctx.reserve(run.job, worst):
        return False
    log.info("job %s: falling back from %s to %s", run.job.id, run.model.name if run.model else "?", fallback.name)
    run.model = fallback
    return True


def _close_attempt(
    run: _Run, *, completion: Completion | None = None, error: str = "", status_code: int | None = None
) -> None:
    """Fill in the current attempt's timing, tokens and cost (reported, or estimated from what arrived)."""
    if not run.attempts or run.attempts[-1].closed:
        return
    attempt, model = run.attempts[-1], run.model
    assert model is not None
    attempt.closed = True
    attempt.duration_ms = round((time.monotonic() - run.attempt_started) * 1000.0, 3)
    if run.first_delta_at is not None:
        attempt.ttft_ms = round((run.first_delta_at - run.attempt_started) * 1000.0, 3)
    attempt.error, attempt.status_code = error, status_code
    usage = completion.usage if completion is not None else None
    if usage is not None:
        attempt.tokens_in, attempt.tokens_out, attempt.cost_source = usage.prompt_tokens, usage.completion_tokens, "reported"
        attempt.tokens_cached, attempt.tokens_cache_write = usage.cached_tokens, usage.cache_write_tokens
        attempt.tokens_reasoning = usage.reasoning_tokens
    elif run.parts or completion is not None:
        # Bill what was received, estimated and marked, never zero.
        text = run.text
        attempt.tokens_in = estimate_input_tokens(run.job.messages)
        attempt.tokens_out = min(run.job.max_tokens, max(estimate_tokens(text), len(run.parts)))
        attempt.cost_source = "estimated"
    attempt.cost_usd = model.cost_usd(
        attempt.tokens_in,
        attempt.tokens_out,
        tokens_cached=attempt.tokens_cached,
        tokens_cache_write=attempt.tokens_cache_write,
    )


def _result(run: _Run, status: str, started: float) -> JobResult:
    job = run.job
    result = JobResult(job_id=job.id, campaign_id=job.campaign_id, status=status, text=run.text)
    result.attempt_log = list(run.attempts)
    result.attempts = len(run.attempts)
    result.latency_ms = round((time.monotonic() - started) * 1000.0, 3)
    last = run.attempts[-1] if run.attempts else None
    result.ttft_ms = last.ttft_ms if last is not None else None
    result.model_id = run.model.id if run.model is not None else job.model.id
    if run.completion is not None and status == "succeeded":
        result.finish_reason = run.completion.finish_reason
        result.response_id = run.completion.response_id
    if run.error is not None and status != "succeeded":
        result.error = str(run.error)
    if run.kept_report is not None:
        result.checks_passed, result.check_failures = run.kept_report.passed, run.kept_report.failures
    elif status == "succeeded":
        result.checks_passed = True  # nothing to check: the copy fits
    result.tokens_in = sum(a.tokens_in for a in run.attempts)
    result.tokens_out = sum(a.tokens_out for a in run.attempts)
    result.tokens_cached = sum(a.tokens_cached for a in run.attempts)
    result.tokens_cache_write = sum(a.tokens_cache_write for a in run.attempts)
    result.tokens_reasoning = sum(a.tokens_reasoning for a in run.attempts)
    result.cost_usd = sum((a.cost_usd for a in run.attempts), Decimal(0))
    sources = {a.cost_source for a in run.attempts if a.cost_source}
    result.cost_source = "estimated" if "estimated" in sources else ("reported" if sources else "")
    return result
