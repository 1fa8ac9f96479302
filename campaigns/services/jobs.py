"""The engine's job store on the database: leases, budget reservations and results.

- ``jobs_claim`` leases runnable generations to one engine, fair across campaigns,
  within each provider's ``max_concurrency`` (counted over every process), reserving
  each job's worst-case cost on its campaign first: spent + reserved <= budget, always.
- ``jobs_finish`` writes each result once (only the lease holder may), settles the
  real cost, releases the rest of the reservation and finishes campaigns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from campaigns.engine.costs import worst_case_usd
from campaigns.engine.types import Job, JobResult, ModelSpec, ProviderSpec
from campaigns.models import Attempt, Campaign, Generation, LLMModel, Provider
from campaigns.services.selectors import campaign_progress

__all__ = ["DatabaseJobStore", "jobs_claim", "jobs_finish", "jobs_renew", "jobs_reserve", "provider_breaker_record"]

RUNNING = Generation.Status.RUNNING
QUEUED = Generation.Status.QUEUED


def _locking(qs: Any, **kwargs: Any) -> Any:
    """``select_for_update`` where the database has row locks (SQLite serialises writers)."""
    if connection.features.has_select_for_update:
        return qs.select_for_update(**kwargs)
    return qs


def _lease_expiry() -> Any:
    return timezone.now() + timedelta(seconds=settings.COPYGEN_LEASE_SECONDS)


def _model_spec(model: LLMModel, providers: dict[int, ProviderSpec], *, with_fallback: bool = True) -> ModelSpec:
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
        )
    fallback = model.fallback if with_fallback and model.fallback_id and model.fallback_id != model.id else None
    return ModelSpec(
        id=model.id,
        name=model.name,
        provider=providers[provider.id],
        input_usd_per_mtok=model.input_usd_per_mtok,
        output_usd_per_mtok=model.output_usd_per_mtok,
        fallback=_model_spec(fallback, providers, with_fallback=False) if fallback is not None else None,
    )


def _provider_free_slots(now: Any) -> dict[int, int]:
    providers = list(_locking(Provider.objects.all()).order_by("id"))
    busy = dict(
        Generation.objects.filter(status=RUNNING, lease_expires_at__gte=now)
        .values_list("model__provider_id")
        .annotate(n=Count("id"))
        .values_list("model__provider_id", "n")
    )
    return {p.id: max(0, p.max_concurrency - busy.get(p.id, 0)) for p in providers}


def _runnable(now: Any) -> Q:
    return Q(status=QUEUED) | Q(status=RUNNING, lease_expires_at__lt=now)


def _candidates(now: Any, limit: int) -> list[Generation]:
    """Up to ``limit`` runnable generations, interleaved round-robin across campaigns."""
    campaign_ids = list(
        Campaign.objects.filter(status=Campaign.Status.RUNNING).order_by("launched_at", "id").values_list("id", flat=True)
    )
    per_campaign: list[list[Generation]] = []
    for campaign_id in campaign_ids:
        qs = Generation.objects.filter(_runnable(now), campaign_id=campaign_id).order_by("id")
        qs = _locking(qs, skip_locked=True, of=("self",)) if connection.vendor == "postgresql" else qs
        rows = list(qs.select_related("model__provider", "model__fallback__provider")[:limit])
        if rows:
            per_campaign.append(rows)
    ordered: list[Generation] = []
    for i in range(limit):
        for rows in per_campaign:
            if i < len(rows):
                ordered.append(rows[i])
    return ordered


def jobs_claim(*, owner: str, limit: int) -> list[Job]:
    """Lease up to ``limit`` jobs to ``owner``; skip cells no budget can cover."""
    with transaction.atomic():
        now = timezone.now()
        _reap_orphans(now)
        free = _provider_free_slots(now)
        candidates = _candidates(now, limit)
        if not candidates:
            return []
        campaigns = {
            c.id: c
            for c in _locking(Campaign.objects.filter(id__in={g.campaign_id for g in candidates})).order_by("id")
        }
        providers: dict[int, ProviderSpec] = {}
        expiry = _lease_expiry()
        blocked: set[int] = set()
        claimed: list[tuple[Generation, Decimal]] = []
        skipped: list[tuple[Generation, str]] = []
        for gen in candidates:
            campaign = campaigns[gen.campaign_id]
            pid = gen.model.provider_id
            if gen.campaign_id in blocked or free.get(pid, 0) <= 0 or len(claimed) >= limit:
                continue
            if gen.status == RUNNING:
                _account_interrupted_attempt(gen, campaign, now)
            worst = _worst_case(gen, campaign)
            if campaign.spent_usd + campaign.reserved_usd + worst > campaign.budget_usd:
                if campaign.reserved_usd > 0:
                    blocked.add(campaign.id)  # wait: settling in-flight cells may free budget
                    continue
                skipped.append((gen, _budget_message(campaign, worst)))
                continue
            campaign.reserved_usd += worst
            free[pid] -= 1
            claimed.append((gen, worst))
        for gen, worst in claimed:
            Generation.objects.filter(id=gen.id).update(
                status=RUNNING, lease_owner=owner, lease_expires_at=expiry, reserved_usd=worst,
                started_at=gen.started_at or now, progress_chars=0, attempts=gen.attempts, cost_usd=gen.cost_usd,
                tokens_in=gen.tokens_in, tokens_out=gen.tokens_out,
            )
        for gen, message in skipped:
            Generation.objects.filter(id=gen.id).update(
                status=Generation.Status.SKIPPED, error=message, finished_at=now, reserved_usd=Decimal(0),
                lease_owner="", lease_expires_at=None, attempts=gen.attempts, cost_usd=gen.cost_usd,
                tokens_in=gen.tokens_in, tokens_out=gen.tokens_out, cost_source=gen.cost_source,
            )
        for campaign in campaigns.values():
            Campaign.objects.filter(id=campaign.id).update(
                reserved_usd=campaign.reserved_usd, spent_usd=campaign.spent_usd
            )
        if skipped:
            _finish_campaigns({gen.campaign_id for gen, _ in skipped}, now)
        return [
            Job(
                id=gen.id,
                campaign_id=gen.campaign_id,
                model=_model_spec(gen.model, providers),
                messages=gen.messages,
                max_tokens=campaigns[gen.campaign_id].max_tokens,
                temperature=campaigns[gen.campaign_id].temperature,
                reserved_usd=worst,
                attempts_before=gen.attempts,
            )
            for gen, worst in claimed
        ]


def _account_interrupted_attempt(gen: Generation, campaign: Campaign, now: Any) -> None:
    """Taking over an expired lease: bill the lost attempt (estimated from the progress its
    engine last reported) and free its reservation, so the cell is reserved afresh."""
    from campaigns.engine.costs import cost_usd, estimate_tokens

    tokens_in = sum(estimate_tokens(str(m.get("content", ""))) + 4 for m in gen.messages)
    tokens_out = min(campaign.max_tokens, (gen.progress_chars + 3) // 4)
    cost = cost_usd(
        tokens_in, tokens_out,
        input_usd_per_mtok=gen.model.input_usd_per_mtok, output_usd_per_mtok=gen.model.output_usd_per_mtok,
    )
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
    campaign.spent_usd += cost
    campaign.reserved_usd -= gen.reserved_usd
    gen.reserved_usd = Decimal(0)
    gen.status = QUEUED
    Generation.objects.filter(id=gen.id).update(
        status=QUEUED, reserved_usd=Decimal(0), lease_owner="", lease_expires_at=None, attempts=gen.attempts,
        cost_usd=gen.cost_usd, tokens_in=gen.tokens_in, tokens_out=gen.tokens_out, cost_source="estimated",
    )


def _reap_orphans(now: Any) -> None:
    """Cells of stopped campaigns left running by a crashed engine: cancel them, free their money."""
    orphans = list(
        Generation.objects.filter(status=RUNNING, lease_expires_at__lt=now)
        .exclude(campaign__status=Campaign.Status.RUNNING)
        .values_list("id", "campaign_id", "reserved_usd")
    )
    released: dict[int, Decimal] = defaultdict(Decimal)
    for gen_id, campaign_id, reserved in orphans:
        Generation.objects.filter(id=gen_id, status=RUNNING).update(
            status=Generation.Status.CANCELLED, reserved_usd=Decimal(0), lease_owner="", lease_expires_at=None,
            finished_at=now, error="cancelled: the engine running it stopped after the campaign ended",
        )
        released[campaign_id] += reserved
    for campaign_id, amount in released.items():
        Campaign.objects.filter(id=campaign_id).update(reserved_usd=F("reserved_usd") - amount)


def _worst_case(gen: Generation, campaign: Campaign) -> Decimal:
    return worst_case_usd(
        gen.messages,
        campaign.max_tokens,
        input_usd_per_mtok=gen.model.input_usd_per_mtok,
        output_usd_per_mtok=gen.model.output_usd_per_mtok,
    )


def _budget_message(campaign: Campaign, worst: Decimal) -> str:
    left = campaign.budget_usd - campaign.spent_usd - campaign.reserved_usd
    return (
        f"skipped: campaign budget ${campaign.budget_usd:.4f} has ${max(left, Decimal(0)):.6f} left, "
        f"this cell may cost up to ${worst:.6f}"
    )


def jobs_renew(*, owner: str, progress: Mapping[int, int]) -> int:
    """Extend ``owner``'s leases; note how much text each job has received so far."""
    expiry = _lease_expiry()
    renewed = 0
    with transaction.atomic():
        for job_id, chars in progress.items():
            renewed += Generation.objects.filter(id=job_id, status=RUNNING, lease_owner=owner).update(
                lease_expires_at=expiry, progress_chars=chars
            )
    return renewed


