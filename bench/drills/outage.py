"""The provider goes away for 30 s mid-campaign: the breaker opens, no job fails, all complete after.

The simulator is stopped with SIGTERM (streams in flight finish, new connections are
refused, as a provider taken out of a load balancer), then started again on the same port.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from bench.copygen_runs import _check_results, _launch, make_campaign, setup_django
from bench.harness import SimProcess

N, CONCURRENCY, DOWN_S = 1000, 200, 30
MODEL = "outage@ttft=200,gap=20,len=64,jitter=0"


async def _run(sim: SimProcess, campaign_id: int) -> dict[str, Any]:
    from campaigns.services.publish import flatten, publish_event
    from campaigns.services.runner import build_engine

    engine = build_engine(kind="drill", max_in_flight=CONCURRENCY)
    done = asyncio.Event()
    breaker: list[tuple[float, str]] = []
    t0 = time.monotonic()

    async def publish(cid: int, message: Mapping[str, Any]) -> None:
        for event in flatten(message):
            if event.get("type") == "provider.status" and (not breaker or breaker[-1][1] != event["breaker"]):
                breaker.append((round(time.monotonic() - t0, 1), str(event["breaker"])))
            if event.get("type") == "campaign.finished":
                done.set()
        await publish_event(cid, message)

    engine.publish = publish
    task = asyncio.create_task(engine.run())
    loop = asyncio.get_running_loop()
    await asyncio.sleep(3.0)
    down_at = round(time.monotonic() - t0, 1)
    await loop.run_in_executor(None, sim.stop)
    stopped_at = round(time.monotonic() - t0, 1)
    await asyncio.sleep(DOWN_S)
    sim.tied = False  # started from a pool thread, which may end before the drill does
    await loop.run_in_executor(None, sim.start)
    up_at = round(time.monotonic() - t0, 1)
    try:
        await asyncio.wait_for(done.wait(), 120)
        finished = True
    except TimeoutError:
        finished = False
    wall = round(time.monotonic() - t0, 1)
    await engine.stop()
    await asyncio.wait_for(task, 60)
    await engine.aclose()
    return {
        "finished": finished,
        "wall_s": wall,
        "stop_sent_at": down_at,
        "stopped_at": stopped_at,
        "restarted_at": up_at,
        "breaker": breaker,
    }


def drill(spec: dict[str, Any]) -> dict[str, Any]:
    sim = SimProcess(args=["--jitter", "0"]).start()
    try:
        with tempfile.TemporaryDirectory(prefix="copygen-drill-") as tmp:
            setup_django(f"sqlite:///{tmp}/drill.sqlite3")
            campaign = make_campaign(sim_url=sim.base_url, n=N, concurrency=CONCURRENCY, model=MODEL)
            _launch(campaign.id)
            out = asyncio.run(_run(sim, campaign.id))
            checks = _check_results(campaign.id, sim.base_url)  # texts sent before the restart are gone
    finally:
        sim.stop()
    opened = any(state == "open" for _, state in out["breaker"])
    failed = checks["statuses"].get("failed", 0)
    passed = out["finished"] and opened and failed == 0 and checks["statuses"].get("succeeded") == N
    summary = (
        f"{N} cells at concurrency {CONCURRENCY}; provider stopped at {out['stopped_at']} s, back at "
        f"{out['restarted_at']} s; breaker {out['breaker']}; campaign {checks['campaign_status']} at "
        f"{out['wall_s']} s; statuses {checks['statuses']}; "
        f"attempt errors {checks['attempt_errors']}"
    )
    return {"passed": passed, "summary": summary, **out, **checks}
