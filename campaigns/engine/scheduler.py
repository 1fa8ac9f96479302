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
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import httpx

from campaigns.engine import events as ev
from campaigns.engine.coalesce import DeltaCoalescer
from campaigns.engine.commands import Command, CommandKind
from campaigns.engine.config import EngineConfig
from campaigns.engine.costs import estimate_input_tokens, estimate_tokens
from campaigns.engine.job import JobContext, ProviderControls, run_job
from campaigns.engine.limits import AdaptiveConcurrency, CircuitBreaker, RateLimits
from campaigns.engine.status import BreakerState
from campaigns.engine.types import AttemptRecord, Job, JobResult, ModelSpec, ProviderSpec
from campaigns.engine.writer import BatchWriter

__all__ = ["Engine", "JobStore", "Publish", "Reply"]

log = logging.getLogger("copygen.engine")

Publish = Callable[[int, Mapping[str, Any]], Awaitable[None]]
"""Send a live message to a campaign's viewers (``campaign_id``, message)."""
Reply = Callable[[str, Mapping[str, Any]], Awaitable[None]]
"""Send a live message to one viewer channel (``channel``, message): a resync's answer."""

BATCH = "campaign.batch"
"""The type of a live message that carries several events of one campaign (``events``, in order)."""
MAX_BATCH = 1000
"""Most events one ``campaign.batch`` message carries."""


class JobStore(Protocol):
    """Where jobs come from and results go; the database on the Django side."""

    async def claim(self, *, owner: str, limit: int) -> list[Job]:
        """Lease up to ``limit`` runnable jobs to ``owner`` (reserving their worst-case cost)."""
        ...

    async def renew(self, *, owner: str, progress: Mapping[int, int]) -> Collection[int] | None:
        """Extend the leases of jobs ``owner`` is still running (with UTF-8 bytes of text received so far).

        Returns the ids still held (None: unknown); the engine stops the others, which
        another engine took over after their lease expired.
        """
        ...

    async def reserve(self, *, owner: str, job_id: int, amount_usd: Decimal) -> bool:
        """Reserve more of the campaign's budget for a job; False if it does not fit."""
        ...

    async def provider_state(self, *, provider_id: int, breaker: BreakerState) -> None:
        """Record a provider's circuit breaker state (for the admin)."""
        ...

    async def finish(self, *, owner: str, results: Sequence[JobResult]) -> Sequence[ev.Event]:
        """Record terminal results (each at most once); return the events to publish, starting
        with ``generation.finished`` for each generation it wrote as finished (and none for a
        result it refused or one handed back to the queue)."""
        ...


