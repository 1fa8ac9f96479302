"""Results of the engine: written once by the lease holder, money settled, campaigns finished."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from campaigns.engine import events as ev
from campaigns.engine.types import JobResult
from campaigns.models import Attempt, Campaign, Generation
from campaigns.services.budgets import Ledger
from campaigns.services.bulk import update_many
from campaigns.services.locking import locked
from campaigns.services.selectors import campaign_progress, generation_dict

__all__ = ["finish_campaigns", "jobs_finish"]

RUNNING = Generation.Status.RUNNING
QUEUED = Generation.Status.QUEUED


def jobs_finish(*, owner: str, results: Sequence[JobResult]) -> list[dict[str, Any]]:
    """Record results held under ``owner``'s lease (a late writer that lost it is ignored);
    return the events to publish: ``generation.finished`` for each generation written as
    finished (built from the values written, never for a refused or handed-back result),
    then quota warnings and campaign progress."""
    with transaction.atomic():
        now = timezone.now()
        by_id = {r.job_id: r for r in results}
        held = list(locked(Generation.objects.filter(id__in=list(by_id), status=RUNNING, lease_owner=owner)))
        ledger = Ledger(now)
        ledger.lock_campaigns({g.campaign_id for g in held})
        # An earlier interrupted attempt's estimate keeps the whole generation marked estimated.
        estimated_before = set(
            Attempt.objects.filter(generation_id__in=[g.id for g in held], cost_source="estimated").values_list(
                "generation_id", flat=True
            )
        )
        attempts: list[Attempt] = []
        finished: list[tuple[int, list[Any]]] = []
        released: list[tuple[int, list[Any]]] = []
        for gen in held:
            r = by_id[gen.id]
            ledger.spend(gen, r.cost_usd)
            ledger.release(gen)
            attempts.extend(_attempt_rows(gen.id, owner, r))
            if r.status == "released":  # handed back unfinished: run again from the start
                released.append((gen.id, [QUEUED, 0, *_money(gen, r)]))
            else:
                finished.append((gen.id, _finished_values(gen, r, now, estimated=gen.id in estimated_before)))
        update_many(Generation, RELEASED_FIELDS, released)
        update_many(Generation, FINISHED_FIELDS, finished)
        Attempt.objects.bulk_create(attempts)
        events: list[dict[str, Any]] = _finished_events(held, finished)
        events += ledger.save()
        events += finish_campaigns({g.campaign_id for g in held}, now)
        return events


def _finished_events(held: list[Generation], finished: list[tuple[int, list[Any]]]) -> list[dict[str, Any]]:
    """``generation.finished`` for the rows written as finished, from the values written."""
    rows = {g.id: g for g in held}
    events: list[dict[str, Any]] = []
    for gen_id, values in finished:
        gen = rows[gen_id]
        for name, value in zip(FINISHED_FIELDS, values, strict=True):
            setattr(gen, "served_by_id" if name == "served_by" else name, value)
        events.append(dict(ev.generation_finished(gen.campaign_id, generation_dict(gen))))
    return events


MONEY_FIELDS = [
    "cost_usd", "attempts", "tokens_in", "tokens_out", "tokens_cached", "tokens_cache_write", "tokens_reasoning",
    "reserved_usd", "quota_reservations", "lease_owner",
    "lease_expires_at",
]
RELEASED_FIELDS = ["status", "progress_bytes", *MONEY_FIELDS]
FINISHED_FIELDS = [
    "status", "text", "ttft_ms", "latency_ms", "served_by", "cost_source", "error", "finish_reason", "response_id",
    "finished_at", *MONEY_FIELDS, "checks_passed", "check_failures",
]


def _money(gen: Generation, r: JobResult) -> list[Any]:
    return [
        gen.cost_usd + r.cost_usd, gen.attempts + r.attempts, gen.tokens_in + r.tokens_in,
        gen.tokens_out + r.tokens_out, gen.tokens_cached + r.tokens_cached,
        gen.tokens_cache_write + r.tokens_cache_write, gen.tokens_reasoning + r.tokens_reasoning,
        Decimal(0), {}, "", None,
    ]


def _finished_values(gen: Generation, r: JobResult, now: Any, *, estimated: bool) -> list[Any]:
    return [
        r.status, r.text, r.ttft_ms, r.latency_ms, r.model_id, "estimated" if estimated else r.cost_source,
        r.error, r.finish_reason, r.response_id, now, *_money(gen, r), r.checks_passed, r.check_failures,
    ]


def _attempt_rows(job_id: int, owner: str, r: JobResult) -> list[Attempt]:
    return [
        Attempt(
            generation_id=job_id, number=a.number, model_id=a.model_id, engine=owner, status_code=a.status_code,
            error=a.error, duration_ms=a.duration_ms, ttft_ms=a.ttft_ms, tokens_in=a.tokens_in,
            tokens_out=a.tokens_out, tokens_cached=a.tokens_cached, tokens_cache_write=a.tokens_cache_write,
            tokens_reasoning=a.tokens_reasoning, cost_usd=a.cost_usd, cost_source=a.cost_source, rewrite=a.rewrite,
            text=a.text, checks_passed=a.checks_passed, check_results=a.check_results, kept=a.kept,
        )
        for a in r.attempt_log
    ]


def finish_campaigns(campaign_ids: set[int], now: Any) -> list[dict[str, Any]]:
    """Progress events for ``campaign_ids``; close those with nothing left to run."""
    events: list[dict[str, Any]] = []
    for campaign in Campaign.objects.filter(id__in=campaign_ids).order_by("id"):
        progress = campaign_progress(campaign)
        events.append(dict(ev.campaign_progress(campaign.id, progress)))
        if campaign.status == Campaign.Status.RUNNING and progress["pending"] == 0:
            status = _final_status(progress)
            Campaign.objects.filter(id=campaign.id, status=Campaign.Status.RUNNING).update(
                status=status, finished_at=now
            )
            events.append(dict(ev.campaign_finished(campaign.id, {**progress, "status": status})))
        elif campaign.status != Campaign.Status.RUNNING and progress["running"] == 0:
            events.append(dict(ev.campaign_finished(campaign.id, progress)))
    return events


def _final_status(progress: Mapping[str, Any]) -> str:
    if progress["skipped"]:
        return Campaign.Status.BUDGET_EXHAUSTED
    if progress["succeeded"] == 0 and progress["failed"] > 0:
        return Campaign.Status.FAILED
    return Campaign.Status.COMPLETED
