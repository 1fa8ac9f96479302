"""The campaign studio in a real browser: catalog import, template editor, campaign builder,
the live page (streaming, charts, cancel, resync after a reconnect), review and export.

The tests of this module share one demo server and run in order: each one starts from
what the previous ones left (the imported products, the new template, the campaigns).
Each saves a screenshot of its page to ``docs/screenshots/``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.browser_support import SHOTS, login

pytestmark = pytest.mark.browser

WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
IMPORT_CSV = (
    "name,description,language,color,attributes\n"
    'Alpine Water Bottle,Insulated steel bottle that keeps drinks cold for 24 hours.,en,glacier blue,"{""capacity"": ""750 ml""}"\n'
    "Canvas Weekender Bag,Waxed canvas travel bag with leather handles.,en,olive,\n"
    'Solar Garden Lights,Set of six warm white solar path lights.,en,,"{""pieces"": 6}"\n'
    ",A row without a name,en,red,\n"
    'Bamboo Cutting Board,Reversible board with a juice groove.,en,natural,"{""size"": large}"\n'
)
TEMPLATE_BODY = (
    "Write a two-sentence Instagram caption for {{ product.name }} in {{ language }}.\n"
    'Colour: {{ product.attributes.color | default: "any" }}. {{ product.description }}'
)
SLOW_MODEL = "sim-slow@ttft=300,gap=120,len=90"
# Records every websocket the page opens, so a test can cut them as a network drop would.
CAPTURE_SOCKETS = """
window.__sockets = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""
TEXTS = (
    "() => Object.fromEntries([...document.querySelectorAll('[data-generation-cell]')]"
    ".map(c => [c.dataset.generationId, c.querySelector('[data-testid=cell-text]').textContent]))"
)
ALL_SETTLED = "() => !document.querySelector('[data-generation-cell][data-status=running], [data-generation-cell][data-status=queued]')"


@pytest.fixture(scope="module")
def context(browser: Any, demo_server: str) -> Any:
    """One signed-in browser context for the module (downloads allowed)."""
    ctx = browser.new_context(viewport=WIDE, accept_downloads=True)
    page = ctx.new_page()
    login(page, demo_server)
    page.close()
    yield ctx
    ctx.close()


def shot(page: Any, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=full_page)


def overflowing(page: Any) -> list[str]:
    """Elements wider than the screen (a phone would zoom out to fit them); [] when none."""
    width = page.viewport_size["width"]
    return list(
        page.evaluate(
            f"""() => document.documentElement.scrollWidth <= {width} ? [] :
            [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > {width} + 1)
              .filter(e => !e.closest('.grid-wrap, .review-wrap, .table-wrap, .nav'))
              .slice(0, 8).map(e => e.tagName + '.' + e.className)"""
        )
    )


def test_import_products_from_csv_with_a_preview_and_row_errors(context: Any, demo_server: str, tmp_path: Any) -> None:
    page = context.new_page()
    page.goto(f"{demo_server}/products/")
    page.click("text=Import CSV")
    csv_file = tmp_path / "new-products.csv"
    csv_file.write_text(IMPORT_CSV, encoding="utf-8")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("button:has-text('Preview')")

    # Everything is shown before anything is saved: three products ready, two bad rows.
    assert page.text_content("[data-testid=import-ready]").strip() == "3"
    assert page.text_content("[data-testid=import-error-count]").strip() == "2"
    errors = page.locator("[data-testid=import-error]")
    assert errors.count() == 2
    assert "a product needs a name" in errors.nth(0).text_content() and errors.nth(0).get_attribute("data-row") == "5"
    assert "not a JSON object" in errors.nth(1).text_content() and errors.nth(1).get_attribute("data-row") == "6"
    assert page.locator("[data-testid=import-row]").count() == 3
    shot(page, "import-preview.png", full_page=True)

    page.goto(f"{demo_server}/products/?q=Alpine")
    assert "No product matches" in page.text_content("main")  # not saved by the preview
    page.go_back()

    # Importing with errors asks to leave the bad rows out explicitly.
    page.click("[data-testid=import-submit]")
    assert "Tick this to import the other rows" in page.text_content("[data-testid=import-confirm]")
    page.check("[data-testid=skip-errors]")
    page.click("[data-testid=import-submit]")
    page.wait_for_url(f"{demo_server}/products/")
    assert "Imported 3 products from new-products.csv" in page.text_content(".messages")
    rows = page.locator("[data-testid=product-list] tbody tr")
    assert rows.count() == 4 + 3
    shot(page, "catalog.png", full_page=True)

    page.fill("input[name=q]", "weekender")
    page.press("input[name=q]", "Enter")
    assert page.locator("[data-testid=product-list] tbody tr").count() == 1
    assert "Canvas Weekender Bag" in page.text_content("[data-testid=product-list]")
    page.close()


