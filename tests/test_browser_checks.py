"""Copy checks in a real browser: the template editor's checks, the live grid's pass/fail badges
with their reasons on hover, the passing count, and the review board's filter.

The demo's "Ad headline" template must fit a Google Ads headline (30 characters). Its cells
on the "Drafty" model are too long on the first attempt and fixed by the rewrite; the "Fast"
model ignores the feedback, so its cells end failing, with the reasons shown.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_support import SHOTS, login

pytestmark = pytest.mark.browser

WIDE = {"width": 1400, "height": 900}
ALL_SETTLED = (
    "() => document.querySelector('[data-testid=progress]').getAttribute('aria-valuenow') === '100'"
    " && !document.querySelector('[data-generation-cell][data-status=running], [data-generation-cell][data-status=queued]')"
)


@pytest.fixture(scope="module")
def context(browser: Any, demo_server: str) -> Any:
    ctx = browser.new_context(viewport=WIDE)
    page = ctx.new_page()
    login(page, demo_server)
    page.close()
    yield ctx
    ctx.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


def test_the_template_editor_shows_the_checks(context: Any, demo_server: str) -> None:
    page = context.new_page()
    page.goto(f"{demo_server}/templates/")
    page.click("text=Ad headline")
    checks = page.locator("[data-testid=template-checks]")
    assert "max_chars" in checks.locator("textarea").input_value()
    assert checks.locator("select[name=preset] option").count() == 9  # none + 8 channel presets
    page.locator("textarea[name=body]").scroll_into_view_if_needed()
    page.evaluate("() => window.scrollBy(0, 250)")
    shot(page, "template-checks.png")
    page.close()


def test_badges_passing_count_and_the_review_filter(context: Any, demo_server: Any) -> None:
    campaign_id = int(
        demo_server.shell(
            "from decimal import Decimal\n"
            "from django.contrib.auth import get_user_model\n"
            "from campaigns.models import LLMModel, Product, PromptTemplate\n"
            "from campaigns.services.launch import campaign_create\n"
            "products = Product.objects.filter(language='en').order_by('id')[:3]\n"
            "models = [LLMModel.objects.get(label='Fast (simulated)'), LLMModel.objects.get(label='Drafty (simulated)')]\n"
            "c = campaign_create(owner=get_user_model().objects.get(username='demo'), name='Headlines that fit',\n"
            "    product_ids=[p.id for p in products], template_ids=[PromptTemplate.objects.get(name='Ad headline').id],\n"
            "    model_ids=[m.id for m in models], variants=1, max_tokens=80, rewrites=1, budget_usd=Decimal('1'))\n"
            "print(c.id)\n"
        ).strip()
    )
    page = context.new_page()
    page.goto(f"{demo_server}/campaigns/{campaign_id}/")
    page.wait_for_selector("[data-testid=live][data-state=live]")
    page.click("[data-testid=launch]")
    page.wait_for_function(ALL_SETTLED, timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=cell-checks]').length === 6", timeout=20_000)

    passing = page.locator("[data-generation-cell] [data-checks=pass]")
    failing = page.locator("[data-generation-cell] [data-checks=fail]")
    assert passing.count() == 3 and failing.count() == 3  # the Drafty model's rewrites fit; the Fast model's don't
    reason = failing.first.get_attribute("title")
    assert "the limit is 30" in reason and "(Google Ads width)" in reason
    failing.first.hover()
    assert page.locator("[data-count=passing]").text_content() == "3"
    assert page.locator("[data-testid=passing-cost]").text_content().startswith("$")
    page.wait_for_selector("[data-chart=latency] rect.chart-bar")  # the charts are drawn a moment later
    shot(page, "campaign-checks.png")

    # The review board: only the failing copy, then only the passing copy.
    page.goto(f"{demo_server}/campaigns/{campaign_id}/review/")
    assert page.text_content("[data-testid=review-passing]") == "3 passing checks, 3 failing"
    assert page.text_content("[data-testid=rewrite-cost]").startswith("Rewrites of failing copy cost $")
    page.select_option("select[name=checks]", "fail")
    page.click("[data-testid=review-filters] button[type=submit]")
    page.wait_for_url("**checks=fail**")
    assert page.locator("[data-testid=review-checks][data-checks=fail]").count() == 3
    assert page.locator("[data-testid=review-checks][data-checks=pass]").count() == 0
    shot(page, "review-checks-filter.png")
    page.select_option("select[name=checks]", "pass")
    page.click("[data-testid=review-filters] button[type=submit]")
    page.wait_for_url("**checks=pass**")
    assert page.locator("[data-testid=review-checks][data-checks=pass]").count() == 3
    assert page.locator("[data-testid=review-checks][data-checks=fail]").count() == 0
    page.close()
