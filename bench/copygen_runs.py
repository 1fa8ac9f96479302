"""copygen itself, as users run it: a real campaign, launched, run by the real engine.

- ``run_inline``: the embedded default — the engine in this process (``build_engine``) on the
  :class:`DatabaseJobStore` (SQLite, or PostgreSQL with ``database="postgres"``), publishing
  to the in-memory channel layer; optionally with channel-layer viewers (fan-out) or with a
  store whose ``finish`` writes nothing (the cost of the database writes).
- ``run_workers``: scale-out — ``manage.py generation_worker`` processes on PostgreSQL and
  Redis, the campaign launched from here as the web side would.

Both check that every result was stored, byte for byte what the simulator sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pathlib
import signal
import subprocess
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bench.harness import (
    LOG_DIR,
    PY,
    REDIS_BENCH_URL,
    ROOT,
    RssSampler,
    bench_env,
    die_with_parent,
    memory_summary,
    pg_database,
    proc_cpu_seconds,
    proc_rss_bytes,
)

__all__ = ["WorkerGroup", "make_campaign", "run_inline", "run_workers", "running_workers", "setup_django"]

log = logging.getLogger("bench")


# --- Django side --------------------------------------------------------------------------
def setup_django(database_url: str, *, redis_url: str = "", engine: str = "inline") -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["COPYGEN_ENGINE"] = engine
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def make_campaign(
    *,
    sim_url: str,
    n: int,
    concurrency: int,
    model: str,
    max_tokens: int = 128,
    rpm: int | None = None,
    name: str = "bench",
    username: str = "bench",
) -> Any:
    """A draft campaign of ``n`` cells (products × 1 template × 1 model × variants)."""
    from django.contrib.auth import get_user_model

    from campaigns.models import LLMModel, Product, PromptTemplate, Provider
    from campaigns.services.launch import campaign_create

    user, _ = get_user_model().objects.get_or_create(username=username)
    provider, _ = Provider.objects.update_or_create(
        name="Simulator",
        defaults={"base_url": sim_url, "max_concurrency": concurrency, "rpm_limit": rpm},
    )
    llm, _ = LLMModel.objects.get_or_create(
        provider=provider,
        name=model,
        defaults={"input_usd_per_mtok": Decimal("0.15"), "output_usd_per_mtok": Decimal("0.60")},
    )
    template, _ = PromptTemplate.objects.get_or_create(
        name="Bench", defaults={"body": "Write a short, warm product description for {{ product.name }}."}
    )
    variants = 20 if n % 20 == 0 else 1
    products = Product.objects.bulk_create(
        [Product(name=f"{name} product {i}", description="A bench product.") for i in range(n // variants)]
    )
    return campaign_create(
        owner=user,
        name=name,
        product_ids=[p.id for p in products],
        template_ids=[template.id],
        model_ids=[llm.id],
        variants=variants,
        max_tokens=max_tokens,
        budget_usd=Decimal("1000"),
    )


def _launch(campaign_id: int) -> float:
    from campaigns.models import Campaign
    from campaigns.services.launch import campaign_launch

    owner = Campaign.objects.select_related("owner").get(id=campaign_id).owner
    t0 = time.monotonic()
    campaign_launch(campaign_id=campaign_id, actor=owner, token=None)
    return time.monotonic() - t0


def _sim_completions(sim_url: str) -> dict[str, Any]:
    base = sim_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(base + "/_sim/completions", timeout=30) as resp:
        return dict(json.loads(resp.read()))


def _check_results(campaign_id: int, sim_url: str) -> dict[str, Any]:
    """Every cell succeeded and stored exactly the text the simulator sent for it."""
    from campaigns.models import Attempt, Campaign, Generation

    rows = list(Generation.objects.filter(campaign_id=campaign_id).values_list("status", "response_id", "text"))
    sent = _sim_completions(sim_url)
    statuses = Counter(s for s, _, _ in rows)
    stored_ok = sum(1 for s, rid, text in rows if s == "succeeded" and rid in sent and sent[rid]["text"] == text)
    errors = Counter(
        e.split(":")[0][:60]
        for e in Attempt.objects.filter(generation__campaign_id=campaign_id)
        .exclude(error="")
        .values_list("error", flat=True)
    )
    campaign = Campaign.objects.get(id=campaign_id)
    starts = list(
        Generation.objects.filter(campaign_id=campaign_id, started_at__isnull=False).values_list(
            "started_at", "finished_at"
        )
    )
    t0 = campaign.launched_at
    started_hist: Counter[int] = Counter(int((s - t0).total_seconds() * 2) for s, _ in starts)
    finished_hist: Counter[int] = Counter(int((f - t0).total_seconds() * 2) for _, f in starts if f)
    durations = sorted(
        d
        for d in Attempt.objects.filter(generation__campaign_id=campaign_id).values_list("duration_ms", flat=True)
        if d is not None
    )
    ttfts = sorted(
        d
        for d in Attempt.objects.filter(generation__campaign_id=campaign_id).values_list("ttft_ms", flat=True)
        if d is not None
    )
    spent = sum(
        (g for g in Generation.objects.filter(campaign_id=campaign_id).values_list("cost_usd", flat=True)), Decimal(0)
    )
    return {
        "cells": len(rows),
        "statuses": dict(statuses),
        "stored_exactly": stored_ok,
        "all_stored": stored_ok == len(rows),
        "attempt_errors": dict(errors),
        "pool_timeouts": sum(n for e, n in errors.items() if "PoolTimeout" in e or "pool" in e.lower()),
        "campaign_status": campaign.status,
        "books_balance": campaign.spent_usd == spent and campaign.reserved_usd == 0,
        "attempt_ms_p50_p99_max": _pcts(durations),
        "engine_ttft_ms_p50_p99_max": _pcts(ttfts),
        "started_per_half_second": [started_hist.get(i, 0) for i in range(max(started_hist, default=0) + 1)][:80],
        "finished_per_half_second": [finished_hist.get(i, 0) for i in range(max(finished_hist, default=0) + 1)][:80],
    }


def _pcts(values: list[float]) -> list[float] | None:
    if not values:
        return None
    return [round(values[int(q * (len(values) - 1))], 1) for q in (0.5, 0.99, 1.0)]


class _LogCounter(logging.Handler):
    """Counts logged errors; 'database is locked' separately."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.locked = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        if "database is locked" in text:
            self.locked += 1
        self.counts[record.getMessage()[:80]] += 1