def test_write_a_template_with_a_live_preview(context: Any, demo_server: str) -> None:
    page = context.new_page()
    page.goto(f"{demo_server}/templates/new/")
    page.fill("input[name=name]", "Instagram caption")
    page.select_option("[data-preview-product]", label="Alpine Water Bottle")

    # An unknown variable is reported as you type …
    page.fill("textarea[name=body]", "Caption for {{ product.price }}")
    page.wait_for_selector("[data-preview-error]:not([hidden])")
    assert "unknown variable 'product.price'" in page.text_content("[data-preview-error]")

    # … and a valid body renders against the chosen product, in the chosen language.
    page.fill("textarea[name=body]", TEMPLATE_BODY + " Capacity: ")
    page.fill("[data-preview-language]", "de")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=preview]').textContent.includes('Colour: glacier blue')"
        " && document.querySelector('[data-testid=preview]').textContent.includes(' in de.')"
    )
    assert page.is_hidden("[data-preview-error]")
    variables = {b.get_attribute("data-insert") for b in page.locator("[data-insert]").all()}
    assert {"{{ product.name }}", "{{ language }}", '{{ product.attributes.color | default: "" }}'} <= variables
    page.click("[data-insert='{{ product.attributes.capacity | default: \"\" }}']")  # inserts at the cursor
    page.wait_for_function("() => document.querySelector('[data-testid=preview]').textContent.includes('750 ml')")
    shot(page, "template-editor.png", full_page=True)

    page.click("button:has-text('Create template')")
    page.wait_for_url(f"{demo_server}/templates/")
    assert "Instagram caption" in page.text_content("[data-testid=template-list]")
    page.close()


