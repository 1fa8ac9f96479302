"""What the worker drills share: a simulator, a PostgreSQL database, a campaign, two workers."""

from __future__ import annotations

import contextlib
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.copygen_runs import WorkerGroup, make_campaign, running_workers, setup_django
from bench.harness import REDIS_BENCH_URL, SimProcess, pg_database

__all__ = ["MODEL", "Setup", "audit", "worker_setup"]

MODEL = "drill@ttft=200,gap=20,len=64,jitter=0.2"


@dataclass
class Setup:
    sim: SimProcess
    campaign: Any
    url: str
    group: WorkerGroup

    @property
    def workers(self) -> list[subprocess.Popen[bytes]]:
        return self.group.procs


@contextlib.contextmanager
def worker_setup(
    *,
    n: int,
    concurrency: int,
    rpm: int | None = None,
    lease_seconds: int = 20,
    workers: int = 2,
    redis_url: str = REDIS_BENCH_URL,
) -> Iterator[Setup]:
    sim = SimProcess(args=["--jitter", "0"]).start()
    try:
        with pg_database("copygen_drill") as url:
            setup_django(url, redis_url=redis_url, engine="worker")
            campaign = make_campaign(sim_url=sim.base_url, n=n, concurrency=concurrency, model=MODEL, rpm=rpm)
            env = {"COPYGEN_LEASE_SECONDS": str(lease_seconds), "REDIS_URL": redis_url}
            # Each worker may hold only its share of the campaign's concurrency, so every worker
            # holds running cells (one worker able to hold them all can leave the other idle).
            per_worker = -(-concurrency // workers)
            with running_workers(url, per_worker, count=workers, stop_timeout=45, **env) as group:
                yield Setup(sim=sim, campaign=campaign, url=url, group=group)
    finally:
        sim.stop()


def audit(setup: Setup) -> dict[str, Any]:
    """Lost, duplicated and unaccounted work, from the database and the simulator's own record."""
    from campaigns.models import Attempt, Campaign, Generation

    cid = setup.campaign.id
    campaign = Campaign.objects.get(id=cid)
    gens = list(Generation.objects.filter(campaign_id=cid).values_list("id", "status", "response_id", "text"))
    statuses = Counter(s for _, s, _, _ in gens)
    ok_attempts = Counter(
        Attempt.objects.filter(generation__campaign_id=cid, error="").values_list("generation_id", flat=True)
    )
    sent = setup.sim.get("/_sim/completions")
    stats = setup.sim.stats()
    exact = sum(1 for _, s, rid, text in gens if s == "succeeded" and rid in sent and sent[rid]["text"] == text)
    errors = Counter(
        e.split(":")[0][:60]
        for e in Attempt.objects.filter(generation__campaign_id=cid).exclude(error="").values_list("error", flat=True)
    )
    return {
        "cells": len(gens),
        "statuses": dict(statuses),
        "lost": len(gens) - statuses.get("succeeded", 0),
        "duplicated": sum(1 for n in ok_attempts.values() if n > 1),
        "stored_exactly": exact,
        "attempts_recorded": Attempt.objects.filter(generation__campaign_id=cid).count(),
        "provider_requests": stats.get("requests"),
        "attempt_errors": dict(errors),
        "campaign_status": campaign.status,
        "books_balance": campaign.reserved_usd == 0
        and campaign.spent_usd
        == sum(Generation.objects.filter(campaign_id=cid).values_list("cost_usd", flat=True), Decimal(0)),
    }
