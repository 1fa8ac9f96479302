"""``manage.py generation_worker`` processes running a campaign launched by the web side."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from campaigns.models import Campaign, Generation
from campaigns.services.launch import campaign_create, campaign_launch

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


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_share_a_campaign_and_each_cell_runs_once(catalog, user, simulator, settings):
    settings.COPYGEN_ENGINE = "worker"
    campaign = campaign_create(
        owner=user, name="Workers", product_ids=[p.id for p in catalog["products"]],
        template_ids=[t.id for t in catalog["templates"]], model_ids=[m.id for m in catalog["models"]],
        variants=5, max_tokens=64, budget_usd=Decimal("10"),
    )
    workers = [start_worker(), start_worker()]
    try:
        campaign_launch(campaign_id=campaign.id)
        wait_until(lambda: Campaign.objects.get(id=campaign.id).status != "running", 60, "the campaign to finish")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=20)[0].decode() for w in workers]
    campaign.refresh_from_db()
    assert campaign.status == "completed", outputs
    gens = list(Generation.objects.filter(campaign=campaign))
    assert len(gens) == 60 and all(g.status == "succeeded" and g.attempts == 1 for g in gens)
    assert simulator.stats.streams == 60, "no cell was generated twice"
    assert {g.response_id for g in gens} <= set(simulator.completions)
    assert campaign.spent_usd == sum((g.cost_usd for g in gens), Decimal(0)) and campaign.reserved_usd == 0
    assert all(w.returncode == 0 for w in workers), outputs
    assert all("stopped" in out for out in outputs)