def test_build_a_campaign_and_see_the_estimate(context: Any, demo_server: str) -> None:
    page = context.new_page()
    page.goto(f"{demo_server}/campaigns/new/")
    assert "Pick at least one product" in page.text_content("[data-testid=estimate]")
    page.fill("input[name=name]", "Summer catalog")
    for product in ("Alpine Water Bottle", "Canvas Weekender Bag", "Solar Garden Lights"):
        page.fill("[data-choice-filter]", product.split()[0].lower())  # the filter narrows the list
        assert page.locator("[data-axis=products] .choice:visible").count() == 1
        page.get_by_label(f"{product} (en)").check()
    page.fill("[data-choice-filter]", "")
    page.get_by_label("Instagram caption").check()
    page.get_by_label("Fast (simulated)", exact=False).check()
    page.get_by_label("Balanced (simulated)", exact=False).check()
    page.fill("input[name=languages]", "en, de")
    page.fill("input[name=max_tokens]", "80")
    page.fill("input[name=budget_usd]", "0.5")

    # 3 products × 1 template × 2 models × 1 variant × 2 languages.
    page.wait_for_function("() => document.querySelector('[data-estimate-cells]').textContent === '12'")
    assert page.text_content("[data-testid=cell-count]") == "12"
    models = page.locator("[data-estimate-rows] tr")
    assert models.count() == 2
    assert {"Fast (simulated)", "Balanced (simulated)"} == {
        m.split("$")[0].rstrip("0123456789") for m in models.all_text_contents()
    }
    expected = page.text_content("[data-testid=estimate-expected]")
    worst = page.text_content("[data-testid=estimate-worst]")
    assert re.fullmatch(r"\$\d+\.\d{6}", expected) and re.fullmatch(r"\$\d+\.\d{6}", worst)
    assert float(expected[1:]) < float(worst[1:])
    assert "covers even the worst case" in page.text_content("[data-estimate-budget]")
    assert "60% of max tokens" in page.text_content("[data-estimate-assumption]")
    # The same campaign on every active model, cheapest first.
    compare = page.locator("[data-testid=estimate-compare]")
    assert compare.is_visible()
    compare.locator("summary").click()
    rows = compare.locator("[data-estimate-compare-rows] tr").all_text_contents()
    assert len(rows) >= 3 and any("(chosen)" in row for row in rows)
    costs = [float(re.search(r"\$(\d+\.\d+)", row).group(1)) for row in rows]  # type: ignore[union-attr]
    assert costs == sorted(costs)
    compare.locator("summary").click()
    page.set_viewport_size({"width": WIDE["width"], "height": 1340})  # the whole form, bar included
    shot(page, "campaign-builder.png")
    page.set_viewport_size(WIDE)

    # A budget below the worst case is flagged before launch.
    page.fill("input[name=budget_usd]", "0.0001")
    page.wait_for_function("() => document.querySelector('[data-estimate-budget]').dataset.level !== 'ok'")
    page.fill("input[name=budget_usd]", "0.5")

    page.click("button:has-text('Create campaign')")
    page.wait_for_selector("[data-testid=launch]")
    assert "Summer catalog" in page.text_content("h1")
    assert page.locator("[data-generation-cell]").count() == 12
    assert page.locator("thead .th-language").count() == 4  # language is a column axis
    page.close()


