"""Which scenarios each mode runs, in which order, against which simulator, and their targets.

Peers run one after the other (the machine has 2 cores), each in a fresh process, each
after the machine has gone quiet. Results go to ``bench/results/<mode>.json`` and from
there into ``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import time
from typing import Any

from bench.harness import ROOT, ChildFailed, SimProcess, bench_env, run_child, wait_quiet

__all__ = ["MODES", "RESULTS_DIR", "TARGETS", "run_suite"]

RESULTS_DIR = ROOT / "bench" / "results"
THROUGHPUT_MODEL = "bench@ttft=200,gap=20,len=64,jitter=0"
LATENCY_MODEL_C1 = "latency@ttft=50,gap=10,len=8,jitter=0,stamp=1"
LATENCY_MODEL_C500 = "latency@ttft=200,gap=20,len=64,jitter=0,stamp=1"
RATE_MODEL = "limited@ttft=200,gap=20,len=16,jitter=0"
BARE_PEERS = ["httpx", "httpx_aiohttp", "aiohttp"]
PEERS = [*BARE_PEERS, "openai_sdk", "copygen_inline", "copygen_workers"]

TARGETS = {
    "vs_fastest_bare": 0.7,
    "vs_openai_sdk": 3.0,
    "latency_c1_p50_ms": 5.0,
    "latency_c1_p99_ms": 25.0,
    "latency_c500_p99_ms": 50.0,
    "fanout_ratio": 1.0,
    "writes_ratio": 0.95,
    "memory_vs_httpx": 2.0,
    "rate_utilisation": 0.95,
}

MODES: dict[str, dict[str, Any]] = {
    "quick": {
        "throughput": [(1000, 200)],
        "latency": [
            (1, 100, LATENCY_MODEL_C1, "inline"),
            (500, 1000, LATENCY_MODEL_C500, "inline"),
            (500, 1000, LATENCY_MODEL_C500, "workers"),
        ],
        "fanout": {"n": 1000, "concurrency": 1000, "viewers": 50},
        "writes": [("sqlite", 1000, 200), ("postgres", 1000, 200)],
        "ratelimit": {"rpm": 600, "seconds": 90, "n": 1400, "concurrency": 200},
        # (database, products, templates, models): × 20 variants = 28,800 cells, 480 prompts
        "launch": [("sqlite", 240, 2, 3), ("postgres", 240, 2, 3)],
        "time_limit_s": 150,
    },
    "full": {
        "throughput": [(1000, 200), (1000, 1000), (5000, 200), (5000, 1000)],
        "latency": [
            (1, 200, LATENCY_MODEL_C1, "inline"),
            (500, 2500, LATENCY_MODEL_C500, "inline"),
            (500, 2500, LATENCY_MODEL_C500, "workers"),
        ],
        "fanout": {"n": 1000, "concurrency": 1000, "viewers": 50},
        "writes": [("sqlite", 1000, 200), ("postgres", 1000, 200), ("sqlite", 5000, 1000)],
        "ratelimit": {"rpm": 600, "seconds": 90, "n": 1400, "concurrency": 200},
        "launch": [("sqlite", 240, 2, 3), ("postgres", 240, 2, 3), ("sqlite", 500, 5, 2)],
        "time_limit_s": 240,
    },
}


def _say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine_info() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = int(pathlib.Path("/proc/meminfo").read_text().split()[1])
    from importlib.metadata import version

    packages = {}
    for name in ("Django", "channels", "daphne", "httpx", "httpx-aiohttp", "aiohttp", "openai", "psycopg"):
        try:
            packages[name] = version(name)
        except Exception:  # noqa: BLE001 - optional
            packages[name] = "-"
    pg = (
        subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
        if shutil.which("psql")
        else ""
    )
    redis = (
        subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split(" ")[2:3]
        if shutil.which("redis-server")
        else []
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": packages,
        "postgresql": pg,
        "redis": redis[0] if redis else "",
    }


class Suite:
    def __init__(self, mode: str, profile: bool) -> None:
        self.mode = mode
        self.conf = MODES[mode]
        self.profile = profile
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        self.path = RESULTS_DIR / f"{mode}.json"
        self.results: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.results.update(mode=mode, machine=machine_info(), targets=TARGETS)

    def save(self) -> None:
        self.results["updated"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        self.path.write_text(json.dumps(self.results, indent=1, default=str))

    def child(self, name: str, spec: dict[str, Any], sim: SimProcess | None, **kw: Any) -> dict[str, Any]:
        quiet = wait_quiet()
        spec.setdefault("time_limit_s", self.conf["time_limit_s"])
        try:
            result = run_child(name, spec, timeout=spec["time_limit_s"] + 180, sim=sim, **kw)
        except ChildFailed as exc:
            _say(f"  FAILED: {exc}")
            result = {"error": str(exc)[:2000], **{k: spec.get(k) for k in ("peer", "n", "concurrency")}}
        result.setdefault("probes", {})["busy_before"] = quiet
        return result

    # --- groups -------------------------------------------------------------------------
    def throughput(self) -> None:
        sim = SimProcess(args=["--jitter", "0"]).start()
        try:
            runs = []
            for n, c in self.conf["throughput"]:
                for peer in PEERS:
                    _say(f"throughput: {peer} {n} streams at concurrency {c}")
                    sim.reset()
                    spec = {
                        "peer": peer,
                        "url": sim.base_url,
                        "n": n,
                        "concurrency": c,
                        "model": THROUGHPUT_MODEL,
                        "max_tokens": 128,
                    }
                    name = peer if peer.startswith("copygen") else "peer"
                    result = self.child(name, spec, sim)
                    result["sim"] = sim.stats()
                    runs.append(result)
                    _say(f"  {result.get('gen_per_s')} gen/s, {result.get('cpu_ms_per_gen')} ms CPU/gen")
            self.results["throughput"] = runs
        finally:
            sim.stop()
        self.save()

    def latency(self) -> None:
        sim = SimProcess(args=["--jitter", "0"]).start()  # the latency models use its stamp=1 directive
        try:
            runs = []
            for c, n, model, topology in self.conf["latency"]:
                _say(f"latency: {n} generations at concurrency {c} through daphne ({topology})")
                sim.reset()
                spec = {"url": sim.base_url, "n": n, "concurrency": c, "model": model, "topology": topology}
                runs.append(self.child("latency", spec, sim))
                _say(f"  {runs[-1].get('latency_ms')}")
                # The floor: the same streams read by the fastest bare loop, which only parses.
                sim.reset()
                spec = {"peer": "aiohttp", "url": sim.base_url, "n": n, "concurrency": c, "model": model, "max_tokens": 128}
                runs[-1]["bare_first_token_ms"] = self.child("peer", spec, sim).get("first_token_ms")
                _say(f"  bare aiohttp loop: {runs[-1]['bare_first_token_ms']}")
            self.results["latency"] = runs
        finally:
            sim.stop()
        self.save()

    def fanout(self) -> None:
        sim = SimProcess(args=["--jitter", "0"]).start()
        try:
            f = self.conf["fanout"]
            _say(f"fan-out: {f['viewers']} viewers on {f['n']} concurrent generations")
            spec = {
                "url": sim.base_url,
                "n": f["n"],
                "concurrency": f["concurrency"],
                "viewers": f["viewers"],
                "model": THROUGHPUT_MODEL,
            }
            self.results["fanout"] = self.child("copygen_inline", spec, sim)
            _say(f"  {self.results['fanout'].get('fanout')}")
        finally:
            sim.stop()
        self.save()

    def writes(self) -> None:
        sim = SimProcess(args=["--jitter", "0"]).start()
        try:
            runs = []
            for database, n, c in self.conf["writes"]:
                for writes in (True, False):
                    _say(f"writes {'on' if writes else 'off'}: {database}, {n} at {c}")
                    sim.reset()
                    spec = {
                        "url": sim.base_url,
                        "n": n,
                        "concurrency": c,
                        "model": THROUGHPUT_MODEL,
                        "database": database,
                        "writes": writes,
                        "fixed_provider_cap": True,
                    }
                    runs.append(self.child("copygen_inline", spec, sim))
                    _say(f"  {runs[-1].get('gen_per_s')} gen/s")
            self.results["writes"] = runs
        finally:
            sim.stop()
        self.save()

    def ratelimit(self) -> None:
        r = self.conf["ratelimit"]
        sim = SimProcess(args=["--jitter", "0", "--rpm", str(r["rpm"])]).start()
        try:
            _say(f"rate limit: {r['rpm']}/min for {r['seconds']} s")
            spec = {
                "url": sim.base_url,
                "n": r["n"],
                "concurrency": r["concurrency"],
                "model": RATE_MODEL,
                "rpm": r["rpm"],
                "duration_s": r["seconds"],
                "sample_sim": True,
                "time_limit_s": r["seconds"] + 30,
            }
            result = self.child("copygen_inline", spec, sim)
            result["sim"] = sim.stats()
            self.results["ratelimit"] = result
            _say(f"  {result.get('rate')}")
        finally:
            sim.stop()
        self.save()

    def launch(self) -> None:
        runs = []
        for database, products, templates, models in self.conf["launch"]:
            _say(f"launch: {database}, {products} products × {templates} templates × {models} models × 20 variants")
            spec = {"database": database, "products": products, "templates": templates, "models": models}
            runs.append(self.child("launch", spec, None))
            r = runs[-1]
            _say(f"  {r.get('launch_s')} s ({r.get('ms_per_1000_cells')} ms per 1,000 cells), "
                 f"other writer: {r.get('other_write_errors')} failed, longest {r.get('other_write_max_ms')} ms")
        # A file of its own (like the drills'): a launch run leaves the other tables' results be.
        path = RESULTS_DIR / "launch.json"
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        path.write_text(json.dumps({"updated": stamp, "mode": self.mode, "machine": machine_info(), "runs": runs},
                                   indent=1, default=str))

    def profile_run(self) -> None:
        from bench.profile import profile_inline

        sim = SimProcess(args=["--jitter", "0"]).start()
        try:
            runs = []
            for n, c in self.conf["throughput"][:1] + ([(5000, 1000)] if self.mode == "full" else []):
                _say(f"profile: copygen inline, {n} at {c}")
                sim.reset()
                wait_quiet()
                runs.append(profile_inline(sim, n=n, concurrency=c, model=THROUGHPUT_MODEL))
            self.results["profile"] = runs
        finally:
            sim.stop()
        self.save()


GROUPS = ["throughput", "latency", "fanout", "writes", "ratelimit", "launch"]


def run_suite(*, mode: str, only: list[str], profile: bool) -> int:
    suite = Suite(mode, profile)
    groups = only or GROUPS + (["profile"] if profile else [])
    _say(f"mode {mode}: {', '.join(groups)}; logs in the temp directory (copygen-bench)")
    _ = bench_env  # the children's environment is built there
    for group in groups:
        getattr(suite, "profile_run" if group == "profile" else group)()
    from bench.report import write_report

    path = write_report()
    _say(f"results: {suite.path.relative_to(ROOT)}; report: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_suite(mode="quick", only=sys.argv[1:], profile=False))
