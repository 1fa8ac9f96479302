"""The marketer UI: pages, forms and the template preview, through the test client."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.models import Campaign, Generation, Product, PromptTemplate
from campaigns.services.errors import InvalidInput
from campaigns.services.launch import campaign_launch
from tests import view_support
from tests.factories import LLMModelFactory, ProductFactory
from tests.view_support import campaign_post, make_campaign

pytestmark = pytest.mark.django_db

client_for = view_support.client_for  # the fixture, shared by the view tests


def cells(html: str) -> list[str]:
    return re.findall(r"<td[^>]*data-generation-cell[^>]*>", html)


# --- access ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("dashboard", {}),
        ("product_list", {}),
        ("product_create", {}),
        ("product_edit", {"pk": 1}),
        ("product_delete", {"pk": 1}),
        ("template_list", {}),
        ("template_create", {}),
        ("template_edit", {"pk": 1}),
        ("campaign_create", {}),
        ("campaign_detail", {"pk": 1}),
    ],
)
def test_pages_require_login(client: Client, name: str, kwargs: dict[str, int]) -> None:
    url = reverse(f"campaigns:{name}", kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_preview_requires_login(client: Client) -> None:
    response = client.post(reverse("campaigns:template_preview"), {"body": "x"})
    assert response.status_code == 302


def test_login_page_and_sign_in(client: Client, user: Any) -> None:
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert "Sign in to copygen" in page.content.decode()
    response = client.post(reverse("login"), {"username": "alice", "password": "pass-word-123"})
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:dashboard")


def test_login_page_shows_bad_credentials(client: Client, user: Any) -> None:
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()


def test_nav_shows_admin_to_staff_only(client_for: Any, user: Any, staff_user: Any) -> None:
    html = client_for(user).get(reverse("campaigns:dashboard")).content.decode()
    assert "Log out" in html and reverse("admin:index") not in html
    html = client_for(staff_user).get(reverse("campaigns:dashboard")).content.decode()
    assert reverse("admin:index") in html


# --- dashboard ------------------------------------------------------------------------------
def test_dashboard_lists_only_visible_campaigns(
    client_for: Any, user: Any, other_user: Any, staff_user: Any, catalog: dict[str, Any]
) -> None:
    mine = make_campaign(user, catalog, name="Mine", variants=2)
    theirs = make_campaign(other_user, catalog, name="Theirs")
    html = client_for(user).get(reverse("campaigns:dashboard")).content.decode()
    assert reverse("campaigns:campaign_detail", args=[mine.pk]) in html
    assert reverse("campaigns:campaign_detail", args=[theirs.pk]) not in html
    assert "0 / 24" in html  # a draft counts the cells it will have
    assert "$0.000000" in html and "of $0.50" in html
    html = client_for(staff_user).get(reverse("campaigns:dashboard")).content.decode()
    assert "Mine" in html and "Theirs" in html


def test_dashboard_empty_state(client_for: Any, user: Any) -> None:
    html = client_for(user).get(reverse("campaigns:dashboard")).content.decode()
    assert "No campaigns yet" in html


# --- products -------------------------------------------------------------------------------
def test_product_create_sets_owner(client_for: Any, user: Any) -> None:
    response = client_for(user).post(
        reverse("campaigns:product_create"),
        {"name": "Trail Runner", "description": "Grippy.", "attributes": '{"color": "green"}', "language": "en"},
        follow=True,
    )
    product = Product.objects.get(name="Trail Runner")
    assert product.owner == user
    assert product.attributes == {"color": "green"}
    assert response.redirect_chain[-1][0] == reverse("campaigns:product_list")
    assert "Product “Trail Runner” created." in response.content.decode()


def test_product_create_empty_attributes_is_an_empty_object(client_for: Any, user: Any) -> None:
    client_for(user).post(
        reverse("campaigns:product_create"), {"name": "Plain", "description": "", "attributes": "", "language": "en"}
    )
    assert Product.objects.get(name="Plain").attributes == {}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [('["blue"]', "Attributes must be a JSON object"), ("{color: blue}", "This is not valid JSON.")],
)
def test_product_attributes_must_be_a_json_object(client_for: Any, user: Any, attributes: str, message: str) -> None:
    response = client_for(user).post(
        reverse("campaigns:product_create"),
        {"name": "Lamp", "description": "", "attributes": attributes, "language": "en"},
    )
    assert response.status_code == 200
    assert message in response.context["form"].errors["attributes"][0]
    html = response.content.decode()
    assert 'id="id_attributes_error"' in html and 'aria-invalid="true"' in html
    assert not Product.objects.filter(name="Lamp").exists()


def test_product_edit(client_for: Any, user: Any) -> None:
    product = ProductFactory(name="Old name")
    url = reverse("campaigns:product_edit", args=[product.pk])
    page = client_for(user).get(url)
    assert "Old name" in page.content.decode() and "&quot;color&quot;: &quot;blue&quot;" in page.content.decode()
    response = client_for(user).post(
        url, {"name": "New name", "description": "d", "attributes": '{"size": "L"}', "language": "fr"}
    )
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.attributes, product.language) == ("New name", {"size": "L"}, "fr")


def test_product_delete_asks_then_deletes(client_for: Any, user: Any) -> None:
    product = ProductFactory(name="Doomed")
    url = reverse("campaigns:product_delete", args=[product.pk])
    confirm = client_for(user).get(url)
    assert confirm.status_code == 200 and "Delete “Doomed”?" in confirm.content.decode()
    assert Product.objects.filter(pk=product.pk).exists()
    response = client_for(user).post(url, follow=True)
    assert not Product.objects.filter(pk=product.pk).exists()
    assert "Product “Doomed” deleted." in response.content.decode()


def test_product_with_generated_copy_cannot_be_deleted(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign_launch(campaign_id=make_campaign(user, catalog).pk, actor=user, token=None)
    product = catalog["products"][0]
    response = client_for(user).post(reverse("campaigns:product_delete", args=[product.pk]), follow=True)
    assert Product.objects.filter(pk=product.pk).exists()
    assert "cannot be deleted" in response.content.decode()


def test_product_search(client_for: Any, user: Any) -> None:
    ProductFactory(name="Desk lamp", description="Warm light")
    ProductFactory(name="Hoodie", description="Merino wool")
    html = client_for(user).get(reverse("campaigns:product_list"), {"q": "merino"}).content.decode()
    assert "Hoodie" in html and "Desk lamp" not in html
    html = client_for(user).get(reverse("campaigns:product_list"), {"q": "LAMP"}).content.decode()
    assert "Desk lamp" in html and "Hoodie" not in html


# --- templates ------------------------------------------------------------------------------
def test_template_create_rejects_unknown_variable(client_for: Any, user: Any) -> None:
    response = client_for(user).post(
        reverse("campaigns:template_create"),
        {"name": "Price", "system_prompt": "", "body": "Costs {{ product.price }}"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["body"]
    assert "unknown variable 'product.price'" in errors["body"][0]
    assert "unknown variable &#x27;product.price&#x27;" in response.content.decode()
    assert not PromptTemplate.objects.filter(name="Price").exists()


def test_template_create_reports_syntax_error_on_system_prompt(client_for: Any, user: Any) -> None:
    response = client_for(user).post(
        reverse("campaigns:template_create"),
        {"name": "Broken", "system_prompt": "{% if %}", "body": "Hi {{ product.name }}"},
    )
    assert list(response.context["form"].errors) == ["system_prompt"]
    assert "template syntax error" in response.context["form"].errors["system_prompt"][0]


def test_template_create_and_edit(client_for: Any, user: Any) -> None:
    client = client_for(user)
    response = client.post(
        reverse("campaigns:template_create"),
        {"name": "Tagline", "system_prompt": "Answer in {{ language }}.", "body": "Tagline for {{ product.name }}"},
    )
    assert response.status_code == 302
    template = PromptTemplate.objects.get(name="Tagline")
    assert template.owner == user
    page = client.get(reverse("campaigns:template_edit", args=[template.pk]))
    html = page.content.decode()
    for variable in ("product.name", "product.description", "product.language", "language"):
        assert f'data-insert="{{{{ {variable} }}}}"' in html
    client.post(
        reverse("campaigns:template_edit", args=[template.pk]),
        {"name": "Tagline v2", "system_prompt": "", "body": "{{ product.description }}"},
    )
    template.refresh_from_db()
    assert (template.name, template.body) == ("Tagline v2", "{{ product.description }}")


def test_template_form_lists_attribute_keys(client_for: Any, user: Any) -> None:
    ProductFactory(attributes={"weight": "260 g"})
    html = client_for(user).get(reverse("campaigns:template_create")).content.decode()
    assert "{{ product.attributes.weight | default: &quot;&quot; }}" in html


def test_preview_renders_messages(client_for: Any, user: Any) -> None:
    product = ProductFactory(name="Aurora Lamp", attributes={"color": "black"}, language="de")
    response = client_for(user).post(
        reverse("campaigns:template_preview"),
        {
            "system_prompt": "Write in {{ language }}.",
            "body": "Tagline for {{ product.name }} in {{ product.attributes.color }}",
            "product_id": str(product.pk),
        },
    )
    assert response.status_code == 200
    assert response.json() == {
        "messages": [
            {"role": "system", "content": "Write in de."},
            {"role": "user", "content": "Tagline for Aurora Lamp in black"},
        ]
    }


def test_preview_reports_the_field_in_error(client_for: Any, user: Any) -> None:
    product = ProductFactory()
    response = client_for(user).post(
        reverse("campaigns:template_preview"),
        {"system_prompt": "", "body": "{{ product.price }}", "product_id": str(product.pk)},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert "product.price" in response.json()["error"]


def test_preview_needs_a_product(client_for: Any, user: Any) -> None:
    response = client_for(user).post(reverse("campaigns:template_preview"), {"body": "Hi", "product_id": "999999"})
    assert response.status_code == 400
    assert response.json()["field"] == "product_id"


def test_preview_is_post_only(client_for: Any, user: Any) -> None:
    assert client_for(user).get(reverse("campaigns:template_preview")).status_code == 405


# --- new campaign ---------------------------------------------------------------------------
def test_campaign_form_lists_active_models_with_prices(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    LLMModelFactory(provider=catalog["provider"], name="retired-model", is_active=False)
    html = client_for(user).get(reverse("campaigns:campaign_create")).content.decode()
    assert "retired-model" not in html
    assert "$0.50 in / $1.50 out per Mtok" in html
    assert html.count('name="products"') == 3 and html.count('name="templates"') == 2


def test_campaign_create_makes_a_draft(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    response = client_for(user).post(reverse("campaigns:campaign_create"), campaign_post(catalog))
    campaign = Campaign.objects.get(name="Autumn")
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:campaign_detail", args=[campaign.pk])
    assert campaign.owner == user and campaign.status == Campaign.Status.DRAFT
    assert set(campaign.products.all()) == set(catalog["products"][:2])
    assert list(campaign.templates.all()) == [catalog["templates"][0]]
    assert set(campaign.llm_models.all()) == set(catalog["models"])
    assert (campaign.variants, campaign.max_tokens, campaign.temperature) == (3, 128, 0.5)
    assert campaign.budget_usd == Decimal("1.25")
    assert not campaign.generations.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"products": []}, "products"), ({"variants": "21"}, "variants"), ({"temperature": "3"}, "temperature")],
)
def test_campaign_create_shows_errors_on_fields(
    client_for: Any, user: Any, catalog: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    response = client_for(user).post(reverse("campaigns:campaign_create"), campaign_post(catalog, **overrides))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Campaign.objects.exists()


def test_campaign_create_puts_service_errors_on_the_named_field(
    client_for: Any, user: Any, catalog: dict[str, Any]
) -> None:
    error = InvalidInput("model_ids", "model_ids: inactive model sim-a")
    with mock.patch("campaigns.views.campaigns.launch.campaign_create", side_effect=error):
        response = client_for(user).post(reverse("campaigns:campaign_create"), campaign_post(catalog))
    assert response.status_code == 200
    assert response.context["form"].errors["models"] == ["inactive model sim-a"]


def test_campaign_create_with_languages(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    response = client_for(user).post(
        reverse("campaigns:campaign_create"), campaign_post(catalog, languages="de, ja ,, de")
    )
    assert response.status_code == 302
    assert Campaign.objects.get(name="Autumn").languages == ["de", "ja"]


# --- live campaign page ---------------------------------------------------------------------
def test_campaign_page_renders_the_grid_skeleton(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = make_campaign(user, catalog, variants=2)
    response = client_for(user).get(reverse("campaigns:campaign_detail", args=[campaign.pk]))
    html = response.content.decode()
    found = cells(html)
    assert len(found) == 3 * 2 * 2 * 2
    assert all('data-status="not-started"' in cell for cell in found)
    product, template, model = catalog["products"][0], catalog["templates"][1], catalog["models"][1]
    assert f'data-key="{product.pk}-{template.pk}-{model.pk}-2"' in html
    assert html.count('data-testid="cell-text"') == 24
    assert html.count('class="th-variant"') == 8 and html.count('class="th-template"') == 2
    assert f"/ws/campaigns/{campaign.pk}/" in html
    launch = re.search(r"<button[^>]*data-testid=\"launch\"[^>]*>", html).group(0)
    cancel = re.search(r"<button[^>]*data-testid=\"cancel\"[^>]*>", html).group(0)
    assert "disabled" not in launch and "disabled" in cancel
    assert re.search(r'role="progressbar"[^>]*aria-valuenow="0"[^>]*"0 of 24 done"[^>]*data-testid="progress"', html)
    assert "0 / 24" in html
    assert "$0.000000 of $0.50" in html


def test_campaign_page_shows_generations(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = make_campaign(user, catalog, variants=1)
    campaign_launch(campaign_id=campaign.pk, actor=campaign.owner, token=None)
    done = campaign.generations.order_by("id").first()
    Generation.objects.filter(pk=done.pk).update(
        status="succeeded",
        text="Fresh <copy> here",
        ttft_ms=120.4,
        latency_ms=980.6,
        tokens_in=30,
        tokens_out=12,
        cost_usd=Decimal("0.001234"),
        cost_source="estimated",
    )
    Generation.objects.filter(campaign=campaign).exclude(pk=done.pk).update(
        status="failed", error="provider said no", finished_at=None
    )
    html = client_for(user).get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    found = cells(html)
    assert len(found) == 12
    assert sum('data-status="succeeded"' in c for c in found) == 1
    assert f'data-generation-id="{done.pk}"' in html
    assert "Fresh &lt;copy&gt; here" in html
    assert "TTFT 120 ms" in html and "total 981 ms" in html and "30 in · 12 out" in html
    assert "~$0.001234" in html
    assert "provider said no" in html
    assert "12 / 12" in html and "$0.001234 of $0.50" in html
    assert 'aria-valuenow="100"' in html
    launch = re.search(r"<button[^>]*data-testid=\"launch\"[^>]*>", html).group(0)
    cancel = re.search(r"<button[^>]*data-testid=\"cancel\"[^>]*>", html).group(0)
    assert "disabled" in launch and "disabled" not in cancel


def test_other_users_campaign_is_not_found(
    client_for: Any, user: Any, other_user: Any, staff_user: Any, catalog: dict[str, Any]
) -> None:
    campaign = make_campaign(other_user, catalog)
    url = reverse("campaigns:campaign_detail", args=[campaign.pk])
    assert client_for(user).get(url).status_code == 404
    assert client_for(user).post(reverse("campaigns:campaign_launch", args=[campaign.pk])).status_code == 404
    assert client_for(staff_user).get(url).status_code == 200


def test_launch_and_cancel_without_scripts(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    client = client_for(user)
    campaign = make_campaign(user, catalog, variants=1)
    response = client.post(reverse("campaigns:campaign_launch", args=[campaign.pk]), follow=True)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.generations.count() == 12
    assert "launched" in response.content.decode()
    again = client.post(reverse("campaigns:campaign_launch", args=[campaign.pk]), follow=True)
    assert "only a draft can be launched" in again.content.decode()
    client.post(reverse("campaigns:campaign_cancel", args=[campaign.pk]))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED


def test_campaign_page_has_a_row_per_product_and_language(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = make_campaign(user, catalog, variants=1, languages=["de", "ja"])
    campaign_launch(campaign_id=campaign.pk, actor=campaign.owner, token=None)
    html = client_for(user).get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    found = cells(html)
    assert len(found) == 3 * 2 * 2 * 1 * 2
    assert all("data-generation-id=" in cell and 'data-status="queued"' in cell for cell in found)
    product, template, model = catalog["products"][0], catalog["templates"][0], catalog["models"][0]
    assert f'data-key="{product.pk}-{template.pk}-{model.pk}-1-ja"' in html
    assert 'data-multilingual="true"' in html


def test_campaign_page_names_the_fallback_model(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = make_campaign(user, catalog, variants=1)
    campaign_launch(campaign_id=campaign.pk, actor=campaign.owner, token=None)
    primary, fallback = catalog["models"]
    fallback.label = "Backup model"
    fallback.save()
    campaign.generations.filter(model=primary).update(status="succeeded", served_by=fallback, text="ok")
    html = client_for(user).get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    assert html.count("via Backup model") == 3 * 2
