"""``manage.py generation_worker`` processes running a campaign launched by the web side."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import select
import signal
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from campaigns.models import Campaign, Generation
from campaigns.services.launch import campaign_launch
from tests.factories import ProductFactory
from tests.test_engine_e2e import make_campaign

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url(), "COPYGEN_ENGINE": "worker", **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "generation_worker", "--poll-interval", "0.2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def wait_running(worker: subprocess.Popen[bytes], timeout: float = 60, marker: bytes = b" running (") -> str:
    """Wait for the worker's "running" line (it is claiming from then on), or another ``marker``;
    return its output so far."""
    assert worker.stdout is not None
    fd, out = worker.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and marker not in out:
        if select.select([fd], [], [], 0.5)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"the worker exited while starting: {out.decode()}")
            out += chunk
    if marker not in out:
        raise AssertionError(f"the worker printed no {marker.decode()!r} within {timeout:.0f}s: {out.decode()}")
    return out.decode()


def output_of(worker: subprocess.Popen[bytes], timeout: float = 60) -> str:
    """The worker's output once it has exited; if it hangs, fail with a dump of its stacks."""
    try:
        return worker.communicate(timeout=timeout)[0].decode()
    except subprocess.TimeoutExpired:
        dump = subprocess.run([str(ROOT / ".venv/bin/py-spy"), "dump", "--pid", str(worker.pid)],
                              capture_output=True, text=True).stdout
        worker.kill()
        raise AssertionError(dump + worker.communicate()[0].decode()[-6000:]) from None


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_share_a_campaign_and_each_cell_runs_once(catalog, user, simulator):
    campaign = make_campaign(catalog, user, name="Workers", variants=5)
    workers = [start_worker(), start_worker()]
    started = ["", ""]
    try:
        started = [wait_running(w) for w in workers]  # both claim from the start
        campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
        wait_until(lambda: Campaign.objects.get(id=campaign.id).status != "running", 60, "the campaign to finish")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [head + output_of(w) for head, w in zip(started, workers, strict=True)]
    campaign.refresh_from_db()
    assert campaign.status == "completed", outputs
    gens = list(Generation.objects.filter(campaign=campaign))
    assert len(gens) == 60 and all(g.status == "succeeded" and g.attempts == 1 for g in gens)
    assert simulator.stats.streams == 60, "no cell was generated twice"
    assert {g.response_id for g in gens} <= set(simulator.completions)
    assert campaign.spent_usd == sum((g.cost_usd for g in gens), Decimal(0)) and campaign.reserved_usd == 0
    assert all(w.returncode == 0 for w in workers), outputs
    assert all("stopped" in out for out in outputs)


def test_sigterm_while_starting_exits_cleanly():
    worker = start_worker()
    out = wait_running(worker, marker=b"starting")  # its signal handler is installed from here on
    worker.send_signal(signal.SIGTERM)
    out += output_of(worker)
    assert worker.returncode == 0, out
    assert "stopped" in out


