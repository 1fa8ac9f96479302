"""What a person watching sees, through a real daphne server on loopback.

- ``run_latency``: the time from the simulator writing a stream's first token to that token
  arriving in a websocket viewer's hands (simulator → engine → coalescer → channel layer →
  consumer → daphne → websocket), read off one clock (CLOCK_MONOTONIC, shared by every
  process of the machine) stamped into the token by the simulator.
- ``run_idle_viewers``: 1,000 idle websocket viewers connected while a campaign runs; the
  API's latency before, with them idle, and during the campaign.

The server is the embedded default: daphne with the engine inline, SQLite, the in-memory
channel layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from bench.harness import PY, ROOT, bench_env, die_with_parent, free_port, proc_cpu_seconds, proc_rss_bytes

__all__ = ["run_idle_viewers", "run_latency"]

STAMP = re.compile(r"^\[t=(\d+)\]")


@contextlib.contextmanager
def daphne_server(
    database_url: str, *, max_in_flight: int, workers_redis_url: str = ""
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """daphne on ``database_url``: the engine inline, or (``workers_redis_url``) web only,
    its channel layer on that Redis, the generation workers elsewhere."""
    port = free_port()
    env = bench_env(DATABASE_URL=database_url, COPYGEN_ENGINE="inline", COPYGEN_MAX_IN_FLIGHT=str(max_in_flight))
    if workers_redis_url:
        env.update(COPYGEN_ENGINE="worker", REDIS_URL=workers_redis_url)
    log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log", delete=False)  # noqa: SIM115
    daphne = os.environ.get("BENCH_DAPHNE", "").split() or [PY, "-m", "daphne"]
    proc = subprocess.Popen(
        [*daphne, "-b", "127.0.0.1", "-p", str(port), "copygen.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    try:
        import socket

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited: {open(log.name).read()[-2000:]}")
            time.sleep(0.1)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _setup(sim_url: str, n: int, concurrency: int, model: str, *, extra_campaigns: int = 0) -> dict[str, Any]:
    from bench.copygen_runs import make_campaign
    from campaigns.services.tokens import token_create

    campaign = make_campaign(sim_url=sim_url, n=n, concurrency=concurrency, model=model, max_tokens=128)
    _, token = token_create(user=campaign.owner, scopes=["read", "write", "launch"])
    others = [
        make_campaign(sim_url=sim_url, n=20, concurrency=concurrency, model=model, name=f"idle {i}").id
        for i in range(extra_campaigns)
    ]
    return {"campaign_id": campaign.id, "token": token, "others": others}


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))], 2)

    return {"count": len(ordered), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": round(ordered[-1], 2)}


async def _watch(port: int, token: str, campaign_id: int, time_limit: float, out: dict[str, Any]) -> None:
    """Launch the campaign through the API and read its websocket until it finishes (or goes
    quiet for 10 s); ``out`` fills in as events arrive, so a caller that gives up keeps them."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Origin": f"http://127.0.0.1:{port}"}
    first_tokens: dict[int, float] = out.setdefault("first_token_ms", {})
    kinds: Counter[str] = out.setdefault("kinds", Counter())
    texts: dict[int, list[str]] = out.setdefault("texts", defaultdict(list))
    lengths: Counter[int] = Counter()
    out.update(finished=False, offset_gaps=0)
    last_report = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            f"ws://127.0.0.1:{port}/ws/campaigns/{campaign_id}/", headers=headers, max_msg_size=0
        ) as ws:
            snapshot = await ws.receive_json(timeout=30)
            assert snapshot["type"] == "campaign.snapshot", snapshot
            async with session.post(
                f"http://127.0.0.1:{port}/api/v1/campaigns/{campaign_id}/launch",
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status < 300, await resp.text()
            deadline = time.monotonic() + time_limit
            while time.monotonic() < deadline:
                try:
                    msg = await ws.receive(timeout=min(10.0, max(deadline - time.monotonic(), 0.1)))
                except TimeoutError:
                    out["went_quiet"] = True
                    break
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                now = time.monotonic_ns()
                frame = msg.json()
                kinds["frames"] += 1
                if _apply_frame(frame, now, out, kinds, texts, lengths, first_tokens):
                    out["finished"] = True
                    break
                if time.monotonic() - last_report > 2:
                    last_report = time.monotonic()
                    print(f"viewer: {dict(kinds)}", file=sys.stderr, flush=True)


def _apply_frame(
    frame: dict[str, Any],
    now: int,
    out: dict[str, Any],
    kinds: Counter[str],
    texts: dict[int, list[str]],
    lengths: Counter[int],
    first_tokens: dict[int, float],
) -> bool:
    """Apply one websocket frame (a ``campaign.batch`` is its events, in order); True once
    ``campaign.finished`` arrived."""
    from campaigns.services.publish import flatten

    for event in flatten(frame):
        kind = str(event.get("type"))
        kinds[kind] += 1
        if kind == "generation.delta":
            gid, text = int(event["id"]), str(event.get("text", ""))
            if int(event.get("offset", -1)) != lengths[gid]:
                out["offset_gaps"] += 1
            if event.get("offset") == 0 and (match := STAMP.match(text)):
                first_tokens[gid] = (now - int(match.group(1))) / 1e6
            texts[gid].append(text)
            lengths[gid] += len(text)
        elif kind == "campaign.finished":
            return True
    return False


def _delivery(out: dict[str, Any], campaign_id: int, concurrency: int) -> dict[str, Any]:
    """What the viewer rebuilt from the deltas against what was stored."""
    from campaigns.models import Generation

    stored = dict(Generation.objects.filter(campaign_id=campaign_id).values_list("id", "text"))
    delivered = {gid: "".join(parts) for gid, parts in out.get("texts", {}).items()}
    generated = sum(len(t) for t in stored.values())
    return {
        "finished_event_seen": out.get("finished"),
        "events": dict(out.get("kinds", {})),
        "delivered_ratio": round(sum(len(t) for t in delivered.values()) / max(generated, 1), 4),
        "cells_exact": sum(1 for gid, text in stored.items() if delivered.get(gid) == text),
        "cells": len(stored),
        "offset_gaps": out.get("offset_gaps"),
        "stored_succeeded": Generation.objects.filter(campaign_id=campaign_id, status="succeeded").count(),
        "latency_ms": percentiles(list(out.get("first_token_ms", {}).values())),
        "latency_ms_by_wave": _by_wave(sorted(stored), out.get("first_token_ms", {}), concurrency),
    }


def _by_wave(ids: list[int], first_token_of: dict[int, float], concurrency: int) -> list[dict[str, Any]]:
    """Latency percentiles of each wave: the campaign's cells in id order (the order they are
    claimed), ``concurrency`` at a time; a cell whose first token was not seen counts in none."""
    step = max(concurrency, 1)
    waves = [ids[i : i + step] for i in range(0, len(ids), step)]
    return [percentiles([first_token_of[gid] for gid in wave if gid in first_token_of]) for wave in waves]


async def _watch_bounded(port: int, token: str, campaign_id: int, time_limit: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        await asyncio.wait_for(_watch(port, token, campaign_id, time_limit, out), time_limit + 30)
    except TimeoutError:
        out["gave_up"] = True
    return out


def run_latency(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec["topology"]``: ``inline`` (SQLite, the engine inside daphne) or ``workers``
    (PostgreSQL + Redis, daphne only forwards, two generation workers run the campaign)."""
    return _with_topology(spec, _latency_run)


def _latency_run(spec: dict[str, Any], url: str, *, workers_redis_url: str = "") -> dict[str, Any]:
    c = spec["concurrency"]
    ids = _setup(spec["url"], spec["n"], c, spec["model"])
    with daphne_server(url, max_in_flight=max(c, 1), workers_redis_url=workers_redis_url) as (port, proc):
        cpu0 = proc_cpu_seconds(proc.pid)
        t0 = time.monotonic()
        watched = asyncio.run(_watch_bounded(port, ids["token"], ids["campaign_id"], spec.get("time_limit_s", 240)))
        wall = time.monotonic() - t0
        out = _delivery(watched, ids["campaign_id"], c)
        out.update(
            server_cpu_s=round(proc_cpu_seconds(proc.pid) - cpu0, 2),
            wall_s=round(wall, 2),
            server_rss_mb=round(proc_rss_bytes(proc.pid) / 2**20, 1),
        )
    out.update(n=spec["n"], concurrency=c, topology=spec.get("topology", "inline"))
    return out


def _with_topology(spec: dict[str, Any], run: Any) -> dict[str, Any]:
    from bench.copygen_runs import setup_django

    if spec.get("topology") == "workers":
        from bench.copygen_runs import running_workers
        from bench.harness import REDIS_BENCH_URL, pg_database

        with pg_database("copygen_live") as url:
            setup_django(url, redis_url=REDIS_BENCH_URL, engine="worker")
            with running_workers(url, spec["concurrency"]):
                return dict(run(spec, url, workers_redis_url=REDIS_BENCH_URL))
    with tempfile.TemporaryDirectory(prefix="copygen-bench-") as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        setup_django(url)
        return dict(run(spec, url))


# --- idle viewers -------------------------------------------------------------------------
async def _api_probe(session: Any, port: int, token: str, campaign_id: int, seconds: float) -> list[float]:
    url = f"http://127.0.0.1:{port}/api/v1/campaigns/{campaign_id}"
    headers = {"Authorization": f"Bearer {token}"}
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t = time.perf_counter()
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        samples.append((time.perf_counter() - t) * 1000)
        await asyncio.sleep(0.05)
    return samples


async def _idle(port: int, ids: dict[str, Any], viewers: int, campaign_limit: float) -> dict[str, Any]:
    import aiohttp

    token = ids["token"]
    headers = {"Authorization": f"Bearer {token}", "Origin": f"http://127.0.0.1:{port}"}
    connector = aiohttp.TCPConnector(limit=0)
    result: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=connector) as session:
        await _api_probe(session, port, token, ids["campaign_id"], 1)  # warm up: first request, engine start
        result["api_ms_baseline"] = percentiles(await _api_probe(session, port, token, ids["campaign_id"], 5))
        sockets: list[Any] = []
        others = ids["others"]
        t = time.monotonic()
        failed = 0

        async def connect(i: int) -> None:
            nonlocal failed
            try:
                ws = await session.ws_connect(
                    f"ws://127.0.0.1:{port}/ws/campaigns/{others[i % len(others)]}/", headers=headers, heartbeat=None
                )
                await ws.receive_json(timeout=60)  # the snapshot
                sockets.append(ws)
            except Exception:  # noqa: BLE001 - counted
                failed += 1

        for start in range(0, viewers, 50):
            await asyncio.gather(*(connect(i) for i in range(start, min(start + 50, viewers))))
        result["viewers_connected"] = len(sockets)
        result["viewers_failed"] = failed
        result["connect_all_s"] = round(time.monotonic() - t, 2)
        result["api_ms_idle_viewers"] = percentiles(await _api_probe(session, port, token, ids["campaign_id"], 5))
        # Launch the campaign, probe the API while it runs, with one live viewer on it.
        live = asyncio.create_task(_watch_bounded(port, token, ids["campaign_id"], campaign_limit))
        await asyncio.sleep(0.5)
        probes: list[float] = []
        while not live.done():
            probes.extend(await _api_probe(session, port, token, ids["campaign_id"], 1))
        result["api_ms_during_campaign"] = percentiles(probes)
        watched = live.result()
        result["live_viewer_saw_finish"] = watched.get("finished")
        result["live_viewer_first_token_ms"] = percentiles(list(watched.get("first_token_ms", {}).values()))
        result["live_viewer_events"] = dict(watched.get("kinds", {}))
        result["viewers_still_open"] = sum(1 for ws in sockets if not ws.closed)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return result


def run_idle_viewers(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec["topology"]``: ``inline`` or ``workers``, as for :func:`run_latency`."""
    return _with_topology(spec, _idle_run)


def _idle_run(spec: dict[str, Any], url: str, *, workers_redis_url: str = "") -> dict[str, Any]:
    c = spec["concurrency"]
    ids = _setup(spec["url"], spec["n"], c, spec["model"], extra_campaigns=5)
    with daphne_server(url, max_in_flight=c, workers_redis_url=workers_redis_url) as (port, proc):
        t0 = time.monotonic()
        out = asyncio.run(_idle(port, ids, spec["viewers"], spec.get("time_limit_s", 150)))
        out.update(
            wall_s=round(time.monotonic() - t0, 1),
            server_rss_mb=round(proc_rss_bytes(proc.pid) / 2**20, 1),
            server_alive=proc.poll() is None,
        )
    from campaigns.models import Campaign, Generation

    out.update(
        topology=spec.get("topology", "inline"),
        n=spec["n"],
        concurrency=c,
        viewers=spec["viewers"],
        campaign_status=Campaign.objects.get(id=ids["campaign_id"]).status,
        succeeded=Generation.objects.filter(campaign_id=ids["campaign_id"], status="succeeded").count(),
    )
    return out
