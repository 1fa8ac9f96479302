"""Failure drills: break something mid-campaign on purpose and check what users rely on.

Each drill runs in a child process of its own, owns its simulator, stays on loopback and
ends within about three minutes. ``python -m bench drills [--only NAME,…]``:

- ``kill_worker``   kill -9 one of two generation_worker processes (PostgreSQL + Redis)
- ``redis_restart`` Redis (a private one unless --force) shut down and started again mid-campaign
- ``outage``        the provider (simulator) stopped for 30 s, then started on the same port
- ``viewers``       1,000 idle websocket viewers while a campaign runs (daphne, engine inline)
- ``viewers_workers`` the same with daphne serving only and two workers running the campaign
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.harness import ChildFailed, run_child, wait_quiet

__all__ = ["DRILLS", "run_drills", "run_one"]

DRILLS = {
    "kill_worker": ("bench.drills.kill_worker", "Kill -9 one of two workers mid-campaign (PostgreSQL + Redis)"),
    "redis_restart": ("bench.drills.redis_restart", "Redis restarted mid-campaign (2 workers, shared rpm limit)"),
    "outage": ("bench.drills.outage", "Provider down for 30 s mid-campaign (inline engine)"),
    "viewers": ("bench.drills.viewers", "1,000 idle websocket viewers + one running campaign (daphne)"),
    "viewers_workers": (
        "bench.drills.viewers",
        "1,000 idle websocket viewers + one campaign run by 2 workers (daphne web only, PostgreSQL + Redis)",
    ),
}
TIME_LIMIT_S = 200


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    import importlib

    module, title = DRILLS[spec["drill"]]
    spec.setdefault("topology", "workers" if spec["drill"].endswith("_workers") else "inline")
    result = dict(importlib.import_module(module).drill(spec))
    result["title"] = title
    return result


def run_drills(*, only: list[str], force: bool, record: bool = True) -> int:
    """Run the drills; with ``record`` (the default) store the results and rewrite the report.
    Returns 1 if any drill failed."""
    from bench.report import write_report
    from bench.suite import RESULTS_DIR

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "drills.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() and record else {}
    failed = 0
    for name in only or list(DRILLS):
        print(f"[drill {time.strftime('%H:%M:%S')}] {DRILLS[name][1]}", flush=True)
        wait_quiet()
        t0 = time.monotonic()
        try:
            result = run_child("drill", {"drill": name, "force": force}, timeout=TIME_LIMIT_S + 60)
        except ChildFailed as exc:
            result = {"title": DRILLS[name][1], "passed": False, "summary": f"the drill itself failed: {exc}"[:1500]}
        result["seconds"] = round(time.monotonic() - t0, 1)
        results[name] = result
        failed += 0 if result.get("passed") else 1
        print(f"  {'PASSED' if result.get('passed') else 'FAILED'}: {result.get('summary')}", flush=True)
        if record:
            path.write_text(json.dumps(results, indent=1, default=str))
    if record:
        write_report()
    return 1 if failed else 0