def test_kill_9_a_worker_mid_campaign_loses_nothing_and_accounts_every_attempt(catalog, user, simulator):
    from campaigns.models import Attempt

    provider = catalog["provider"]
    provider.max_concurrency = 40
    provider.save()
    for m in catalog["models"]:
        m.name = m.name.split("@")[0] + "@ttft=50,gap=25,len=40,jitter=0.3"
        m.save()
    products = catalog["products"] + [ProductFactory(), ProductFactory()]
    campaign = make_campaign(catalog, user, name="Crash", product_ids=[p.id for p in products], variants=15)
    # 5 products × 2 templates × 2 models × 15 variants = 300 cells
    env = {"COPYGEN_LEASE_SECONDS": "3"}
    workers = {w.pid: w for w in (start_worker(env), start_worker(env))}

    def owners() -> dict[int, int]:
        running = Generation.objects.filter(campaign=campaign, status="running").values_list("lease_owner", flat=True)
        counts: dict[int, int] = {}
        for owner in running:
            pid = int(owner.split(":")[2])
            counts[pid] = counts.get(pid, 0) + 1
        return counts

    try:
        campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
        # Kill whichever worker holds the most cells in flight (both claim; under load one
        # may hold them all at a given moment).
        wait_until(lambda: owners() and Generation.objects.filter(
            campaign=campaign, status="succeeded").count() >= 20, 90, "the workers to be busy")
        victim_pid, running_before = max(owners().items(), key=lambda kv: kv[1])
        victim = workers.pop(victim_pid)
        [survivor] = workers.values()
        victim.kill()  # SIGKILL: no cleanup at all
        victim.wait(10)
        wait_until(lambda: Campaign.objects.get(id=campaign.id).status != "running", 120, "the campaign to finish")
    finally:
        for w in (victim, survivor):
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        out = output_of(survivor)
    campaign.refresh_from_db()
    gens = list(Generation.objects.filter(campaign=campaign))
    assert campaign.status == "completed", out[-3000:]
    assert len(gens) == 300 and all(g.status == "succeeded" for g in gens), "none lost"
    assert len({g.response_id for g in gens}) == 300, "each cell has exactly one result"
    interrupted = Attempt.objects.filter(generation__campaign=campaign, error__startswith="interrupted")
    errors = list(Attempt.objects.filter(generation__campaign=campaign).values_list("engine", "error", "number"))
    assert running_before > 0 and interrupted.exists(), (running_before, errors[:20], simulator.stats.requests)
    # Every request the provider saw is an attempt on record (cells the killed worker had
    # claimed but not yet sent are on record too, as interrupted), and costs add up.
    assert Attempt.objects.filter(generation__campaign=campaign).count() >= simulator.stats.requests
    assert campaign.spent_usd == sum((g.cost_usd for g in gens), Decimal(0))
    assert campaign.reserved_usd == 0


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="limits are shared across processes through Redis: "
                    "runs in the PostgreSQL + Redis pass")
def test_two_workers_share_the_rpm_limit_and_get_no_429(catalog, user, simulator):
    simulator.config = dataclasses.replace(simulator.config, rpm=30)
    provider = catalog["provider"]
    provider.rpm_limit = 30
    provider.save()
    campaign = make_campaign(catalog, user, name="Limited", variants=3)
    # 36 requests > 30 per minute: the last six must wait for the window
    workers = [start_worker(), start_worker()]
    try:
        campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
        wait_until(lambda: Campaign.objects.get(id=campaign.id).status != "running", 150, "the campaign to finish")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [output_of(w, 30) for w in workers]
    campaign.refresh_from_db()
    assert campaign.status == "completed", outputs
    assert simulator.stats.rate_limited == 0
    assert simulator.stats.streams == 36


def test_sigterm_hands_in_flight_jobs_back_and_another_worker_finishes_them(catalog, user, simulator):
    from campaigns.models import Attempt

    for m in catalog["models"]:
        m.name = m.name.split("@")[0] + "@ttft=50,gap=40,len=40,jitter=0"
        m.save()
    campaign = make_campaign(catalog, user, name="Rolling restart", variants=2)
    first = start_worker()
    second = None
    try:
        campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
        wait_until(lambda: Generation.objects.filter(campaign=campaign, status="running").count() >= 5, 30,
                   "the first worker to be busy")
        first.send_signal(signal.SIGTERM)
        out = output_of(first)
        assert first.returncode == 0, out
        assert not Generation.objects.filter(campaign=campaign, status="running").exists(), "nothing left leased"
        released = Attempt.objects.filter(generation__campaign=campaign, error__contains="handed the job back")
        assert released.exists()
        second = start_worker()
        wait_until(lambda: Campaign.objects.get(id=campaign.id).status != "running", 60, "the campaign to finish")
    finally:
        for w in (first, second):
            if w is not None and w.poll() is None:
                w.send_signal(signal.SIGTERM)
                output_of(w)
    campaign.refresh_from_db()
    gens = list(Generation.objects.filter(campaign=campaign))
    assert campaign.status == "completed" and all(g.status == "succeeded" for g in gens)
    # Every request the provider saw is on record (some released attempts never left the client).
    assert Attempt.objects.filter(generation__campaign=campaign).count() >= simulator.stats.requests
    assert campaign.spent_usd == sum((g.cost_usd for g in gens), Decimal(0)) and campaign.reserved_usd == 0