def jobs_reserve(*, owner: str, job_id: int, amount_usd: Decimal) -> bool:
    """Reserve ``amount_usd`` more for a running job (a fallback model's worst case)."""
    with transaction.atomic():
        gen = _locking(Generation.objects.filter(id=job_id, status=RUNNING, lease_owner=owner)).first()
        if gen is None:
            return False
        campaign = _locking(Campaign.objects.filter(id=gen.campaign_id)).get()
        if campaign.spent_usd + campaign.reserved_usd + amount_usd > campaign.budget_usd:
            return False
        Campaign.objects.filter(id=campaign.id).update(reserved_usd=F("reserved_usd") + amount_usd)
        Generation.objects.filter(id=job_id).update(reserved_usd=F("reserved_usd") + amount_usd)
        return True


def provider_breaker_record(*, provider_id: int, breaker: str) -> None:
    Provider.objects.filter(id=provider_id).exclude(breaker_state=breaker).update(
        breaker_state=breaker, breaker_changed_at=timezone.now()
    )


def jobs_finish(*, owner: str, results: Sequence[JobResult]) -> list[dict[str, Any]]:
    """Record results held under ``owner``'s lease; return campaign events to publish."""
    with transaction.atomic():
        now = timezone.now()
        by_id = {r.job_id: r for r in results}
        held = dict(
            _locking(Generation.objects.filter(id__in=list(by_id), status=RUNNING, lease_owner=owner)).values_list(
                "id", "reserved_usd"
            )
        )
        spent: dict[int, Decimal] = defaultdict(Decimal)
        released: dict[int, Decimal] = defaultdict(Decimal)
        attempts: list[Attempt] = []
        # An earlier interrupted attempt's estimate keeps the whole generation marked estimated.
        estimated_before = set(
            Attempt.objects.filter(generation_id__in=list(held), cost_source="estimated").values_list(
                "generation_id", flat=True
            )
        )
        for job_id, reserved in held.items():
            r = by_id[job_id]
            common: dict[str, Any] = {
                "cost_usd": F("cost_usd") + r.cost_usd,
                "attempts": F("attempts") + r.attempts,
                "reserved_usd": Decimal(0),
                "lease_owner": "",
                "lease_expires_at": None,
            }
            common.update(tokens_in=F("tokens_in") + r.tokens_in, tokens_out=F("tokens_out") + r.tokens_out)
            attempts.extend(_attempt_rows(job_id, owner, r))
            if r.status == "released":  # handed back unfinished: run again from the start
                Generation.objects.filter(id=job_id).update(status=QUEUED, progress_chars=0, **common)
            else:
                Generation.objects.filter(id=job_id).update(
                    status=r.status,
                    text=r.text,
                    ttft_ms=r.ttft_ms,
                    latency_ms=r.latency_ms,
                    served_by_id=r.model_id,
                    cost_source="estimated" if job_id in estimated_before else r.cost_source,
                    error=r.error,
                    finish_reason=r.finish_reason,
                    response_id=r.response_id,
                    finished_at=now,
                    **common,
                )
            spent[r.campaign_id] += r.cost_usd
            released[r.campaign_id] += reserved
        Attempt.objects.bulk_create(attempts)
        for campaign_id in sorted(spent):
            Campaign.objects.filter(id=campaign_id).update(
                spent_usd=F("spent_usd") + spent[campaign_id],
                reserved_usd=F("reserved_usd") - released[campaign_id],
            )
        return _finish_campaigns(set(spent), now)


