"""Where copygen's CPU goes: py-spy samples of the inline engine during a throughput run.

The child runs under ``py-spy record --format raw`` (every thread, idle time left out);
the samples are folded into CPU share by area (the innermost frame's package), by
function (self time) and under a few functions of interest (inclusive time).
"""

from __future__ import annotations

import pathlib
import tempfile
from collections import Counter
from typing import Any

from bench.harness import SimProcess, run_child

__all__ = ["fold", "profile_inline"]

AREAS = [
    ("json (stdlib)", "json/"),
    ("SSE parsing (httpx-sse)", "httpx_sse/"),
    ("httpx-aiohttp transport", "httpx_aiohttp/"),
    ("aiohttp", "aiohttp/"),
    ("httpx", "httpx/"),
    ("httpcore", "httpcore/"),
    ("channel layer (channels)", "channels/"),
    ("copy.deepcopy", "/copy.py"),
    ("Django ORM and database drivers", "django/db/"),
    ("sqlite3 / psycopg", "sqlite3/"),
    ("sqlite3 / psycopg", "psycopg/"),
    ("Django (other)", "django/"),
    ("asgiref (sync_to_async)", "asgiref/"),
    ("copygen engine", "campaigns/engine/"),
    ("copygen providers", "campaigns/providers/"),
    ("copygen services", "campaigns/services/"),
    ("decimal", "decimal"),
    ("asyncio event loop", "asyncio/"),
    ("threading / queues", "threading.py"),
    ("threading / queues", "concurrent/"),
    ("logging", "logging/"),
]
WAITING = {"EpollSelector.select", "select", "_worker", "wait", "Condition.wait", "get", "_wait_for_tstate_lock"}
OF_INTEREST = [
    "stream_chat",
    "_consume",
    "aiter_sse",
    "feed",
    "on_delta",
    "jobs_finish",
    "jobs_claim",
    "jobs_renew",
    "_publisher",
    "publish_event",
    "group_send",
    "deepcopy",
    "_ticker",
    "due",
    "_write",
    "_check_results",
    "run_job",
    "_attempts",
    "acquire",
    "slot",
    "_run",
    "_take",
    "add",
    "_finished_events",
    "send_json",
]


def _frame_file(frame: str) -> str:
    return frame[frame.rfind("(") + 1 :].rstrip(")") if "(" in frame else frame


def _frame_func(frame: str) -> str:
    return frame.split(" (", 1)[0].strip()


def fold(raw: str, *, skip_frames: tuple[str, ...] = ("RssSampler", "_SimSampler", "rss-sampler")) -> dict[str, Any]:
    """Summarise py-spy's raw (collapsed) stacks."""
    total = 0
    areas: Counter[str] = Counter()
    selfs: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        if any(s in stack for s in skip_frames):
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        leaf_file = _frame_file(leaf)
        if _frame_func(leaf).rsplit(".", 1)[-1] in WAITING:
            continue  # a thread parked in select() or on a queue: not CPU
        area = next((name for name, needle in AREAS if needle in leaf_file), "other")
        if area == "other" and ("<built-in>" in leaf or "select" in leaf or "epoll" in leaf):
            area = "system calls / builtins"
        areas[area] += count
        short = leaf_file.split("site-packages/")[-1].split("/lib/python3")[-1]
        selfs[f"{_frame_func(leaf)} ({short})"] += count
        seen = set()
        for frame in frames:
            func = _frame_func(frame)
            name = func.rsplit(".", 1)[-1]
            if name in OF_INTEREST and "campaigns/" in frame or func in {"deepcopy", "InMemoryChannelLayer.group_send"}:
                func = func if func in {"deepcopy", "InMemoryChannelLayer.group_send"} else func
            else:
                continue
            if func not in seen:
                inclusive[func] += count
                seen.add(func)

    def share(counter: Counter[str], top: int) -> list[tuple[str, float]]:
        return [(k, round(100.0 * v / max(total, 1), 1)) for k, v in counter.most_common(top)]

    return {
        "samples": total,
        "areas_pct": share(areas, 20),
        "self_pct": share(selfs, 25),
        "inclusive_pct": share(inclusive, len(OF_INTEREST)),
    }


def profile_inline(sim: SimProcess, *, n: int, concurrency: int, model: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="copygen-profile-") as tmp:
        out = pathlib.Path(tmp) / "stacks.txt"
        spec = {
            "url": sim.base_url,
            "n": n,
            "concurrency": concurrency,
            "model": model,
            "time_limit_s": 300,
            "profile_to": str(out),
        }
        result = run_child("copygen_inline", spec, timeout=480, sim=sim)
        folded = fold(out.read_text()) if out.exists() else {}
        keep = pathlib.Path(tempfile.gettempdir()) / "copygen-bench" / f"profile-{n}-{concurrency}.txt"
        if out.exists():
            keep.write_text(out.read_text())
    return {
        "n": n,
        "concurrency": concurrency,
        "gen_per_s": result.get("gen_per_s"),
        "cpu_ms_per_gen": result.get("cpu_ms_per_gen"),
        "note": "under py-spy (200 samples/s): a little slower than unprofiled",
        "stacks_file": str(keep),
        **folded,
    }
