"""Processes and probes: the simulator, scenario children, CPU time, memory, services.

Every scenario runs in a child process of its own (``python -m bench child NAME SPEC``),
so its CPU time and memory are its own; the simulator runs in another, so its CPU is
never charged to a client. Children print one ``BENCH_RESULT {json}`` line.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "LOG_DIR",
    "PG_ADMIN_URL",
    "REDIS_BENCH_URL",
    "ROOT",
    "ChildFailed",
    "RssSampler",
    "SimProcess",
    "bench_env",
    "die_with_parent",
    "free_port",
    "machine_cpu",
    "memory_summary",
    "pg_database",
    "proc_cpu_seconds",
    "proc_rss_bytes",
    "redis_clients",
    "redis_up",
    "run_child",
    "wait_quiet",
]

ROOT = pathlib.Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_BENCH_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
RESULT_MARK = "BENCH_RESULT "
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
LOG_DIR = pathlib.Path(os.environ.get("BENCH_LOG_DIR") or pathlib.Path(tempfile.gettempdir()) / "copygen-bench")


class ChildFailed(RuntimeError):
    pass


def die_with_parent() -> None:
    """``preexec_fn`` of every helper process: SIGTERM it when the process that started it dies."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of every process the bench starts: production settings, quiet logs."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "COPYGEN_ENGINE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="copygen.settings",
        DJANGO_DEBUG="false",  # DEBUG keeps every SQL query in memory: not what production runs
        DJANGO_SECRET_KEY="bench-" + "x" * 50,
        COPYGEN_ENCRYPTION_KEYS=os.environ.get("BENCH_FERNET_KEY") or Fernet.generate_key().decode(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback
        DJANGO_SECURE_COOKIES="false",
        COPYGEN_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    env["BENCH_FERNET_KEY"] = env["COPYGEN_ENCRYPTION_KEYS"]
    env.update(extra)
    return env


# --- /proc probes -----------------------------------------------------------------------
def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_bytes(pid: int | str = "self") -> int:
    try:
        return int(pathlib.Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    parts = [int(x) for x in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


class RssSampler:
    """Samples the resident memory of some processes on a thread: ``(seconds, bytes)`` pairs."""

    def __init__(self, pids: list[int | str] | None = None, interval: float = 0.2) -> None:
        self.pids: list[int | str] = pids or ["self"]
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")
        self.started = 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self.started, sum(proc_rss_bytes(p) for p in self.pids)))
            self._stop.wait(self.interval)

    def start(self) -> RssSampler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join(2)
        return self.samples


def memory_summary(samples: list[tuple[float, int]], baseline: int, in_flight: int) -> dict[str, Any]:
    """Plateau RSS (median of the middle of the run), growth after it, bytes per in-flight job."""
    if len(samples) < 4:
        return {"baseline_mb": baseline / 2**20}
    end = samples[-1][0] or 1.0
    middle = sorted(b for t, b in samples if 0.25 * end <= t <= 0.6 * end) or [samples[len(samples) // 2][1]]
    late = [b for t, b in samples if t >= 0.75 * end] or [samples[-1][1]]
    plateau = middle[len(middle) // 2]
    peak = max(b for _, b in samples)
    return {
        "baseline_mb": round(baseline / 2**20, 1),
        "plateau_mb": round(plateau / 2**20, 1),
        "peak_mb": round(peak / 2**20, 1),
        "late_max_mb": round(max(late) / 2**20, 1),
        "growth_after_plateau": round(max(late) / plateau - 1.0, 3) if plateau else None,
        "kb_per_in_flight": round((plateau - baseline) / 1024 / max(in_flight, 1), 1),
    }


# --- the simulator ------------------------------------------------------------------------
@dataclass
class SimProcess:
    """``manage.py llm_simulator`` in its own process, on a fixed loopback port."""

    port: int = 0
    args: list[str] = field(default_factory=list)
    module: str = ""
    """Run ``python -m MODULE`` instead of manage.py (a bench-side simulator variant)."""
    proc: subprocess.Popen[bytes] | None = None
    tied: bool = True
    """SIGTERM it when the starting thread dies (False when a short-lived thread starts it)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> SimProcess:
        self.port = self.port or free_port()
        if self.module:
            cmd = [PY, "-m", self.module, "--port", str(self.port), *self.args]
        else:
            cmd = [PY, str(ROOT / "manage.py"), "llm_simulator", "--port", str(self.port), *self.args]
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / f"simulator-{self.port}.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=bench_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent if self.tied else None,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the simulator exited with {self.proc.returncode}; see {log.name}")
            with contextlib.suppress(OSError):
                self.get("/_sim/stats")
                return self
            time.sleep(0.1)
        raise RuntimeError("the simulator did not start within 30 s")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body or {}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        return dict(self.get("/_sim/stats"))

    def reset(self) -> None:
        self.post("/_sim/reset")

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 70.0) -> None:
        """Stop it; SIGTERM lets streams in flight finish (aiohttp's graceful shutdown)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


# --- scenario children ------------------------------------------------------------------
def run_child(
    name: str,
    spec: dict[str, Any],
    *,
    timeout: float,
    sim: SimProcess | None = None,
    env: dict[str, str] | None = None,
    wrap: list[str] | None = None,
) -> dict[str, Any]:
    """Run scenario ``name`` in a fresh interpreter; return its result plus machine-side probes."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{name}-{int(time.time() * 1000)}.log"
    cmd = [*(wrap or []), PY, "-m", "bench", "child", name, json.dumps(spec)]
    sim_cpu0 = sim.cpu_seconds() if sim else 0.0
    busy0, total0 = machine_cpu()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env or bench_env(), stdout=subprocess.PIPE, stderr=log)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the child cleans up (databases, workers, Redis) in its finally blocks
            try:
                out, _ = proc.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            raise ChildFailed(f"{name} ran over {timeout:.0f} s; log: {log_path}") from None
    busy1, total1 = machine_cpu()
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise ChildFailed(f"{name} exited with {proc.returncode} and no result; log {log_path}:\n{tail}")
    result = dict(json.loads(lines[-1][len(RESULT_MARK) :]))
    wall = max(total1 - total0, 1e-9) / (os.cpu_count() or 1)
    result.setdefault("probes", {}).update(
        machine_cpu_busy=round((busy1 - busy0) / (total1 - total0), 3) if total1 > total0 else None,
        sim_cpu_s=round((sim.cpu_seconds() - sim_cpu0), 2) if sim else None,
        child_wall_s=round(wall, 1),
        log=str(log_path),
    )
    return result


def emit(result: dict[str, Any]) -> None:
    """What a child prints as its last word."""
    sys.stdout.write(RESULT_MARK + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


# --- services ---------------------------------------------------------------------------
@contextlib.contextmanager
def pg_database(prefix: str = "copygen_bench") -> Iterator[str]:
    """A fresh PostgreSQL database for one scenario, dropped afterwards whatever happens."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_up(port: int = 6379) -> bool:
    try:
        out = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "ping"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "PONG" in out


def redis_clients(port: int = 6379) -> list[str]:
    out = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "client", "list"], capture_output=True, text=True, timeout=5
    ).stdout
    return [line for line in out.splitlines() if line.strip() and "cmd=client|list" not in line]


def wait_quiet(*, max_busy: float = 0.25, sample: float = 2.0, timeout: float = 45.0) -> float:
    """Wait until the machine is mostly idle (other work skews every number); return its busy share."""
    deadline = time.monotonic() + timeout
    busy = 1.0
    while True:
        b0, t0 = machine_cpu()
        time.sleep(sample)
        b1, t1 = machine_cpu()
        busy = (b1 - b0) / max(t1 - t0, 1e-9)
        if busy <= max_busy or time.monotonic() > deadline:
            return round(busy, 3)
