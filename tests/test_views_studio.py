"""The campaign studio through the test client: dashboard, CSV import, template usage,
the builder's estimate, the live page's panels, review and export."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Attempt, Generation, Product
from campaigns.services.estimate import matrix_estimate
from campaigns.services.launch import campaign_launch
from tests import view_support
from tests.factories import LLMModelFactory, ProductFactory
from tests.view_support import finished_campaign, make_campaign

pytestmark = pytest.mark.django_db

client_for = view_support.client_for  # the fixture, shared by the view tests

SIMPLE_CSV = (
    "name,description,language,color\n"
    "Desk Lamp,Warm light,en,black\n"
    ",No name here,en,red\n"
    "Tea Set,Six pieces,ja,celadon\n"
)
SHOPIFY_CSV = (
    "Handle,Title,Body (HTML),Vendor,Type,Tags,Option1 Name,Option1 Value\n"
    "trail-runner,Trail Runner,<p>Grippy <b>sole</b></p>,Acme,Shoes,trail,Size,42\n"
    "trail-runner,,,,,,,43\n"
)


def upload(client: Client, content: str, name: str = "products.csv", language: str = "en") -> Any:
    file = SimpleUploadedFile(name, content.encode("utf-8"), content_type="text/csv")
    return client.post(reverse("campaigns:product_import"), {"step": "preview", "file": file, "language": language})


# --- access ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kwargs", "method"),
    [
        ("product_import", {}, "get"),
        ("campaign_estimate", {}, "post"),
        ("campaign_review", {"pk": 1}, "get"),
        ("generation_review", {"pk": 1}, "post"),
    ],
)
def test_studio_pages_require_login(client: Client, name: str, kwargs: dict[str, int], method: str) -> None:
    url = reverse(f"campaigns:{name}", kwargs=kwargs)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_review_of_others_campaigns_is_not_found(
    client_for: Any, user: Any, other_user: Any, catalog: dict[str, Any]
) -> None:
    campaign = finished_campaign(other_user, catalog)
    g = campaign.generations.first()
    client = client_for(user)
    assert client.get(reverse("campaigns:campaign_review", args=[campaign.pk])).status_code == 404
    response = client.post(
        reverse("campaigns:generation_review", args=[g.pk]), {"rating": "5"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 404
    assert Generation.objects.get(pk=g.pk).rating is None


# --- dashboard ------------------------------------------------------------------------------
def test_dashboard_shows_last_activity_approvals_and_totals(
    client_for: Any, user: Any, catalog: dict[str, Any]
) -> None:
    campaign = finished_campaign(user, catalog)
    Generation.objects.filter(pk=campaign.generations.first().pk).update(approved=True)
    make_campaign(user, catalog, name="Draft one")
    html = client_for(user).get(reverse("campaigns:dashboard")).content.decode()
    assert "Last activity" in html
    assert "1 approved" in html and reverse("campaigns:campaign_review", args=[campaign.pk]) in html
    assert "12 / 12" in html and "$0.012000" in html  # 3 products × 2 templates × 2 models, $0.001 each
    assert 'data-testid="total-running">0<' in html


# --- CSV import -----------------------------------------------------------------------------
def test_import_preview_shows_rows_and_row_errors_and_saves_nothing(client_for: Any, user: Any) -> None:
    response = upload(client_for(user), SIMPLE_CSV)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="import-ready">2<' in html and 'data-testid="import-error-count">1<' in html
    assert 'data-row="3"' in html and "a product needs a name" in html
    assert "Desk Lamp" in html and "Tea Set" in html
    assert not Product.objects.exists()


def test_import_with_errors_needs_the_choice_to_leave_rows_out(client_for: Any, user: Any) -> None:
    client = client_for(user)
    upload(client, SIMPLE_CSV)
    confirm = reverse("campaigns:product_import")
    response = client.post(confirm, {"step": "confirm"})
    assert response.status_code == 200 and "Tick this to import the other rows" in response.content.decode()
    assert not Product.objects.exists()
    response = client.post(confirm, {"step": "confirm", "skip_errors": "on"}, follow=True)
    assert "Imported 2 products from products.csv." in response.content.decode()
    assert sorted(Product.objects.values_list("name", "language", "attributes")) == [
        ("Desk Lamp", "en", {"color": "black"}),
        ("Tea Set", "ja", {"color": "celadon"}),
    ]
    assert all(p.owner == user for p in Product.objects.all())
    # The pending file is gone once imported.
    again = client.post(confirm, {"step": "confirm"}, follow=True)
    assert "no longer here" in again.content.decode() and Product.objects.count() == 2


def test_import_a_shopify_export(client_for: Any, user: Any) -> None:
    client = client_for(user)
    html = upload(client, SHOPIFY_CSV, name="shopify.csv", language="de").content.decode()
    assert "A Shopify product export" in html
    client.post(reverse("campaigns:product_import"), {"step": "confirm"})
    product = Product.objects.get()
    assert (product.name, product.description, product.language) == ("Trail Runner", "Grippy sole", "de")
    assert product.attributes["options"] == {"Size": ["42", "43"]}


@pytest.mark.parametrize(
    ("content", "message"),
    [("title,price\nLamp,3\n", "unrecognised header"), ("name\n", "a header but no product rows")],
)
def test_an_unreadable_file_is_reported_on_the_form(client_for: Any, user: Any, content: str, message: str) -> None:
    response = upload(client_for(user), content)
    assert response.status_code == 200
    assert message in response.context["form"].errors["file"][0]


def test_product_list_links_to_the_import(client_for: Any, user: Any) -> None:
    html = client_for(user).get(reverse("campaigns:product_list")).content.decode()
    assert reverse("campaigns:product_import") in html


# --- templates ------------------------------------------------------------------------------
def test_template_editor_shows_where_the_template_is_used(
    client_for: Any, user: Any, other_user: Any, catalog: dict[str, Any]
) -> None:
    launched = finished_campaign(user, catalog, name="Launched one")
    make_campaign(user, catalog, name="Still a draft")
    make_campaign(other_user, catalog, name="Someone else's")
    template = catalog["templates"][0]
    html = client_for(user).get(reverse("campaigns:template_edit", args=[template.pk])).content.decode()
    assert "Launched one" in html and reverse("campaigns:campaign_review", args=[launched.pk]) in html
    assert "Still a draft" in html and "keep the version of this template they were created with" in html
    assert "Someone else" not in html and "And 1 campaign of other users." in html


def test_saving_a_used_template_names_the_campaigns_that_keep_the_earlier_text(
    client_for: Any, user: Any, catalog: dict[str, Any]
) -> None:
    campaign = finished_campaign(user, catalog, name="Launched one")
    template = catalog["templates"][0]
    pinned = campaign.generations.filter(template=template).first().prompt.messages
    client = client_for(user)
    url = reverse("campaigns:template_edit", args=[template.pk])
    response = client.post(
        url, {"name": template.name, "system_prompt": "", "body": "New {{ product.name }}"}, follow=True
    )
    assert "“Launched one” used the earlier text" in response.content.decode()
    assert campaign.generations.filter(template=template).first().prompt.messages == pinned
    # Renaming alone changes no prompt: no such note.
    response = client.post(url, {"name": "Renamed", "system_prompt": "", "body": "New {{ product.name }}"}, follow=True)
    assert "earlier text" not in response.content.decode()


def test_preview_renders_in_a_chosen_language(client_for: Any, user: Any) -> None:
    product = ProductFactory(language="en")
    response = client_for(user).post(
        reverse("campaigns:template_preview"),
        {
            "system_prompt": "",
            "body": "In {{ language }}: {{ product.name }}",
            "product_id": product.pk,
            "language": "fr",
        },
    )
    assert response.json()["messages"][0]["content"] == f"In fr: {product.name}"


# --- builder estimate -----------------------------------------------------------------------
def estimate_post(catalog: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data = {
        "products": [p.pk for p in catalog["products"][:2]],
        "templates": [catalog["templates"][0].pk],
        "models": [m.pk for m in catalog["models"]],
        "variants": "2",
        "languages": "en, de",
        "max_tokens": "100",
        "temperature": "0.7",
        "budget_usd": "1",
    }
    data.update(overrides)
    return data


def test_estimate_per_model_and_in_total(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    response = client_for(user).post(reverse("campaigns:campaign_estimate"), estimate_post(catalog))
    assert response.status_code == 200
    body = response.json()
    expected = matrix_estimate(
        product_ids=[p.pk for p in catalog["products"][:2]],
        template_ids=[catalog["templates"][0].pk],
        model_ids=[m.pk for m in catalog["models"]],
        variants=2,
        languages=["en", "de"],
        max_tokens=100,
    )
    assert body["ready"] is True
    assert body["cells"] == 2 * 1 * 2 * 2 * 2
    assert [row["cells"] for row in body["models"]] == [8, 8]
    assert Decimal(body["worst_case_usd"]) == expected["worst_case_usd"].quantize(Decimal("1e-6"))
    assert Decimal(body["expected_usd"]) < Decimal(body["worst_case_usd"])
    assert body["budget_usd"] == "1.00" and body["budget_covers_worst_case"] is True
    assert "60% of max tokens" in body["assumption"]


def test_the_builder_compares_the_campaign_on_every_active_model(
    client_for: Any, user: Any, catalog: dict[str, Any]
) -> None:
    cheap = LLMModelFactory(name="bargain", input_usd_per_mtok=Decimal("0.01"), output_usd_per_mtok=Decimal("0.02"))
    LLMModelFactory(name="retired", is_active=False)
    body = client_for(user).post(reverse("campaigns:campaign_estimate"), estimate_post(catalog)).json()
    rows = body["comparison"]
    assert [row["model_id"] for row in rows][0] == cheap.pk  # cheapest first, though not chosen
    assert {row["model_id"] for row in rows} == {cheap.pk, *(m.pk for m in catalog["models"])}
    assert [Decimal(r["expected_usd"]) for r in rows] == sorted(Decimal(r["expected_usd"]) for r in rows)


def test_estimate_flags_a_budget_below_the_worst_case(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    body = (
        client_for(user)
        .post(reverse("campaigns:campaign_estimate"), estimate_post(catalog, budget_usd="0.0000001"))
        .json()
    )
    assert body["budget_covers_worst_case"] is False and body["budget_covers_expected"] is False


def test_estimate_waits_for_every_axis_and_reports_bad_input(
    client_for: Any, user: Any, catalog: dict[str, Any]
) -> None:
    client = client_for(user)
    body = client.post(reverse("campaigns:campaign_estimate"), estimate_post(catalog, models=[])).json()
    assert body == {"ready": False, "missing": ["models"]}
    response = client.post(reverse("campaigns:campaign_estimate"), estimate_post(catalog, variants="50"))
    assert response.status_code == 400 and "variants" in response.json()["errors"]


def test_builder_page_has_the_estimate_panel(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    html = client_for(user).get(reverse("campaigns:campaign_create")).content.decode()
    assert f'data-estimate-url="{reverse("campaigns:campaign_estimate")}"' in html
    assert 'data-testid="estimate"' in html and "data-choice-filter" in html


# --- live page ------------------------------------------------------------------------------
def test_live_page_has_language_columns_charts_and_providers(
    client_for: Any, user: Any, catalog: dict[str, Any]
) -> None:
    campaign = make_campaign(user, catalog, languages=["en", "de"])
    html = client_for(user).get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    # Rows are products; columns template × model × (variant) × language.
    assert html.count('class="th-product"') == 3
    assert html.count('class="th-language"') == 2 * 2 * 2
    assert 'class="th-variant"' not in html  # one variant: no header row for it
    assert 'data-chart="latency"' in html and 'data-chart="spend"' in html
    assert f'data-provider-id="{catalog["provider"].pk}"' in html and "healthy" in html
    assert re.search(r'data-testid="review-link" hidden', html)  # a draft has nothing to review yet
    assert 'id="campaign-models"' in html


def test_live_page_shows_an_open_breaker_and_rate_limiting(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = make_campaign(user, catalog)
    campaign_launch(campaign_id=campaign.pk, actor=campaign.owner, token=None)
    provider = catalog["provider"]
    provider.breaker_state = "open"
    provider.save()
    g = campaign.generations.first()
    Attempt.objects.create(generation=g, number=1, model=g.model, status_code=429, error="rate limited")
    old = Attempt.objects.create(generation=g, number=2, model=g.model, status_code=429, error="rate limited")
    Attempt.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    html = client_for(user).get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    assert 'data-breaker="open"' in html and "breaker open: calls paused" in html
    assert 'data-rate-limited="true"' in html and "rate limited now · 2 × 429 in this campaign" in html


# --- review ---------------------------------------------------------------------------------
def test_review_page_compares_models_side_by_side(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = finished_campaign(user, catalog, variants=2, languages=["en", "de"])
    response = client_for(user).get(reverse("campaigns:campaign_review", args=[campaign.pk]))
    board = response.context["board"]
    assert [m.pk for m in board.models] == sorted(m.pk for m in catalog["models"])
    assert len(board.sections) == 3
    rows = board.sections[0].rows
    assert len(rows) == 2 * 2 * 2  # templates × variants × languages
    assert [r.language for r in rows[:2]] == ["en", "de"]  # in the campaign's order
    assert all(len(r.cells) == 2 and all(c.visible for c in r.cells) for r in rows)
    html = response.content.decode()
    assert html.count("data-review-cell") == 3 * 8 * 2
    first = campaign.generations.order_by("id").first()
    assert first.prompt.messages[-1]["content"] in html.replace("&#x27;", "'")  # the pinned prompt


def test_review_filters(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = finished_campaign(user, catalog)
    g = campaign.generations.order_by("id").first()
    Generation.objects.filter(pk=g.pk).update(rating=4, approved=True)
    Generation.objects.filter(pk=campaign.generations.order_by("id")[1].pk).update(rating=2, status="failed")
    client = client_for(user)
    url = reverse("campaigns:campaign_review", args=[campaign.pk])

    def matched(**params: Any) -> int:
        return client.get(url, params).context["board"].matched

    assert matched() == 12
    assert matched(approved="yes") == 1 and matched(approved="no") == 11
    assert matched(rating="3") == 1 and matched(rating="2") == 2 and matched(rating="unrated") == 10
    assert matched(status="failed") == 1
    assert matched(model=catalog["models"][0].pk) == 6
    assert matched(product=g.product_id, approved="yes") == 1
    assert matched(rating="bogus") == 12  # an invalid filter is ignored
    html = client.get(url, {"approved": "yes"}).content.decode()
    assert html.count('data-testid="review-text"') == 1 and "hidden by the filters" in html


def test_cost_per_approved_copy(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = finished_campaign(user, catalog)
    template, model = catalog["templates"][0], catalog["models"][0]
    cell = campaign.generations.filter(template=template, model=model)
    Generation.objects.filter(pk__in=list(cell.values_list("pk", flat=True)[:2])).update(approved=True)
    costs = client_for(user).get(reverse("campaigns:campaign_review", args=[campaign.pk])).context["costs"]
    by_template = dict(costs.rows)
    model_index = [m.pk for m in costs.models].index(model.pk)
    # 3 cells at $0.001 for this template and model, 2 approved: $0.0015 per approved copy.
    assert by_template[template.name][model_index]["per_approved"] == Decimal("0.0015")
    assert by_template[catalog["templates"][1].name][model_index]["per_approved"] is None
    assert by_template["All templates"][model_index]["per_approved"] == Decimal("0.003")


def review(client: Client, g: Generation, **data: Any) -> Any:
    return client.post(reverse("campaigns:generation_review", args=[g.pk]), data, HTTP_ACCEPT="application/json")


def test_rate_approve_and_edit_keep_the_original(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = finished_campaign(user, catalog)
    g = campaign.generations.first()
    client = client_for(user)
    assert review(client, g, rating="4").json()["rating"] == 4
    body = review(client, g, approved="true").json()
    assert body["approved"] is True and body["rating"] == 4
    body = review(client, g, edited_text="Better copy.").json()
    assert (body["final_text"], body["text"], body["edited_text"]) == ("Better copy.", g.text, "Better copy.")
    g.refresh_from_db()
    assert (g.rating, g.approved, g.edited_text, g.text) == (4, True, "Better copy.", f"Copy {g.pk}")
    assert g.approved_at is not None
    body = review(client, g, revert="on").json()
    assert body["edited_text"] == "" and body["final_text"] == g.text
    assert review(client, g, approved="false").json()["approved"] is False


def test_review_errors(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = make_campaign(user, catalog)
    campaign_launch(campaign_id=campaign.pk, actor=campaign.owner, token=None)
    queued = campaign.generations.first()
    client = client_for(user)
    response = review(client, queued, rating="4")
    assert response.status_code == 409 and "once it has finished" in response.json()["error"]
    Generation.objects.filter(pk=queued.pk).update(status="succeeded")
    response = review(client, queued, rating="9")
    assert response.status_code == 422 and response.json()["field"] == "rating"


def test_review_without_scripts_redirects_back(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = finished_campaign(user, catalog)
    g = campaign.generations.first()
    client = client_for(user)
    back = reverse("campaigns:campaign_review", args=[campaign.pk]) + "?approved=no"
    response = client.post(reverse("campaigns:generation_review", args=[g.pk]), {"approved": "true", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert Generation.objects.get(pk=g.pk).approved
    response = client.post(
        reverse("campaigns:generation_review", args=[g.pk]), {"rating": "3", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("campaigns:dashboard")


# --- export (the API's, linked from the review page) ----------------------------------------
def test_review_page_exports_through_the_api_with_the_session(
    client_for: Any, user: Any, catalog: dict[str, Any]
) -> None:
    campaign = finished_campaign(user, catalog, name="Spring launch")
    g = campaign.generations.order_by("id").first()
    Generation.objects.filter(pk=g.pk).update(approved=True, edited_text="Edited copy")
    client = client_for(user)
    html = client.get(reverse("campaigns:campaign_review", args=[campaign.pk])).content.decode()
    url = reverse("api-v1:campaign_export", args=[campaign.pk])
    assert f'action="{url}"' in html and 'name="approved_only" value="1"' in html
    for fmt in ("csv", "json", "xlsx"):
        assert f'name="format" value="{fmt}"' in html

    # What the form sends, with the browser's session.
    response = client.get(url, {"format": "csv", "approved_only": "1"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 1 and rows[0]["text"] == "Edited copy" and rows[0]["original_text"] == g.text
    response = client.get(url, {"format": "json"})
    assert len(json.loads(response.content)["rows"]) == 12
