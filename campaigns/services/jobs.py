"""The engine's job store on the database: leases and budget reservations.

- ``jobs_claim`` leases runnable generations to one engine, fair across campaigns,
  within each provider's ``max_concurrency`` (counted over every process), reserving
  each job's worst-case cost on its campaign first: spent + reserved <= budget, always.
- ``jobs_finish`` writes each result once (only the lease holder may), settles the
  real cost, releases the rest of the reservation and finishes campaigns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django import db
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.engine.costs import estimate_input_tokens, estimate_tokens
from campaigns.engine.types import Job, JobResult, ModelSpec, ProviderSpec
from campaigns.models import Attempt, Campaign, Generation, LLMModel, Provider
from campaigns.services.budgets import Ledger
from campaigns.services.bulk import update_many
from campaigns.services.locking import locked
from campaigns.services.prices import PriceSet, prices_for, prices_pinned
from campaigns.services.publish import publish_sync
from campaigns.services.results import finish_campaigns, jobs_finish

__all__ = ["DatabaseJobStore", "jobs_claim", "jobs_finish", "jobs_renew", "jobs_reserve", "provider_breaker_record"]

_R = TypeVar("_R")

RUNNING = Generation.Status.RUNNING
QUEUED = Generation.Status.QUEUED


def _lease_expiry() -> Any:
    return timezone.now() + timedelta(seconds=settings.COPYGEN_LEASE_SECONDS)


Pinned = dict[tuple[int, int], PriceSet]


def _model_spec(
    model: LLMModel, providers: dict[int, ProviderSpec], *, campaign_id: int, pinned: Pinned, with_fallback: bool = True
) -> ModelSpec:
    """The engine's view of ``model`` in campaign ``campaign_id``: its prices are the pinned ones."""
    provider = model.provider
    if provider.id not in providers:
        providers[provider.id] = ProviderSpec(
            id=provider.id,
            name=provider.name,
            base_url=provider.base_url,
            api_key=provider.api_key or "",
            max_concurrency=provider.max_concurrency,
            timeout=provider.timeout,
            max_retries=provider.max_retries,
            rpm_limit=provider.rpm_limit,
            tpm_limit=provider.tpm_limit,
            protocol=provider.protocol,
            target=provider.target,
            tls=provider.tls,
            ca_bundle=provider.ca_bundle,
        )
    fallback = model.fallback if with_fallback and model.fallback_id and model.fallback_id != model.id else None
    prices = prices_for(pinned, campaign_id, model)
    return ModelSpec(
        id=model.id,
        name=model.name,
        provider=providers[provider.id],
        input_usd_per_mtok=prices.input_usd_per_mtok,
        output_usd_per_mtok=prices.output_usd_per_mtok,
        cached_input_usd_per_mtok=prices.cached_input_usd_per_mtok,
        cache_write_usd_per_mtok=prices.cache_write_usd_per_mtok,
        fallback=(
            _model_spec(fallback, providers, campaign_id=campaign_id, pinned=pinned, with_fallback=False)
            if fallback is not None
            else None
        ),
        token_limit_param=model.token_limit_param,
        send_temperature=model.send_temperature,
        include_usage=model.include_usage,
        extra_body=dict(model.extra_body or {}),
        preset=model.preset or "vllm",
        prompt_format=model.prompt_format or "chatml",
    )


def _provider_free_slots(now: Any) -> dict[int, int]:
    providers = list(locked(Provider.objects.all()).order_by("id"))
    busy = dict(
        Generation.objects.filter(status=RUNNING, lease_expires_at__gte=now)
        .values_list("model__provider_id")
        .annotate(n=Count("id"))
        .values_list("model__provider_id", "n")
    )
    return {p.id: max(0, p.max_concurrency - busy.get(p.id, 0)) for p in providers}


def _runnable(now: Any, owner: str) -> Q:
    """Queued, or running under someone else's expired lease: never the claimer's own, which it is
    still running (its renewal was late), or it would run the same cell twice."""
    return Q(status=QUEUED) | (Q(status=RUNNING, lease_expires_at__lt=now) & ~Q(lease_owner=owner))


def _candidates(now: Any, limit: int, owner: str) -> list[Generation]:
    """Up to ``limit`` runnable generations, interleaved round-robin across campaigns."""
    campaign_ids = list(
        Campaign.objects.filter(status=Campaign.Status.RUNNING).order_by("launched_at", "id").values_list("id", flat=True)
    )
    per_campaign: list[list[Generation]] = []
    for campaign_id in campaign_ids:
        qs = Generation.objects.filter(_runnable(now, owner), campaign_id=campaign_id).order_by("id")
        rows = list(locked(qs, skip_locked=True).select_related("prompt", "model__provider", "model__fallback__provider")[:limit])
        if rows:
            per_campaign.append(rows)
    ordered: list[Generation] = []
    for i in range(limit):
        for rows in per_campaign:
            if i < len(rows):
                ordered.append(rows[i])
    return ordered