class Engine:
    """Runs jobs concurrently until stopped. ``wake()`` makes it look for work at once."""

    def __init__(
        self,
        *,
        store: JobStore,
        publish: Publish,
        client: httpx.AsyncClient,
        owner: str,
        config: EngineConfig | None = None,
        rate_limits: RateLimits | None = None,
        reply: Reply | None = None,
    ) -> None:
        self.store = store
        self.publish = publish
        self.reply = reply
        self.client = client
        self.owner = owner
        self.config = config = config or EngineConfig()
        self.coalescer = DeltaCoalescer(config.delta_interval)
        self.writer: BatchWriter[JobResult] = BatchWriter(self._write, interval=config.write_interval)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._jobs: dict[int, Job] = {}
        self._cancel_reasons: dict[int, str] = {}
        self._outbox: asyncio.Queue[tuple[int, ev.Event]] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._stopping = False
        self._helpers: list[asyncio.Task[None]] = []
        self._rng = random.Random()
        self._texts: dict[int, list[str]] = {}
        self._throttled_at: dict[int, float] = {}
        self._side_tasks: set[asyncio.Future[None]] = set()
        self._provider_controls: dict[int, ProviderControls] = {}
        self._context = JobContext(
            client=client,
            retry=config.retry,
            controls=self._controls,
            rate_limits=rate_limits or RateLimits(),
            reserve=self._reserve,
            rng=self._rng,
            on_rate_limited=self._rate_limited,
            on_rewrite=self._rewriting,
        )

    async def aclose(self) -> None:
        """Close the engine's provider connections (the HTTP client and the gRPC channels)."""
        await self._context.grpc.aclose()
        await self.client.aclose()

    # --- control -------------------------------------------------------------------------
    def handle(self, command: Command) -> None:
        """Carry out a :class:`~campaigns.engine.commands.Command` (from any caller on this loop)."""
        if command.kind is CommandKind.CANCEL:
            self.cancel_campaign(command.campaign_id)
        elif command.kind is CommandKind.RESYNC:
            self.resync(command.campaign_id, reply_to=command.reply_to)
            return
        self.wake()

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

    def resync(self, campaign_id: int, *, reply_to: str) -> int:
        """Send the full text so far of the campaign's running cells to the viewer channel
        ``reply_to`` only (it joined mid-stream; the others have the text already).

        Each goes out as a delta at offset 0; the viewer keeps what it has and appends only
        what is beyond it, so nothing is lost or doubled.
        """
        deltas: list[ev.Event] = [
            ev.generation_delta(campaign_id, job_id, offset=0, text="".join(self._texts[job_id]), resync=True)
            for job_id, job in list(self._jobs.items())
            if job.campaign_id == campaign_id and self._texts.get(job_id)
        ]
        if deltas and self.reply is not None:
            message = deltas[0] if len(deltas) == 1 else ev.campaign_batch(campaign_id, deltas)
            self._background(self._send_reply(reply_to, message))
        return len(deltas)

    async def _send_reply(self, channel: str, message: Mapping[str, Any]) -> None:
        assert self.reply is not None
        try:
            await self.reply(channel, message)
        except Exception:  # best effort, like every live event
            log.warning("resync to %s failed", channel, exc_info=True)

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
        if not self._tasks:
            return
        _, stuck = await asyncio.wait(list(self._tasks.values()), timeout=self.config.stop_timeout)
        for task in stuck:
            # A stream that does not let go of its connection must not hold up a shutdown:
            # hand its job back here, its attempt recorded as interrupted (estimated).
            stuck_id = next((j for j, t in self._tasks.items() if t is task), None)
            job = self._jobs.get(stuck_id) if stuck_id is not None else None
            if job is not None:
                log.warning("job %s did not stop within %.0fs; handing it back", job.id, self.config.stop_timeout)
                self.writer.put(_released_result(job, "".join(self._texts.get(job.id, ())), self.owner))
                self._tasks.pop(job.id, None)
                self._jobs.pop(job.id, None)

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
                if claimed and len(claimed) == self.config.claim_batch and self.in_flight < self.config.max_in_flight:
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_interval)
                except TimeoutError:
                    pass
        finally:
            await self.stop()
            await self.writer.close()
            # Live events are best effort: never let them hold up a shutdown. asyncio.wait
            # (unlike wait_for) does not wait for a send that ignores its cancellation.
            drain = asyncio.ensure_future(self._drain_outbox())
            _, pending = await asyncio.wait([drain], timeout=5.0)
            if pending:
                drain.cancel()
                log.warning("dropped %d live events at shutdown", self._outbox.qsize())
            for helper in self._helpers:
                helper.cancel()
            await asyncio.wait(self._helpers, timeout=3.0)

    async def _claim(self) -> list[Job]:
        free = self.config.max_in_flight - self.in_flight
        if free <= 0:
            return []
        try:
            jobs = await self.store.claim(owner=self.owner, limit=min(free, self.config.claim_batch))
        except Exception:
            log.exception("claiming jobs failed")
            return []
        for job in jobs:
            if job.id in self._tasks:  # already running here: never run one cell twice in one engine
                log.error("job %s was claimed again while running here; ignored", job.id)
                continue
            self._jobs[job.id] = job
            self._tasks[job.id] = asyncio.create_task(self._run(job), name=f"copygen-job-{job.id}")
        return jobs

    # --- one job -------------------------------------------------------------------------
    async def _run(self, job: Job) -> None:
        def on_delta(piece: str) -> None:
            self._texts.setdefault(job.id, []).append(piece)
            event = self.coalescer.add(job.id, job.campaign_id, piece)
            if event is not None:
                self._outbox.put_nowait((job.campaign_id, event))

        self._outbox.put_nowait((job.campaign_id, ev.generation_started(job.campaign_id, job.id)))
        try:
            result = await run_job(job, self._context, on_delta=on_delta)
        except Exception as exc:  # a bug must not take the engine down with it
            log.exception("job %s crashed", job.id)
            result = JobResult(job_id=job.id, campaign_id=job.campaign_id, status="failed",
                               error=f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._tasks.pop(job.id, None)
            self._jobs.pop(job.id, None)
            self._texts.pop(job.id, None)
        if result.status == "cancelled":
            result.status = self._cancel_reasons.pop(job.id, "cancelled")
            if result.status == "released" and result.attempt_log:
                result.attempt_log[-1].error = f"interrupted: {self.owner} stopped and handed the job back"
        last = self.coalescer.finish(job.id)
        if last is not None:
            self._outbox.put_nowait((job.campaign_id, last))
        self.writer.put(result)

    def _controls(self, model: ModelSpec) -> ProviderControls:
        provider = model.provider
        controls = self._provider_controls.get(provider.id)
        if controls is None:
            breaker = CircuitBreaker(
                threshold=self.config.breaker_threshold,
                cooldown=self.config.breaker_cooldown,
                on_change=functools.partial(self._breaker_changed, provider),
            )
            controls = self._provider_controls[provider.id] = ProviderControls(
                gate=AdaptiveConcurrency(provider.max_concurrency), breaker=breaker
            )
        elif controls.gate.maximum != provider.max_concurrency:
            controls.gate.resize(provider.max_concurrency)
        return controls

    def _breaker_changed(self, provider: ProviderSpec, state: BreakerState) -> None:
        log.warning("provider %s: circuit breaker %s", provider.name, state)
        campaigns = {j.campaign_id for j in self._jobs.values() if j.model.provider.id == provider.id}
        for campaign_id in campaigns:
            self._outbox.put_nowait((campaign_id, ev.provider_status(
                campaign_id, provider_id=provider.id, provider=provider.name, breaker=state,
            )))
        self._background(self.store.provider_state(provider_id=provider.id, breaker=state))

    def _rate_limited(self, model: ModelSpec) -> None:
        """A 429 arrived: tell the campaigns on this provider (at most once a second)."""
        provider = model.provider
        now = time.monotonic()
        if now - self._throttled_at.get(provider.id, 0.0) < 1.0:
            return
        self._throttled_at[provider.id] = now
        controls = self._provider_controls.get(provider.id)
        for campaign_id in {j.campaign_id for j in self._jobs.values() if j.model.provider.id == provider.id}:
            self._outbox.put_nowait((campaign_id, ev.provider_status(
                campaign_id, provider_id=provider.id, provider=provider.name,
                breaker=controls.breaker.state if controls else BreakerState.CLOSED,
                rate_limited=True, concurrency_limit=int(controls.gate.limit) if controls else None,
            )))

    def _rewriting(self, job: Job, rewrite: int, failures: list[str]) -> None:
        """A cell failed its checks and is written again: viewers start its text afresh."""
        last = self.coalescer.finish(job.id)
        if last is not None:
            self._outbox.put_nowait((job.campaign_id, last))
        self._texts.pop(job.id, None)
        self._outbox.put_nowait((job.campaign_id, ev.generation_rewrite(
            job.campaign_id, job.id, rewrite=rewrite, check_failures=failures,
        )))

    def _background(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _reserve(self, job: Job, amount: Decimal) -> bool:
        return await self.store.reserve(owner=self.owner, job_id=job.id, amount_usd=amount)

    # --- background helpers --------------------------------------------------------------
    async def _write(self, results: list[JobResult]) -> None:
        # Only what the store wrote is announced: a result it refused (the lease was lost)
        # or one handed back to the queue gets no generation.finished.
        events = await self.store.finish(owner=self.owner, results=results)
        for event in events:
            self._outbox.put_nowait((int(event["campaign_id"]), event))
        self._wake.set()  # slots freed in the database: look for more work

    async def _publisher(self) -> None:
        """Send what the outbox holds, one message per campaign, at most every ``publish_gap``.

        An idle publisher sends an event the moment it arrives (a first token is not held
        back); a busy one sends whatever piled up meanwhile as one ``campaign.batch``, so a
        campaign costs its viewers at most ``1 / publish_gap`` messages a second whatever
        the number of cells in flight.
        """
        while True:
            first = await self._outbox.get()
            started = time.monotonic()
            await self._send_batch([first, *self._take_outbox()])
            pause = self.config.publish_gap - (time.monotonic() - started)
            if pause > 0:
                await asyncio.sleep(pause)

    def _take_outbox(self) -> list[tuple[int, ev.Event]]:
        taken: list[tuple[int, ev.Event]] = []
        while not self._outbox.empty() and len(taken) < MAX_BATCH:
            taken.append(self._outbox.get_nowait())
        return taken

    async def _drain_outbox(self) -> None:
        while not self._outbox.empty():
            await self._send_batch(self._take_outbox())

    async def _send_batch(self, items: list[tuple[int, ev.Event]]) -> None:
        by_campaign: dict[int, list[ev.Event]] = {}
        for campaign_id, event in items:
            by_campaign.setdefault(campaign_id, []).append(event)
        for campaign_id, events in by_campaign.items():
            message: ev.Event | ev.CampaignBatch = (
                events[0] if len(events) == 1 else ev.campaign_batch(campaign_id, events)
            )
            try:
                await self.publish(campaign_id, message)
            except Exception:  # live events are best effort; the database has the truth
                log.exception("publishing %s failed", message.get("type"))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.coalescer.interval)
            for event in self.coalescer.due():
                self._outbox.put_nowait((event["campaign_id"], event))

    async def _renewer(self) -> None:
        while True:
            await asyncio.sleep(self.config.lease_renew_interval)
            if self._tasks:
                try:
                    progress = {job_id: _utf8_bytes(self._texts.get(job_id, ())) for job_id in self._tasks}
                    held = await self.store.renew(owner=self.owner, progress=progress)
                    if held is not None:
                        self._drop_lost(set(progress) - set(held))
                except Exception:
                    log.exception("renewing leases failed")

    def _drop_lost(self, lost: set[int]) -> None:
        """Stop jobs whose lease another engine took over: it runs them now, and paying the
        provider twice for one cell helps nobody (their results would not be written anyway)."""
        for job_id in lost:
            task = self._tasks.get(job_id)
            if task is not None:
                log.warning("job %s: lease lost to another engine; stopping it here", job_id)
                self._cancel_reasons[job_id] = "released"
                task.cancel()


def _released_result(job: Job, text: str, owner: str) -> JobResult:
    tokens_in = estimate_input_tokens(job.messages)
    tokens_out = min(job.max_tokens, estimate_tokens(text))
    cost = job.model.cost_usd(tokens_in, tokens_out)
    attempt = AttemptRecord(
        number=job.attempts_before + 1, model_id=job.model.id, error=f"interrupted: {owner} stopped and handed the job back",
        tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost, cost_source="estimated", closed=True,
    )
    return JobResult(
        job_id=job.id, campaign_id=job.campaign_id, status="released", attempts=1, tokens_in=tokens_in,
        tokens_out=tokens_out, cost_usd=cost, cost_source="estimated", attempt_log=[attempt],
    )


def _utf8_bytes(parts: Iterable[str]) -> int:
    return sum(len(p.encode("utf-8")) for p in parts)
