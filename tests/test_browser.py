"""The demo, as a newcomer does it, in a real browser (Playwright driving Debian's chromium).

A real daphne server (engine inline) runs on a free loopback port with a fresh SQLite
database and the demo data pointing at the simulator.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"

pytestmark = pytest.mark.browser


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


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, simulator_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/install_browser.sh)")
    db = tmp_path_factory.mktemp("live") / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DATABASE_URL=f"sqlite:///{db}", COPYGEN_ENGINE="inline", DJANGO_SETTINGS_MODULE="copygen.settings")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "seed_demo", "--simulator-url", simulator_server.base_url], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                             "copygen.asgi:application"], cwd=ROOT, env=env)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


def test_login_launch_the_demo_campaign_and_watch_it_stream(demo_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{demo_server}/")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", "demo-pass-123")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    page.screenshot(path=str(SHOTS / "dashboard.png"))

    page.click("text=Demo campaign")
    page.wait_for_selector("[data-testid=launch]")
    cells = page.locator("[data-generation-cell]")
    assert cells.count() == 4 * 2 * 2 * 2  # products × templates × models × variants

    page.click("[data-testid=launch]")
    # Streamed text appears in the cells while the campaign runs …
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=cell-text]')].some(e => e.textContent.trim().length > 0)",
        timeout=20_000,
    )
    page.screenshot(path=str(SHOTS / "campaign-streaming.png"))
    # … and the progress reaches 100%.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=progress]').getAttribute('aria-valuenow') === '100'",
        timeout=60_000,
    )
    texts = page.locator("[data-testid=cell-text]").all_text_contents()
    assert len(texts) == 32 and all(t.strip() for t in texts)
    assert page.locator("[data-generation-cell][data-status=succeeded]").count() == 32
    assert "$" in page.locator("[data-testid=spend]").text_content()
    page.screenshot(path=str(SHOTS / "campaign-done.png"), full_page=True)