def test_launch_watch_the_cells_fill_then_review_and_export(context: Any, demo_server: str) -> None:
    page = context.new_page()
    page.goto(f"{demo_server}/")
    page.click("text=Summer catalog")
    page.wait_for_selector("[data-testid=live][data-state=live]")
    page.click("[data-testid=launch]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=progress]').getAttribute('aria-valuenow') === '100'",
        timeout=60_000,
    )
    assert page.locator("[data-generation-cell][data-status=succeeded]").count() == 12
    assert all(t.strip() for t in page.locator("[data-testid=cell-text]").all_text_contents())
    # The charts drew from the cells: a latency histogram and one bar per model with spend.
    page.wait_for_function(
        "() => document.querySelector('[data-chart=latency]').getAttribute('aria-label').includes(': 12 cells')"
    )
    assert page.locator("[data-chart=latency] rect.chart-bar").count() > 0
    spend_label = page.get_attribute("[data-chart=spend]", "aria-label")
    assert "Fast (simulated) $" in spend_label and "Balanced (simulated) $" in spend_label
    assert "healthy" in page.text_content("[data-testid=providers]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=spend-meter]').getAttribute('aria-valuenow') !== null"
    )
    shot(page, "campaign-done.png", full_page=True)

    # Review: models side by side, one section per product.
    page.click("[data-testid=review-link]")
    page.wait_for_selector("[data-testid=review-table]")
    assert page.locator("[data-testid=review-table]").count() == 3
    first = page.locator("[data-review-cell]").first
    generation_id = first.get_attribute("data-generation-id")
    assert "Alpine Water Bottle" in first.locator("details:has(summary:text('Prompt'))").text_content()

    # Rate with the keyboard: Space picks one star, arrows move to four.
    first.locator("input[name=rating][value='1']").focus()
    page.keyboard.press("Space")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"() => document.querySelector('[data-generation-id=\"{generation_id}\"] [data-review-status]').textContent === 'Saved'"
    )
    # Approve with the keyboard, then edit (the original is kept and shown).
    first.locator("[data-testid=approve]").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => document.querySelector('[data-generation-id=\"{generation_id}\"] [data-testid=approve]')"
        ".getAttribute('aria-pressed') === 'true'"
    )
    original = first.locator("[data-testid=review-text]").text_content()
    first.locator("summary:text('Edit')").click()
    first.locator("[data-testid=edit-text]").fill("Cold for a day, light for a lifetime.")
    first.locator("[data-testid=save-edit]").click()
    page.wait_for_function(
        f"() => document.querySelector('[data-generation-id=\"{generation_id}\"] [data-testid=review-text]')"
        ".textContent === 'Cold for a day, light for a lifetime.'"
    )
    assert first.locator("[data-original-text]").text_content() == original
    assert page.text_content("[data-approved-count]") == "1"

    # Everything was saved: a reload shows it, and the filters find it.
    page.reload()
    first = page.locator(f"[data-generation-id='{generation_id}']")
    assert first.locator("input[name=rating]:checked").get_attribute("value") == "4"
    assert first.locator("[data-testid=approve]").get_attribute("aria-pressed") == "true"
    assert "Cold for a day" in first.locator("[data-testid=review-text]").text_content()
    cost_table = page.text_content("[data-testid=cost-table]")
    assert "(1 approved)" in cost_table
    assert page.locator("[data-approved-badge]:visible").count() == 1
    page.evaluate("() => window.scrollTo(0, 0)")
    page.set_viewport_size({"width": WIDE["width"], "height": 1200})
    shot(page, "review.png")
    page.set_viewport_size(WIDE)

    page.select_option("select[name=approved]", "yes")
    page.select_option("select[name=rating]", "4")
    page.click("[data-testid=review-filters] button:has-text('Apply')")
    page.wait_for_url(re.compile(r".*approved=yes.*"))
    assert page.locator("[data-testid=review-text]").count() == 1
    page.select_option("select[name=rating]", "5")
    page.click("[data-testid=review-filters] button:has-text('Apply')")
    assert "Nothing matches these filters" in page.text_content("main")

    # Export: the approved copy as CSV (edited text and the original), and all of it as JSON.
    page.goto(f"{demo_server}/")
    page.click("text=Summer catalog")
    page.click("[data-testid=review-link]")
    page.check("[data-testid=export-approved-only]")
    with page.expect_download() as download:
        page.click("[data-testid=export-csv]")
    content = open(download.value.path(), encoding="utf-8-sig").read()
    lines = content.strip().splitlines()
    assert lines[0].startswith("id,product,template,model")
    assert len(lines) == 2 and "Cold for a day, light for a lifetime." in lines[1]
    assert download.value.suggested_filename.endswith(".csv")
    page.uncheck("[data-testid=export-approved-only]")
    with page.expect_download() as download:
        page.click("[data-testid=export-json]")
    exported = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert len(exported["rows"]) == 12 and sum(r["approved"] for r in exported["rows"]) == 1
    with page.expect_download() as download:
        page.click("[data-testid=export-xlsx]")
    assert open(download.value.path(), "rb").read(2) == b"PK"  # a zip: an xlsx workbook
    page.close()


