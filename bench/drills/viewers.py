"""1,000 idle websocket viewers on daphne while a campaign runs: the server stays responsive."""

from __future__ import annotations

from typing import Any

from bench.harness import SimProcess
from bench.live import run_idle_viewers

VIEWERS, N, CONCURRENCY = 1000, 1000, 200
RESPONSIVE_P99_MS = 500.0


def drill(spec: dict[str, Any]) -> dict[str, Any]:
    sim = SimProcess(args=["--jitter", "0"]).start()
    try:
        out = run_idle_viewers(
            {
                "url": sim.base_url,
                "n": N,
                "concurrency": CONCURRENCY,
                "viewers": VIEWERS,
                "model": "viewers@ttft=200,gap=20,len=64,jitter=0",
                "time_limit_s": 120,
                "topology": spec.get("topology", "inline"),
            }
        )
    finally:
        sim.stop()
    during = out.get("api_ms_during_campaign") or {}
    passed = (
        out.get("viewers_connected") == VIEWERS
        and out.get("viewers_still_open") == VIEWERS
        and out.get("campaign_status") == "completed"
        and (during.get("p99") or 1e9) <= RESPONSIVE_P99_MS
    )
    summary = (
        f"{out.get('viewers_connected')}/{VIEWERS} viewers connected in {out.get('connect_all_s')} s, "
        f"{out.get('viewers_still_open')} still open at the end; API p50/p99 ms: before "
        f"{_pp(out.get('api_ms_baseline'))}, with idle viewers {_pp(out.get('api_ms_idle_viewers'))}, during "
        f"the campaign ({N} at {CONCURRENCY}) {_pp(during)} (responsive: p99 ≤ {RESPONSIVE_P99_MS:g} ms); "
        f"campaign {out.get('campaign_status')} ({out.get('succeeded')} succeeded); the one live viewer on it saw "
        f"the finish: {out.get('live_viewer_saw_finish')}; server RSS {out.get('server_rss_mb')} MB"
    )
    return {"passed": passed, "summary": summary, **out}


def _pp(p: dict[str, Any] | None) -> str:
    return f"{p.get('p50')}/{p.get('p99')}" if p else "–"
