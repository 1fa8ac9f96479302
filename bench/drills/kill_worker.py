"""kill -9 one of two generation_worker processes mid-campaign: nothing lost, nothing twice."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.copygen_runs import _launch, campaign_status, wait_campaign
from bench.drills._common import audit, worker_setup

N, CONCURRENCY = 1000, 200
LEASE_S = 20  # the default is 60; shorter keeps the drill short


def _owners(campaign_id: int) -> Counter[int]:
    owners = _generations().filter(campaign_id=campaign_id, status="running").values_list("lease_owner", flat=True)
    return Counter(int(o.split(":")[2]) for o in owners if o)


def _generations() -> Any:
    from campaigns.models import Generation

    return Generation.objects


def drill(spec: dict[str, Any]) -> dict[str, Any]:
    with worker_setup(n=N, concurrency=CONCURRENCY, lease_seconds=LEASE_S) as s:
        by_pid = {w.pid: w for w in s.workers}
        t0 = time.monotonic()
        _launch(s.campaign.id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = _generations().filter(campaign_id=s.campaign.id, status="succeeded").count()
            if done >= N // 4 and len(_owners(s.campaign.id)) == 2:
                break
            time.sleep(0.1)
        owners = _owners(s.campaign.id)
        victim_pid, running = max(owners.items(), key=lambda kv: kv[1]) if owners else (s.workers[0].pid, 0)
        victim = by_pid[victim_pid]
        victim.kill()  # SIGKILL: no cleanup, leases left behind
        victim.wait(10)
        killed_at = round(time.monotonic() - t0, 1)
        # A kill after the campaign ended, or of a worker holding nothing, would prove nothing.
        mid_campaign = running > 0 and campaign_status(s.campaign.id) == "running"
        finished = wait_campaign(s.campaign.id, 150)
        wall = round(time.monotonic() - t0, 1)
        result = audit(s)
    survivor_ok = [w.returncode for w in s.workers if w.pid != victim_pid] == [0]
    interrupted = result["attempt_errors"].get("interrupted", 0)
    # Every request the provider saw is on record. The killed worker may also have claimed cells
    # whose requests it never sent: their attempts are billed as interrupted all the same (the
    # reclaiming engine cannot tell), which errs on the side of the budget.
    recorded, seen = result["attempts_recorded"], result["provider_requests"]
    accounted = recorded - interrupted <= seen <= recorded
    passed = (
        mid_campaign
        and finished
        and result["lost"] == 0
        and result["duplicated"] == 0
        and survivor_ok
        and result["stored_exactly"] == N
        and accounted
    )
    summary = (
        f"{N} cells at concurrency {CONCURRENCY}; killed the worker holding {running} running cells at "
        f"{killed_at} s ({'mid-campaign' if mid_campaign else 'NOT mid-campaign: nothing was tested'}); campaign {result['campaign_status']} at {wall} s; lost {result['lost']}, "
        f"duplicated {result['duplicated']}, stored exactly {result['stored_exactly']}/{N}; "
        f"{interrupted} interrupted attempts billed; attempts on record {recorded}, requests the provider saw "
        f"{seen} ({recorded - seen} interrupted before they reached it); survivor exited cleanly: {survivor_ok}"
    )
    return {"passed": passed, "summary": summary, "killed_running": running, **result}