def test_cancel_a_slow_campaign_mid_way_and_resync_after_a_reconnect(context: Any, demo_server: Any) -> None:
    campaign_id = int(
        demo_server.shell(
            "from decimal import Decimal\n"
            "from django.contrib.auth import get_user_model\n"
            "from campaigns.models import LLMModel, Product, PromptTemplate, Provider\n"
            "from campaigns.services.launch import campaign_create\n"
            "slow, _ = LLMModel.objects.get_or_create(provider=Provider.objects.get(name='Simulator'),\n"
            f"    name='{SLOW_MODEL}', defaults=dict(label='Slow (simulated)',\n"
            "    input_usd_per_mtok=Decimal('2'), output_usd_per_mtok=Decimal('8')))\n"
            "fast = LLMModel.objects.get(label='Fast (simulated)')\n"
            "products = Product.objects.filter(language='en').order_by('id')[:3]\n"
            "c = campaign_create(owner=get_user_model().objects.get(username='demo'), name='Autumn teaser',\n"
            "    product_ids=[p.id for p in products], template_ids=[PromptTemplate.objects.get(name='Tagline').id],\n"
            "    model_ids=[fast.id, slow.id], variants=2, max_tokens=120, budget_usd=Decimal('1'))\n"
            "print(c.id)\n"
        ).strip()
    )
    page = context.new_page()
    page.add_init_script(CAPTURE_SOCKETS)
    page.goto(f"{demo_server}/campaigns/{campaign_id}/")
    page.wait_for_selector("[data-testid=live][data-state=live]")
    page.click("[data-testid=launch]")
    # The fast model's cells finish while the slow model's are still streaming.
    page.wait_for_function(
        "() => document.querySelectorAll('[data-generation-cell][data-status=succeeded]').length === 6"
        " && [...document.querySelectorAll('[data-generation-cell][data-status=running] [data-testid=cell-text]')]"
        ".filter(e => e.textContent.length > 60).length === 6",
        timeout=20_000,
    )
    shot(page, "campaign-streaming.png")
    before = page.evaluate(TEXTS)

    # The connection drops mid-stream; the page reconnects and resyncs from a snapshot.
    page.evaluate("() => window.__sockets.forEach(ws => ws.close())")
    page.wait_for_selector("[data-testid=live][data-state=connecting]")
    page.wait_for_selector("[data-testid=live][data-state=live]")
    # The streaming cells go on growing on the new socket.
    page.wait_for_function(
        f"before => Object.entries(({TEXTS})()).some(([id, text]) => "
        "before[id] !== undefined && text.length > before[id].length)",
        arg=before,
        timeout=20_000,
    )
    streamed = page.evaluate(TEXTS)
    assert all(streamed[gid].startswith(text) for gid, text in before.items())  # nothing lost on the page

    page.click("[data-testid=cancel]")
    page.wait_for_selector("[data-testid=status][data-status=cancelled]")
    page.wait_for_function(ALL_SETTLED, timeout=20_000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=progress]').getAttribute('aria-valuenow') === '100'"
    )
    assert page.locator("[data-generation-cell][data-status=succeeded]").count() == 6  # the fast model's
    assert page.locator("[data-generation-cell][data-status=cancelled]").count() == 6  # the slow model's
    shown = page.evaluate(TEXTS)
    stored = json.loads(
        demo_server.shell(
            "import json\nfrom campaigns.models import Generation\n"
            f"print(json.dumps({{str(g.id): g.text for g in Generation.objects.filter(campaign_id={campaign_id})}}))"
        )
    )
    # Nothing lost, nothing doubled: the page shows what was stored (partial text kept on
    # cancel), and what streamed after the reconnect was a prefix of it.
    assert shown == stored
    assert all(stored[gid].startswith(text) for gid, text in streamed.items())
    assert sum(1 for gid, text in stored.items() if text and shown[gid] == text) == 12
    page.close()


# Records the messages each socket receives too, so a test can replay a snapshot with changes.
CAPTURE_MESSAGES = """
window.__sockets = [];
window.__messages = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) {
    super(...args);
    window.__sockets.push(this);
    this.addEventListener("message", (e) => window.__messages.push(JSON.parse(e.data)));
  }
};
window.__feed = (msg) => {
  const ws = window.__sockets[window.__sockets.length - 1];
  ws.onmessage({ data: JSON.stringify(msg) });
};
"""