# --- inline -------------------------------------------------------------------------------
@contextlib.contextmanager
def _database(kind: str) -> Iterator[str]:
    if kind == "postgres":
        with pg_database() as url:
            yield url
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="copygen-bench-") as tmp:
        yield f"sqlite:///{tmp}/bench.sqlite3"


def run_inline(spec: dict[str, Any]) -> dict[str, Any]:
    with _database(spec.get("database", "sqlite")) as url:
        setup_django(url)
        writes = spec.get("writes", True)
        n, c = spec["n"], spec["concurrency"]
        # Without writes, finished cells stay "running" in the database: let the engine's own
        # limit, not the provider's (counted from the database), bound the concurrency.
        cap = n + c if (not writes or spec.get("fixed_provider_cap")) else c
        campaign = make_campaign(
            sim_url=spec["url"],
            n=n,
            concurrency=cap,
            model=spec["model"],
            max_tokens=spec.get("max_tokens", 128),
            rpm=spec.get("rpm"),
        )
        launch_s = _launch(campaign.id)
        counter = _LogCounter()
        logging.getLogger().addHandler(counter)
        result = asyncio.run(_drive_inline(spec, campaign.id, writes))
        result.update(
            launch_s=round(launch_s, 3),
            database=spec.get("database", "sqlite"),
            writes=writes,
            rpm=spec.get("rpm"),
            db_locked_errors=counter.locked,
            logged_errors=dict(counter.counts),
        )
        if writes and not spec.get("duration_s"):
            result.update(_check_results(campaign.id, spec["url"]))
        return result