def jobs_claim(*, owner: str, limit: int) -> list[Job]:
    """Lease up to ``limit`` jobs to ``owner``; skip cells no budget or quota can cover."""
    with transaction.atomic():
        now = timezone.now()
        ledger = Ledger(now)
        _reap_orphans(now, ledger)
        free = _provider_free_slots(now)
        candidates = _candidates(now, limit, owner)
        if not candidates:
            _publish_later(ledger.save())
            return []
        ledger.lock_campaigns({g.campaign_id for g in candidates})
        pinned = prices_pinned({g.campaign_id for g in candidates})
        providers: dict[int, ProviderSpec] = {}
        expiry = _lease_expiry()
        blocked: set[int] = set()
        claimed: list[Generation] = []
        skipped: list[tuple[Generation, str]] = []
        for gen in candidates:
            campaign = ledger.campaigns[gen.campaign_id]
            pid = gen.model.provider_id
            if gen.campaign_id in blocked or free.get(pid, 0) <= 0 or len(claimed) >= limit:
                continue
            spec = _model_spec(gen.model, providers, campaign_id=gen.campaign_id, pinned=pinned)
            if gen.status == RUNNING:
                _account_interrupted_attempt(gen, campaign, ledger, spec)
            outcome = ledger.reserve(gen, spec.worst_case_usd(gen.prompt.messages, campaign.max_tokens))
            if not outcome.ok:
                if outcome.wait:
                    blocked.add(campaign.id)  # settling cells in flight may free money: wait
                else:
                    skipped.append((gen, outcome.message))
                continue
            free[pid] -= 1
            claimed.append(gen)
        update_many(Generation, CLAIMED_FIELDS, [_claimed_values(gen, owner, expiry, now) for gen in claimed])
        for gen, message in skipped:
            _save_skipped(gen, message, now)
        events = ledger.save()
        if skipped:
            events += finish_campaigns({gen.campaign_id for gen, _ in skipped}, now)
        _publish_later(events)
        return [
            Job(
                id=gen.id,
                campaign_id=gen.campaign_id,
                model=_model_spec(gen.model, providers, campaign_id=gen.campaign_id, pinned=pinned),
                messages=gen.prompt.messages,
                max_tokens=ledger.campaigns[gen.campaign_id].max_tokens,
                temperature=ledger.campaigns[gen.campaign_id].temperature,
                attempts_before=gen.attempts,
                checks=gen.checks,
                language=gen.language,
                rewrites=ledger.campaigns[gen.campaign_id].rewrites,
            )
            for gen in claimed
        ]


CLAIMED_FIELDS = [
    "status", "lease_owner", "lease_expires_at", "reserved_usd", "quota_reservations", "started_at",
    "progress_bytes", "attempts", "cost_usd", "tokens_in", "tokens_out",
]


def _claimed_values(gen: Generation, owner: str, expiry: Any, now: Any) -> tuple[int, list[Any]]:
    return gen.id, [
        RUNNING, owner, expiry, gen.reserved_usd, gen.quota_reservations, gen.started_at or now, 0,
        gen.attempts, gen.cost_usd, gen.tokens_in, gen.tokens_out,
    ]


def _save_skipped(gen: Generation, message: str, now: Any) -> None:
    Generation.objects.filter(id=gen.id).update(
        status=Generation.Status.SKIPPED, error=message, finished_at=now, reserved_usd=Decimal(0),
        quota_reservations={}, lease_owner="", lease_expires_at=None, attempts=gen.attempts,
        cost_usd=gen.cost_usd, tokens_in=gen.tokens_in, tokens_out=gen.tokens_out, cost_source=gen.cost_source,
    )


def _publish_later(events: list[dict[str, Any]]) -> None:
    """Events raised while claiming (quota warnings, skipped cells) go out after the commit."""
    if events:
        transaction.on_commit(lambda: publish_sync(events))


def _account_interrupted_attempt(gen: Generation, campaign: Campaign, ledger: Ledger, spec: ModelSpec) -> None:
    """Taking over an expired lease: bill the lost attempt (estimated from the progress its
    engine last reported) and free its reservation, so the cell is reserved afresh."""
    tokens_in = estimate_input_tokens(gen.prompt.messages)
    tokens_out = min(campaign.max_tokens, estimate_tokens(utf8_bytes=gen.progress_bytes))
    cost = spec.cost_usd(tokens_in, tokens_out)
    gen.attempts += 1
    Attempt.objects.create(
        generation=gen, number=gen.attempts, model=gen.model, engine=gen.lease_owner,
        error=f"interrupted: the lease of {gen.lease_owner} expired", tokens_in=tokens_in, tokens_out=tokens_out,
        cost_usd=cost, cost_source="estimated",
    )
    gen.cost_usd += cost
    gen.tokens_in += tokens_in
    gen.tokens_out += tokens_out
    gen.cost_source = "estimated"
    ledger.spend(gen, cost)
    ledger.release(gen)
    gen.status = QUEUED
    Generation.objects.filter(id=gen.id).update(
        status=QUEUED, reserved_usd=Decimal(0), quota_reservations={}, lease_owner="", lease_expires_at=None,
        attempts=gen.attempts, cost_usd=gen.cost_usd, tokens_in=gen.tokens_in, tokens_out=gen.tokens_out,
        cost_source="estimated",
    )