def test_resync_deltas_fill_gaps_and_quota_warnings_show_a_banner(context: Any, demo_server: Any) -> None:
    """Events a viewer joining mid-stream gets, fed to the page: a delta past the cell's end
    marks a gap, the resync (offset 0, the full text so far) closes it, duplicates change
    nothing; quota warnings show a banner that turns critical at 100%."""
    campaign_id = int(
        demo_server.shell(
            "from decimal import Decimal\n"
            "from django.contrib.auth import get_user_model\n"
            "from campaigns.models import LLMModel, Product, PromptTemplate\n"
            "from campaigns.services.launch import campaign_create\n"
            "fast = LLMModel.objects.get(label='Fast (simulated)')\n"
            "products = Product.objects.filter(language='en').order_by('id')[:2]\n"
            "c = campaign_create(owner=get_user_model().objects.get(username='demo'), name='Resync check',\n"
            "    product_ids=[p.id for p in products], template_ids=[PromptTemplate.objects.get(name='Tagline').id],\n"
            "    model_ids=[fast.id], variants=1, max_tokens=60, budget_usd=Decimal('1'))\n"
            "print(c.id)\n"
        ).strip()
    )
    page = context.new_page()
    page.add_init_script(CAPTURE_MESSAGES)
    page.goto(f"{demo_server}/campaigns/{campaign_id}/")
    page.wait_for_selector("[data-testid=live][data-state=live]")
    # The draft's snapshot again, now with both cells running (ids the page did not know).
    page.evaluate(
        """() => {
          const snap = structuredClone(window.__messages.find(m => m.type === "campaign.snapshot"));
          snap.generations = [...document.querySelectorAll("[data-generation-cell]")].map((c, i) => {
            const [product_id, template_id, model_id, variant] = c.dataset.key.split("-").map(Number);
            return { id: 900001 + i, product_id, template_id, model_id, variant, language: "",
                     status: "running", text: "" };
          });
          window.__feed(snap);
        }"""
    )
    text = "() => [...document.querySelectorAll('[data-testid=cell-text]')].map(e => e.textContent)"
    behind = (
        "() => [...document.querySelectorAll('[data-generation-cell]')].map(e => e.classList.contains('is-behind'))"
    )
    feed = "(m) => window.__feed(m)"
    delta = {"type": "generation.delta", "id": 900001}
    page.evaluate(feed, {**delta, "offset": 0, "text": "Bright "})
    page.evaluate(feed, {**delta, "offset": 12, "text": "light"})  # "ideas, " was missed
    assert page.evaluate(text)[0] == "Bright " and page.evaluate(behind)[0] is True
    page.evaluate(feed, {**delta, "offset": 0, "resync": True, "text": "Bright ideas, light"})
    assert page.evaluate(text)[0] == "Bright ideas, light" and page.evaluate(behind)[0] is False
    page.evaluate(feed, {**delta, "offset": 7, "text": "ideas, "})  # a late duplicate
    page.evaluate(feed, {**delta, "offset": 19, "text": " 💡 bag"})
    assert page.evaluate(text)[0] == "Bright ideas, light 💡 bag"
    # The second cell: a gap covered by the pieces that follow, without a resync.
    delta = {"type": "generation.delta", "id": 900002}
    page.evaluate(feed, {**delta, "offset": 0, "text": "Pack "})
    page.evaluate(feed, {**delta, "offset": 10, "text": "day"})
    assert page.evaluate(behind)[1] is True
    page.evaluate(feed, {**delta, "offset": 5, "text": "every"})
    assert page.evaluate(text)[1] == "Pack every" and page.evaluate(behind)[1] is True
    page.evaluate(feed, {**delta, "offset": 10, "text": " day"})
    assert page.evaluate(text)[1] == "Pack every day" and page.evaluate(behind)[1] is False
    # A campaign.batch frame (what piled up while the previous frame was on its way): its
    # events are applied in order, across cells.
    batch = [
        {"type": "generation.delta", "id": 900001, "offset": 25, "text": " now"},
        {"type": "generation.delta", "id": 900002, "offset": 14, "text": ","},
        {"type": "generation.delta", "id": 900002, "offset": 15, "text": " rain or shine"},
    ]
    page.evaluate(feed, {"type": "campaign.batch", "campaign_id": int(campaign_id), "events": batch})
    assert page.evaluate(text)[:2] == ["Bright ideas, light 💡 bag now", "Pack every day, rain or shine"]

    banner = page.locator("[data-testid=quota-banner]")
    assert banner.is_hidden()
    warning = {
        "type": "quota.warning",
        "scope": "user",
        "period": "month",
        "limit_usd": "10",
        "resets_at": None,
    }
    page.evaluate(feed, {**warning, "level": 80, "spent_usd": "8.1", "detail": ""})
    assert banner.is_visible()
    assert banner.text_content() == "Your monthly quota is 80% used ($8.10 of $10.00)."
    assert banner.get_attribute("role") == "status"
    page.evaluate(feed, {**warning, "level": 100, "spent_usd": "10", "detail": "Monthly quota used up."})
    page.evaluate(feed, {**warning, "level": 95, "spent_usd": "9.6", "detail": "late"})  # older, ignored
    assert banner.text_content() == "Monthly quota used up."
    assert "is-critical" in banner.get_attribute("class") and banner.get_attribute("role") == "alert"
    page.evaluate(
        feed,
        {
            **warning,
            "period": "day",
            "level": 95,
            "spent_usd": "0.95",
            "limit_usd": "1",
            "detail": "Daily quota nearly used.",
        },
    )
    assert page.locator("[data-testid=quota-warning]").count() == 2
    page.close()
    demo_server.shell(f"from campaigns.models import Campaign\nCampaign.objects.filter(pk={campaign_id}).delete()\n")