def _attempt_rows(job_id: int, owner: str, r: JobResult) -> list[Attempt]:
    return [
        Attempt(
            generation_id=job_id, number=a.number, model_id=a.model_id, engine=owner, status_code=a.status_code,
            error=a.error, duration_ms=a.duration_ms, ttft_ms=a.ttft_ms, tokens_in=a.tokens_in,
            tokens_out=a.tokens_out, cost_usd=a.cost_usd, cost_source=a.cost_source,
        )
        for a in r.attempt_log
    ]


def _finish_campaigns(campaign_ids: set[int], now: Any) -> list[dict[str, Any]]:
    """Progress events for ``campaign_ids``; close those with nothing left to run."""
    events: list[dict[str, Any]] = []
    for campaign in Campaign.objects.filter(id__in=campaign_ids).order_by("id"):
        progress = campaign_progress(campaign)
        events.append({"type": "campaign.progress", "campaign_id": campaign.id, **progress})
        if campaign.status == Campaign.Status.RUNNING and progress["pending"] == 0:
            status = _final_status(progress)
            Campaign.objects.filter(id=campaign.id, status=Campaign.Status.RUNNING).update(
                status=status, finished_at=now
            )
            events.append({"type": "campaign.finished", "campaign_id": campaign.id, **progress, "status": status})
        elif campaign.status != Campaign.Status.RUNNING and progress["running"] == 0:
            events.append({"type": "campaign.finished", "campaign_id": campaign.id, **progress})
    return events


