"""Redis shut down and started again mid-campaign: nothing lost, nothing failed, Redis restored.

By default the drill runs its own Redis on a free loopback port, so nothing else that uses
Redis (CI, other test runs) is disturbed. ``--force`` restarts the shared Redis on 6379
instead (``redis-cli shutdown nosave``, then the CI's own start command), and only when no
other client is connected unless forced; either way Redis is always started again.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from bench.copygen_runs import _launch, wait_campaign
from bench.drills._common import audit, worker_setup
from bench.harness import die_with_parent, free_port, redis_clients, redis_up

N, CONCURRENCY, DOWN_S = 1000, 200, 5
SHARED_PORT = 6379
SHARED_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    str(SHARED_PORT),
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


class _Redis:
    """A Redis this drill may stop and start: its own (default) or the shared one."""

    def __init__(self, shared: bool) -> None:
        self.shared = shared
        self.port = SHARED_PORT if shared else free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        if self.shared:
            if not redis_up(self.port):
                subprocess.run(SHARED_START, check=False, timeout=30)
        elif self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        for _ in range(50):
            if redis_up(self.port):
                return True
            time.sleep(0.2)
        return False

    def shutdown(self) -> None:
        subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "shutdown", "nosave"],
            check=False,
            timeout=10,
            capture_output=True,
        )
        if self.proc is not None:
            self.proc.wait(10)

    @contextlib.contextmanager
    def running(self) -> Iterator[_Redis]:
        try:
            if not self.start():
                raise RuntimeError(f"Redis did not start on port {self.port}")
            yield self
        finally:
            if self.shared:
                self.start()  # the shared Redis is always left running
            else:
                self.shutdown()


def drill(spec: dict[str, Any]) -> dict[str, Any]:
    shared = bool(spec.get("force"))
    if shared and not redis_up():
        return {"passed": False, "summary": "Redis is not running on 127.0.0.1:6379"}
    if shared and (others := redis_clients()) and not spec.get("force"):
        return {"passed": None, "summary": f"skipped: {len(others)} other clients use the shared Redis"}
    redis = _Redis(shared)
    restored = False
    with redis.running():
        url = f"redis://127.0.0.1:{redis.port}/1"
        # An rpm limit makes every request go through the shared (Redis) rate limiter.
        with worker_setup(n=N, concurrency=CONCURRENCY, rpm=100_000, redis_url=url) as s:
            from campaigns.models import Generation  # Django is set up by now

            t0 = time.monotonic()
            _launch(s.campaign.id)
            while time.monotonic() - t0 < 45:
                if Generation.objects.filter(campaign_id=s.campaign.id, status="succeeded").count() >= N // 4:
                    break
                time.sleep(0.1)
            down_at = round(time.monotonic() - t0, 1)
            redis.shutdown()
            time.sleep(DOWN_S)
            restored = redis.start()
            back_at = round(time.monotonic() - t0, 1)
            finished = wait_campaign(s.campaign.id, 100)
            wall = round(time.monotonic() - t0, 1)
            alive = [w.poll() is None for w in s.workers]
            result = audit(s)
    failed = result["statuses"].get("failed", 0)
    passed = finished and result["lost"] == 0 and result["duplicated"] == 0 and failed == 0 and all(alive) and restored
    summary = (
        f"{N} cells, 2 workers sharing an rpm limit through {'the shared' if shared else 'a private'} Redis; "
        f"Redis down from {down_at} s to {back_at} s; campaign {result['campaign_status']} at {wall} s; "
        f"statuses {result['statuses']}; lost {result['lost']}, duplicated {result['duplicated']}; "
        f"workers alive after: {alive}; attempt errors {result['attempt_errors']}; Redis back: {restored}"
    )
    return {"passed": passed, "summary": summary, **result}