class _SimSampler:
    """Polls the simulator's counters every second on a thread: ``(seconds, streams, rate_limited)``."""

    def __init__(self, sim_url: str) -> None:
        import threading

        self.url = sim_url.rsplit("/v1", 1)[0] + "/_sim/stats"
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(self.url, timeout=2) as resp:
                    stats = json.loads(resp.read())
                self.samples.append((time.monotonic() - t0, int(stats["streams"]), int(stats["rate_limited"])))
            self._stop.wait(1.0)

    def start(self) -> _SimSampler:
        self._thread.start()
        return self

    def stop(self, limit: int) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(5)
        s = self.samples
        if len(s) < 2:
            return {}
        end = s[-1][0]

        def at(t: float) -> int:
            return max((streams for ts, streams, _ in s if ts <= t), default=0)

        windows = [at(t + 60) - at(t) for t, _, _ in s if t + 60 <= end + 0.5]
        last = at(end) - at(end - 60)
        return {
            "seconds": round(end, 1),
            "accepted": s[-1][1],
            "rate_limited_429": s[-1][2],
            "best_60s_window": max(windows, default=None),
            "last_60s_window": last,
            "utilisation_last_60s": round(last / limit, 3),
            "ideal_accepted": limit * (1 + int(end // 60)),
            "streams_per_second": [b[1] - a[1] for a, b in zip(s, s[1:], strict=False)],
        }


class _TimedStore:
    """Wraps a store: calls, seconds and the largest batch of each method (where the time goes)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.largest: Counter[str] = Counter()
        self.timeline: list[tuple[float, str, float, int]] = []
        self.t0 = time.monotonic()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def timed(**kwargs: Any) -> Any:
            t = time.monotonic()
            out = await method(**kwargs)
            took = time.monotonic() - t
            size = len(out) if name == "claim" else len(kwargs.get("results") or kwargs.get("progress") or ())
            self.calls[name] += 1
            self.seconds[name] += took
            self.largest[name] = max(self.largest[name], size)
            self.timeline.append((round(t - self.t0, 3), name, round(took, 3), size))
            return out

        return timed

    def summary(self) -> dict[str, Any]:
        return {
            name: {"calls": self.calls[name], "seconds": round(self.seconds[name], 3), "largest": self.largest[name]}
            for name in self.calls
        }


class _NoWriteStore:
    """The database store, except that ``finish`` writes nothing (the 'writes off' baseline)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def finish(self, *, owner: str, results: Sequence[Any]) -> list[Mapping[str, Any]]:
        """Nothing written; each finished result is announced as if it were (the run's end is seen)."""
        from campaigns.engine.events import generation_finished

        return [
            generation_finished(r.campaign_id, {
                "id": r.job_id, "product_id": 0, "template_id": 0, "model_id": r.model_id or 0, "variant": 0,
                "language": "", "served_by_id": r.model_id, "status": str(r.status), "text": r.text,
                "ttft_ms": r.ttft_ms, "latency_ms": r.latency_ms, "tokens_in": r.tokens_in, "tokens_out": r.tokens_out,
                "cost_usd": str(r.cost_usd), "cost_source": r.cost_source, "attempts": r.attempts, "error": r.error,
                "rating": "", "approved": False, "edited_text": "",
            })
            for r in results
            if r.status != "released"
        ]


class _Viewers:
    """``count`` subscribers of the campaign's group on the channel layer, rebuilding every cell's text."""

    def __init__(self, layer: Any, group: str, count: int) -> None:
        self.layer, self.group, self.count = layer, group, count
        self.texts: list[dict[int, list[str]]] = [defaultdict(list) for _ in range(count)]
        self.offset_errors = [0] * count
        self.events = [0] * count
        self.messages = [0] * count
        self.channel_full = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.channels: list[str] = []

    async def start(self) -> None:
        from channels.exceptions import ChannelFull

        send = self.layer.send

        async def counting_send(channel: str, message: dict[str, Any]) -> None:
            try:
                await send(channel, message)
            except ChannelFull:
                self.channel_full += 1
                raise

        self.layer.send = counting_send
        for i in range(self.count):
            channel = await self.layer.new_channel("bench-viewer.")
            await self.layer.group_add(self.group, channel)
            self.channels.append(channel)
            self.tasks.append(asyncio.create_task(self._read(i, channel)))

    async def _read(self, i: int, channel: str) -> None:
        from campaigns.services.publish import flatten

        texts, lengths = self.texts[i], defaultdict(int)
        while True:
            message = await self.layer.receive(channel)
            self.messages[i] += 1
            for event in flatten(message):
                self.events[i] += 1
                if event.get("type") == "generation.delta":
                    gid = int(event["id"])
                    if int(event["offset"]) != lengths[gid]:
                        self.offset_errors[i] += 1
                    texts[gid].append(event["text"])
                    lengths[gid] += len(event["text"])

    async def drain(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(not q.empty() for q in getattr(self.layer, "channels", {}).values()):
            await asyncio.sleep(0.05)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def ratios(self, stored: dict[int, str]) -> dict[str, Any]:
        generated = sum(len(t) for t in stored.values())
        per_viewer = []
        exact = []
        for texts in self.texts:
            delivered = {gid: "".join(parts) for gid, parts in texts.items()}
            per_viewer.append(sum(len(t) for t in delivered.values()) / max(generated, 1))
            exact.append(sum(1 for gid, text in stored.items() if delivered.get(gid) == text))
        return {
            "viewers": self.count,
            "ratio_min": round(min(per_viewer), 4) if per_viewer else None,
            "ratio_max": round(max(per_viewer), 4) if per_viewer else None,
            "cells_exact_min": min(exact) if exact else None,
            "cells": len(stored),
            "offset_errors": sum(self.offset_errors),
            "channel_full": self.channel_full,
            "events_per_viewer": round(sum(self.events) / max(self.count, 1)),
            "messages_per_viewer": round(sum(self.messages) / max(self.count, 1)),
        }


def _start_profiler(path: str) -> subprocess.Popen[bytes]:
    """py-spy on this very process, from now on: the engine's run only, not the setup."""
    import shutil
    import sys

    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    proc = subprocess.Popen(
        [spy, "record", "--pid", str(os.getpid()), "--format", "raw", "--nolineno", "--rate", "200", "-o", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # let it attach
    return proc


async def _drive_inline(spec: dict[str, Any], campaign_id: int, writes: bool) -> dict[str, Any]:
    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer

    from campaigns.services.publish import campaign_group, flatten, publish_event
    from campaigns.services.runner import build_engine

    n, c = spec["n"], spec["concurrency"]
    engine = build_engine(kind="bench", max_in_flight=c)
    db_store = engine.store
    store = _TimedStore(db_store if writes else _NoWriteStore(db_store))
    engine.store = store
    done = asyncio.Event()
    events: Counter[str] = Counter()
    publish_s = 0.0

    async def publish(cid: int, event: Mapping[str, Any]) -> None:
        nonlocal publish_s
        events["messages"] += 1
        for one in flatten(event):
            kind = str(one.get("type"))
            events[kind] += 1
            if kind == "campaign.finished" or (
                not writes and kind == "generation.finished" and events["generation.finished"] >= n
            ):
                done.set()
        t = time.perf_counter()
        await publish_event(cid, event)
        publish_s += time.perf_counter() - t

    engine.publish = publish
    viewers = None
    if spec.get("viewers"):
        viewers = _Viewers(get_channel_layer(), campaign_group(campaign_id), spec["viewers"])
        await viewers.start()
    spy = _start_profiler(spec["profile_to"]) if spec.get("profile_to") else None
    baseline = proc_rss_bytes()
    sampler = RssSampler().start()
    sim_sampler = _SimSampler(spec["url"]).start() if spec.get("sample_sim") else None
    cpu0, t0 = time.process_time(), time.monotonic()
    task = asyncio.create_task(engine.run())
    try:
        await asyncio.wait_for(done.wait(), spec.get("duration_s") or spec.get("time_limit_s", 600))
        finished = True
    except TimeoutError:
        finished = False
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    samples = sampler.stop()
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        await asyncio.get_running_loop().run_in_executor(None, spy.wait, 60)
    max_outbox = engine._outbox.qsize()
    await engine.stop()
    engine._stopping = True
    await asyncio.wait_for(task, 60)
    await engine.client.aclose()
    await asyncio.to_thread(db_store.close)  # type: ignore[attr-defined]
    result: dict[str, Any] = {
        "peer": "copygen_inline" if spec.get("database", "sqlite") == "sqlite" else "copygen_inline_pg",
        "n": n,
        "concurrency": c,
        "finished": finished,
        "wall_s": round(wall, 3),
        "gen_per_s": round((n if finished else events["generation.finished"]) / wall, 2),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_gen": round(cpu * 1000 / max(events["generation.finished"], 1), 3),
        "events": dict(events),
        "publish_s": round(publish_s, 3),
        "outbox_left_at_end": max_outbox,
        "store": store.summary(),
        "store_timeline": store.timeline[:60] if spec.get("timeline") else None,
        "memory": memory_summary(samples, baseline, c),
    }
    if sim_sampler is not None:
        result["rate"] = sim_sampler.stop(int(spec.get("rpm") or 0) or 1)
    if viewers is not None:
        await viewers.drain()
        from campaigns.models import Generation

        stored = await sync_to_async(
            lambda: dict(Generation.objects.filter(campaign_id=campaign_id).values_list("id", "text"))
        )()
        result["fanout"] = viewers.ratios(stored)
    return result


# --- generation_worker processes ----------------------------------------------------------
def _start_worker(env: dict[str, str], max_in_flight: int) -> subprocess.Popen[bytes]:
    """A generation_worker whose output goes to a file (a pipe nobody reads would fill up and
    block the worker on its next log line)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"worker-{time.time_ns()}.log", "w+b")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [
            PY,
            str(ROOT / "manage.py"),
            "generation_worker",
            "--max-in-flight",
            str(max_in_flight),
            "--poll-interval",
            "0.2",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    proc.log_path = log.name  # type: ignore[attr-defined]
    return proc


def _worker_output(worker: subprocess.Popen[bytes]) -> str:
    path = getattr(worker, "log_path", "")
    return pathlib.Path(path).read_text(errors="replace") if path else ""


def _wait_running(workers: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout
    for w in workers:
        while "running" not in _worker_output(w):
            if w.poll() is not None:
                raise RuntimeError(f"a worker exited with {w.returncode}: {_worker_output(w)[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start in time")
            time.sleep(0.1)
    return [_worker_output(w).strip().splitlines()[-1] for w in workers]


def worker_env(database_url: str, **extra: str) -> dict[str, str]:
    return bench_env(
        **{"DATABASE_URL": database_url, "REDIS_URL": REDIS_BENCH_URL, "COPYGEN_ENGINE": "worker", **extra}
    )


def stop_workers(workers: Sequence[subprocess.Popen[bytes]], timeout: float = 60.0) -> list[str]:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait(5)
    return [_worker_output(w)[-4000:] for w in workers]


@dataclass
class WorkerGroup:
    procs: list[subprocess.Popen[bytes]]
    outputs: list[str] = field(default_factory=list)
    """The end of each worker's output, once they have been stopped."""


@contextlib.contextmanager
def running_workers(
    database_url: str, max_in_flight: int, *, count: int = 2, stop_timeout: float = 60.0, **env: str
) -> Iterator[WorkerGroup]:
    """``count`` generation workers on ``database_url``, each past its "running" line; SIGTERM'd
    (killed after ``stop_timeout``) on the way out."""
    group = WorkerGroup([_start_worker(worker_env(database_url, **env), max_in_flight) for _ in range(count)])
    try:
        _wait_running(group.procs)
        yield group
    finally:
        group.outputs = stop_workers(group.procs, timeout=stop_timeout)


def campaign_status(campaign_id: int) -> str | None:
    from campaigns.models import Campaign

    return Campaign.objects.filter(id=campaign_id).values_list("status", flat=True).first()


def wait_campaign(campaign_id: int, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if campaign_status(campaign_id) != "running":
            return True
        time.sleep(interval)
    return False


def run_workers(spec: dict[str, Any]) -> dict[str, Any]:
    n, c, count = spec["n"], spec["concurrency"], spec.get("workers", 2)
    with pg_database() as url:
        setup_django(url, redis_url=REDIS_BENCH_URL, engine="worker")
        campaign = make_campaign(
            sim_url=spec["url"], n=n, concurrency=c, model=spec["model"], max_tokens=spec.get("max_tokens", 128)
        )
        with running_workers(url, c, count=count) as group:
            workers = group.procs
            pids: list[int | str] = [w.pid for w in workers]
            time.sleep(0.5)
            baseline = sum(proc_rss_bytes(p) for p in pids)
            cpu0 = sum(proc_cpu_seconds(p) for p in pids)  # type: ignore[arg-type]
            sampler = RssSampler(pids).start()
            t0 = time.monotonic()
            launch_s = _launch(campaign.id)
            finished = wait_campaign(campaign.id, spec.get("time_limit_s", 600))
            wall = time.monotonic() - t0
            cpu = sum(proc_cpu_seconds(p) for p in pids) - cpu0  # type: ignore[arg-type]
            samples = sampler.stop()
        outputs = group.outputs
        checks = _check_results(campaign.id, spec["url"])
        done = checks["statuses"].get("succeeded", 0)
        return {
            "peer": "copygen_workers",
            "n": n,
            "concurrency": c,
            "workers": count,
            "finished": finished,
            "wall_s": round(wall, 3),
            "gen_per_s": round(done / wall, 2),
            "cpu_s": round(cpu, 3),
            "cpu_ms_per_gen": round(cpu * 1000 / max(done, 1), 3),
            "launch_s": round(launch_s, 3),
            "memory": memory_summary(samples, baseline, c),
            "worker_exit_codes": [w.returncode for w in workers],
            "worker_tail": [o[-400:] for o in outputs],
            **checks,
        }
