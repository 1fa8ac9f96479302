"""Browser test support: a real daphne server on the demo data, and Debian's chromium.

The server (engine inline) runs on a free loopback port with a fresh SQLite database and
the demo data pointing at the in-process simulator. The fixtures that use these
(``demo_server``, ``browser``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Screenshots go to test-artifacts/ (ignored by git); COPYGEN_UPDATE_SCREENSHOTS=1 refreshes
# the ones committed under docs/screenshots/ that docs/UI.md shows.
SHOTS = ROOT / (
    "docs/screenshots" if os.environ.get("COPYGEN_UPDATE_SCREENSHOTS") == "1" else "test-artifacts/screenshots"
)
DEMO_USER = ("demo", "demo-pass-123")

__all__ = ["CHROMIUM", "DEMO_USER", "ROOT", "SHOTS", "DemoServer", "chromium_launch", "demo_server_start", "login"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s")


class DemoServer(str):
    """The server's base URL; ``manage(...)`` runs a management command against its database."""

    env: dict[str, str]

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def shell(self, code: str) -> str:
        """Run Python in ``manage.py shell`` against the demo database; returns what it printed."""
        return self.manage("shell", "-v", "0", "-c", code)


def demo_server_start(tmp_path_factory: pytest.TempPathFactory, simulator_base_url: str) -> Iterator[DemoServer]:
    """Migrate and seed a fresh database, serve it with daphne; stop the server afterwards."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/install_browser.sh)")
    db = tmp_path_factory.mktemp("live") / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DATABASE_URL=f"sqlite:///{db}", COPYGEN_ENGINE="inline", DJANGO_SETTINGS_MODULE="copygen.settings")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "seed_demo", "--simulator-url", simulator_base_url],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "copygen.asgi:application"],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for_port(port, proc)
        server = DemoServer(f"http://127.0.0.1:{port}")
        server.env = env
        yield server
    finally:
        proc.terminate()
        proc.wait(10)


def chromium_launch(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )


def login(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("input[name=username]", DEMO_USER[0])
    page.fill("input[name=password]", DEMO_USER[1])
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