def _final_status(progress: Mapping[str, Any]) -> str:
    if progress["skipped"]:
        return Campaign.Status.BUDGET_EXHAUSTED
    if progress["succeeded"] == 0 and progress["failed"] > 0:
        return Campaign.Status.FAILED
    return Campaign.Status.COMPLETED


class DatabaseJobStore:
    """The :class:`campaigns.engine.JobStore` of the web app and the workers."""

    async def claim(self, *, owner: str, limit: int) -> list[Job]:
        return await sync_to_async(jobs_claim)(owner=owner, limit=limit)

    async def renew(self, *, owner: str, progress: Mapping[int, int]) -> None:
        await sync_to_async(jobs_renew)(owner=owner, progress=progress)

    async def reserve(self, *, owner: str, job_id: int, amount_usd: Decimal) -> bool:
        return bool(await sync_to_async(jobs_reserve)(owner=owner, job_id=job_id, amount_usd=amount_usd))

    async def provider_state(self, *, provider_id: int, breaker: str) -> None:
        await sync_to_async(provider_breaker_record)(provider_id=provider_id, breaker=breaker)

    async def finish(self, *, owner: str, results: Sequence[JobResult]) -> list[Mapping[str, Any]]:
        return list(await sync_to_async(jobs_finish)(owner=owner, results=results))
