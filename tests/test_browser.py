"""The demo, as a newcomer does it, in a real browser (Playwright driving Debian's chromium).

A real daphne server (engine inline) runs on a free loopback port with a fresh SQLite
database and the demo data pointing at the simulator (see ``tests/browser_support.py``).
"""

from __future__ import annotations

import pytest

from tests.browser_support import login

pytestmark = pytest.mark.browser


def test_login_launch_the_demo_campaign_and_watch_it_stream(demo_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, demo_server)

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
    # … and the progress reaches 100%.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=progress]').getAttribute('aria-valuenow') === '100'",
        timeout=60_000,
    )
    texts = page.locator("[data-testid=cell-text]").all_text_contents()
    assert len(texts) == 32 and all(t.strip() for t in texts)
    assert page.locator("[data-generation-cell][data-status=succeeded]").count() == 32
    assert "$" in page.locator("[data-testid=spend]").text_content()
    # Every cell sends the demo's brand voice first: the simulator's prefix cache serves it.
    page.wait_for_function(
        "() => /^[1-9][0-9]*% cached$/.test(document.querySelector('[data-testid=cache]').textContent.trim())",
        timeout=10_000,
    )
    assert int(page.text_content("[data-testid=tokens-cached]")) > 0
    page.close()