def _reap_orphans(now: Any, ledger: Ledger) -> None:
    """Cells of stopped campaigns left running by a crashed engine: cancel them, free their money."""
    orphans = list(
        Generation.objects.filter(status=RUNNING, lease_expires_at__lt=now)
        .exclude(campaign__status=Campaign.Status.RUNNING)
        .select_related("model")
    )
    for gen in orphans:
        ledger.release(gen)
        Generation.objects.filter(id=gen.id, status=RUNNING).update(
            status=Generation.Status.CANCELLED, reserved_usd=Decimal(0), quota_reservations={}, lease_owner="",
            lease_expires_at=None, finished_at=now,
            error="cancelled: the engine running it stopped after the campaign ended",
        )


def jobs_renew(*, owner: str, progress: Mapping[int, int]) -> set[int]:
    """Extend ``owner``'s leases; note how much text (UTF-8 bytes) each job has received so far.

    Two statements whatever the number of jobs (renewals share the database thread with
    claims and results, and a late renewal lets another engine take the job over). Returns
    the ids still held: the caller stops the others, another engine now runs them.
    """
    expiry = _lease_expiry()
    with transaction.atomic():
        mine = Generation.objects.filter(id__in=list(progress), status=RUNNING, lease_owner=owner)
        held = set(locked(mine).values_list("id", flat=True))
        Generation.objects.filter(id__in=list(held)).update(lease_expires_at=expiry)
        update_many(Generation, ["progress_bytes"], [(job_id, [progress[job_id]]) for job_id in sorted(held)])
    return held


def jobs_reserve(*, owner: str, job_id: int, amount_usd: Decimal) -> bool:
    """Reserve ``amount_usd`` more for a running job (a fallback model's worst case)."""
    with transaction.atomic():
        gen = locked(Generation.objects.filter(id=job_id, status=RUNNING, lease_owner=owner)).first()
        if gen is None:
            return False
        ledger = Ledger(timezone.now())
        if not ledger.reserve(gen, amount_usd).ok:
            return False
        Generation.objects.filter(id=job_id).update(
            reserved_usd=gen.reserved_usd, quota_reservations=gen.quota_reservations
        )
        _publish_later(ledger.save())
        return True


def provider_breaker_record(*, provider_id: int, breaker: str) -> None:
    Provider.objects.filter(id=provider_id).exclude(breaker_state=breaker).update(
        breaker_state=breaker, breaker_changed_at=timezone.now()
    )


class DatabaseJobStore:
    """The :class:`campaigns.engine.JobStore` of the web app and the workers.

    Its database work runs on a thread (and so a connection) of its own, not on the one
    thread every other ORM call of an ASGI process shares: inline in the web server, a
    large result batch must not hold up page views and API requests behind it.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="copygen-store")

    async def _call(self, fn: Callable[..., _R], /, **kwargs: Any) -> _R:
        return await sync_to_async(_on_store_connection, thread_sensitive=False, executor=self._executor)(
            fn, kwargs
        )

    async def claim(self, *, owner: str, limit: int) -> list[Job]:
        return await self._call(jobs_claim, owner=owner, limit=limit)

    async def renew(self, *, owner: str, progress: Mapping[int, int]) -> set[int]:
        return await self._call(jobs_renew, owner=owner, progress=progress)

    async def reserve(self, *, owner: str, job_id: int, amount_usd: Decimal) -> bool:
        return bool(await self._call(jobs_reserve, owner=owner, job_id=job_id, amount_usd=amount_usd))

    async def provider_state(self, *, provider_id: int, breaker: str) -> None:
        await self._call(provider_breaker_record, provider_id=provider_id, breaker=breaker)

    async def finish(self, *, owner: str, results: Sequence[JobResult]) -> list[Mapping[str, Any]]:
        return list(await self._call(jobs_finish, owner=owner, results=results))

    def close(self, *, wait: bool = True) -> None:
        """Close the store thread's connection and end the thread."""
        closed = self._executor.submit(db.connections.close_all)  # runs on the store thread
        self._executor.shutdown(wait=wait)
        if wait:
            closed.result()


def _on_store_connection(fn: Callable[..., _R], kwargs: dict[str, Any]) -> _R:
    # The store thread keeps its connection for good; one that broke (a database restart)
    # is replaced before the next call instead of failing every call after it.
    if db.connection.connection is not None and db.connection.errors_occurred and not db.connection.is_usable():
        db.connection.close()
    return fn(**kwargs)