def test_editing_a_template_shows_the_campaigns_that_used_the_earlier_text(context: Any, demo_server: str) -> None:
    page = context.new_page()
    page.goto(f"{demo_server}/templates/")
    page.click("[data-testid=template-list] >> text=Instagram caption")
    usage = page.text_content("[data-testid=template-usage]")
    assert "Summer catalog" in usage and "keep the prompts they were launched with" in usage
    page.fill("textarea[name=body]", TEMPLATE_BODY + "\nEnd with an emoji.")
    page.click("button:has-text('Save template')")
    message = page.text_content(".messages")
    assert "“Summer catalog” used the earlier text" in message

    # The launched campaign still shows the prompt it was launched with.
    page.goto(f"{demo_server}/")
    page.click("text=Summer catalog")
    page.click("[data-testid=review-link]")
    prompt = page.locator("[data-review-cell] details:has(summary:text('Prompt'))").first.text_content()
    assert "Colour: glacier blue" in prompt and "emoji" not in prompt
    page.close()


def test_dashboard_and_pages_on_a_phone(context: Any, demo_server: Any, browser: Any) -> None:
    # A monthly quota for the demo user, and a campaign shared with a team.
    demo_server.shell(
        "from decimal import Decimal\n"
        "from django.contrib.auth import get_user_model\n"
        "from campaigns.models import Campaign, Quota, Team\n"
        "demo = get_user_model().objects.get(username='demo')\n"
        "Quota.objects.create(scope='user', user=demo, period='month', limit_usd=Decimal('20'))\n"
        "team = Team.objects.create(name='Copywriters')\n"
        "team.members.add(demo)\n"
        "Campaign.objects.filter(name='Autumn teaser').update(team=team)\n"
    )
    page = context.new_page()
    page.goto(f"{demo_server}/")
    rows = page.locator("[data-testid=campaign-list] tbody tr")
    assert rows.count() == 3
    text = page.text_content("[data-testid=campaign-list]")
    assert "Summer catalog" in text and "Autumn teaser" in text and "Last activity" in text
    assert "1 approved" in text
    assert page.text_content("[data-testid=campaign-team]") == "Copywriters"
    quota = page.text_content("[data-testid=quota]")
    assert "Your monthly quota" in quota and "left of $20.00" in quota and "resets" in quota
    shot(page, "dashboard.png")
    page.close()

    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state(), is_mobile=True, has_touch=True)
    page = phone.new_page()
    for path in ("/", "/products/", "/templates/new/", "/campaigns/new/"):
        page.goto(f"{demo_server}{path}")
        assert not overflowing(page), path
    page.goto(f"{demo_server}/")
    page.click("text=Summer catalog")
    assert not overflowing(page)
    page.click("[data-testid=review-link]")
    assert not overflowing(page)  # the comparison table scrolls inside its own box
    shot(page, "review-phone.png")
    phone.close()
