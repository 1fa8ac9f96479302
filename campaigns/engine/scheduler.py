"""The generation engine: claims jobs from a store, streams them, records and publishes.

Pure asyncio. The engine knows nothing of Django: it is given a :class:`JobStore`
(claim, renew, finish), a publish callable and an httpx client, so the same engine runs
inside the web server, in a worker process and in a benchmark.

Data flow::

    store.claim() ─▶ _run(job) ─▶ stream_chat() ─▶ deltas ─▶ coalescer ─▶ outbox ─▶ publish()
                                         │
                                         └─▶ JobResult ─▶ BatchWriter ─▶ store.finish() ─▶ outbox
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import httpx

from campaigns.engine.coalesce import DeltaCoalescer
from campaigns.engine.costs import cost_usd, estimate_tokens
from campaigns.engine.retry import RetryPolicy
from campaigns.engine.types import Job, JobResult
from campaigns.engine.writer import BatchWriter
from campaigns.providers.errors import ProviderError
from campaigns.providers.openai_compatible import ChatRequest, Completion, stream_chat

__all__ = ["Engine", "JobStore", "Publish", "attempt_deadline"]

log = logging.getLogger("copygen.engine")

Publish = Callable[[int, Mapping[str, Any]], Awaitable[None]]

# A stream must make at least this many tokens per second on top of the base timeout.
MIN_TOKENS_PER_SECOND = 10.0


class JobStore(Protocol):
    """Where jobs come from and results go; the database on the Django side."""

    async def claim(self, *, owner: str, limit: int) -> list[Job]:
        """Lease up to ``limit`` runnable jobs to ``owner`` (reserving their worst-case cost)."""
        ...

    async def renew(self, *, owner: str, job_ids: Sequence[int]) -> None:
        """Extend the leases of jobs ``owner`` is still running."""
        ...

    async def finish(self, *, owner: str, results: Sequence[JobResult]) -> list[Mapping[str, Any]]:
        """Record terminal results (each at most once); return campaign events to publish."""
        ...


def attempt_deadline(job: Job) -> float:
    """Wall-clock seconds one attempt may take: the provider timeout plus time for max_tokens."""
    return job.model.provider.timeout + job.max_tokens / MIN_TOKENS_PER_SECOND


class Engine:
    """Runs jobs concurrently until stopped. ``wake()`` makes it look for work at once."""

    def __init__(
        self,
        *,
        store: JobStore,
        publish: Publish,
        client: httpx.AsyncClient,
        owner: str,
        max_in_flight: int = 500,
        claim_batch: int = 200,
        poll_interval: float = 1.0,
        lease_renew_interval: float = 20.0,
        delta_interval: float = 0.05,
        write_interval: float = 0.05,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.publish = publish
        self.client = client
        self.owner = owner
        self.max_in_flight = max_in_flight
        self.claim_batch = claim_batch
        self.poll_interval = poll_interval
        self.lease_renew_interval = lease_renew_interval
        self.retry = retry or RetryPolicy()
        self.coalescer = DeltaCoalescer(delta_interval)
        self.writer: BatchWriter[JobResult] = BatchWriter(self._write, interval=write_interval)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._jobs: dict[int, Job] = {}
        self._cancel_reasons: dict[int, str] = {}
        self._outbox: asyncio.Queue[tuple[int, Mapping[str, Any]]] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._stopping = False
        self._helpers: list[asyncio.Task[None]] = []
        self._rng = random.Random()

    # --- control -------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def cancel_campaign(self, campaign_id: int) -> int:
        """Stop the in-flight jobs of a campaign (their upstream connections close)."""
        count = 0
        for job_id, job in list(self._jobs.items()):
            if job.campaign_id == campaign_id and job_id in self._tasks:
                self._cancel_reasons[job_id] = "cancelled"
                self._tasks[job_id].cancel()
                count += 1
        return count

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def stop(self) -> None:
        """Stop claiming; interrupt what is in flight and hand it back to the queue."""
        self._stopping = True
        self._wake.set()
        for job_id, task in list(self._tasks.items()):
            self._cancel_reasons[job_id] = "released"
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    # --- main loop -----------------------------------------------------------------------
    async def run(self) -> None:
        self.writer.start()
        self._helpers = [
            asyncio.create_task(self._publisher(), name="copygen-publisher"),
            asyncio.create_task(self._ticker(), name="copygen-delta-ticker"),
            asyncio.create_task(self._renewer(), name="copygen-lease-renewer"),
        ]
        try:
            while not self._stopping:
                self._wake.clear()
                claimed = await self._claim()
                if claimed and len(claimed) == self.claim_batch and self.in_flight < self.max_in_flight:
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except TimeoutError:
                    pass
        finally:
            await self.stop()
            await self.writer.close()
            await self._drain_outbox()
            for helper in self._helpers:
                helper.cancel()
            await asyncio.gather(*self._helpers, return_exceptions=True)

    async def _claim(self) -> list[Job]:
        free = self.max_in_flight - self.in_flight
        if free <= 0:
            return []
        try:
            jobs = await self.store.claim(owner=self.owner, limit=min(free, self.claim_batch))
        except Exception:
            log.exception("claiming jobs failed")
            return []
        for job in jobs:
            self._jobs[job.id] = job
            self._tasks[job.id] = asyncio.create_task(self._run(job), name=f"copygen-job-{job.id}")
        return jobs

    # --- one job -------------------------------------------------------------------------
    async def _run(self, job: Job) -> None:
        job_started = started = time.monotonic()
        text_parts: list[str] = []
        first_delta_at: list[float] = []
        attempts = 0
        completion: Completion | None = None
        error: ProviderError | None = None
        status = "succeeded"

        def on_delta(piece: str) -> None:
            if not first_delta_at:
                first_delta_at.append(time.monotonic())
            text_parts.append(piece)
            event = self.coalescer.add(job.id, job.campaign_id, piece)
            if event is not None:
                self._outbox.put_nowait((job.campaign_id, event))

        self._outbox.put_nowait(
            (job.campaign_id, {"type": "generation.started", "campaign_id": job.campaign_id, "id": job.id})
        )
        try:
            while True:
                attempts += 1
                started = time.monotonic()
                try:
                    completion = await stream_chat(self.client, self._request(job), on_delta=on_delta)
                    error = None
                    break
                except ProviderError as exc:
                    error = exc
                    if not self.retry.should_retry(exc, retries_done=attempts - 1):
                        status = "failed"
                        break
                    delay = self.retry.delay(exc, retries_done=attempts - 1, rng=self._rng)
                    log.info("job %s attempt %d: %s; retrying in %.2fs", job.id, attempts, exc, delay)
                    await asyncio.sleep(delay)
        except asyncio.CancelledError:
            status = self._cancel_reasons.pop(job.id, "cancelled")
            error = None
        except Exception as exc:  # a bug must not take the engine down with it
            log.exception("job %s crashed", job.id)
            status = "failed"
            error = ProviderError(f"internal error: {type(exc).__name__}: {exc}", provider=job.model.provider.name)
        finally:
            self._tasks.pop(job.id, None)
            self._jobs.pop(job.id, None)
        ttft = (first_delta_at[0] - started) if first_delta_at else None
        result = self._result(job, status, text_parts, completion, error, attempts, job_started, ttft)
        last = self.coalescer.finish(job.id)
        if last is not None:
            self._outbox.put_nowait((job.campaign_id, last))
        self.writer.put(result)

    def _request(self, job: Job) -> ChatRequest:
        provider = job.model.provider
        return ChatRequest(
            provider=provider.name,
            base_url=provider.base_url,
            api_key=provider.api_key,
            model=job.model.name,
            messages=job.messages,
            max_tokens=job.max_tokens,
            temperature=job.temperature,
            read_timeout=provider.timeout,
            deadline=attempt_deadline(job),
        )

    def _result(
        self,
        job: Job,
        status: str,
        parts: list[str],
        completion: Completion | None,
        error: ProviderError | None,
        attempts: int,
        started: float,
        ttft: float | None,
    ) -> JobResult:
        text = "".join(parts)
        result = JobResult(job_id=job.id, campaign_id=job.campaign_id, status=status, text=text, attempts=attempts)
        result.latency_ms = round((time.monotonic() - started) * 1000.0, 3)
        if ttft is not None:
            result.ttft_ms = round(ttft * 1000.0, 3)
        if completion is not None:
            result.finish_reason = completion.finish_reason
            result.response_id = completion.response_id
        if error is not None:
            result.error = str(error)
        usage = completion.usage if completion is not None else None
        if usage is not None:
            result.tokens_in, result.tokens_out, result.cost_source = (
                usage.prompt_tokens,
                usage.completion_tokens,
                "reported",
            )
        elif text:
            # Bill what was received, estimated and marked, never zero.
            result.tokens_in = _estimate_input(job)
            result.tokens_out = min(job.max_tokens, max(estimate_tokens(text), len(parts)))
            result.cost_source = "estimated"
        result.cost_usd = cost_usd(
            result.tokens_in,
            result.tokens_out,
            input_usd_per_mtok=job.model.input_usd_per_mtok,
            output_usd_per_mtok=job.model.output_usd_per_mtok,
        )
        return result

    # --- background helpers --------------------------------------------------------------
    async def _write(self, results: list[JobResult]) -> None:
        events = await self.store.finish(owner=self.owner, results=results)
        for r in results:
            self._outbox.put_nowait((r.campaign_id, _finished_event(r)))
        for event in events:
            self._outbox.put_nowait((int(event["campaign_id"]), event))
        self._wake.set()  # slots freed in the database: look for more work

    async def _publisher(self) -> None:
        while True:
            campaign_id, event = await self._outbox.get()
            await self._send(campaign_id, event)

    async def _drain_outbox(self) -> None:
        while not self._outbox.empty():
            campaign_id, event = self._outbox.get_nowait()
            await self._send(campaign_id, event)

    async def _send(self, campaign_id: int, event: Mapping[str, Any]) -> None:
        try:
            await self.publish(campaign_id, event)
        except Exception:  # live events are best effort; the database has the truth
            log.exception("publishing %s failed", event.get("type"))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.coalescer.interval)
            for event in self.coalescer.due():
                self._outbox.put_nowait((int(event["campaign_id"]), event))  # type: ignore[call-overload]

    async def _renewer(self) -> None:
        while True:
            await asyncio.sleep(self.lease_renew_interval)
            if self._tasks:
                try:
                    await self.store.renew(owner=self.owner, job_ids=list(self._tasks))
                except Exception:
                    log.exception("renewing leases failed")


def _estimate_input(job: Job) -> int:
    return sum(estimate_tokens(str(m.get("content", ""))) + 4 for m in job.messages)


def _finished_event(r: JobResult) -> dict[str, Any]:
    return {
        "type": "generation.finished",
        "campaign_id": r.campaign_id,
        "id": r.job_id,
        "status": r.status,
        "ttft_ms": r.ttft_ms,
        "latency_ms": r.latency_ms,
        "tokens_in": r.tokens_in,
        "tokens_out": r.tokens_out,
        "cost_usd": str(r.cost_usd),
        "cost_source": r.cost_source,
        "attempts": r.attempts,
        "error": r.error,
        "text": r.text,
    }

