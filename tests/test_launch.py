"""Launching: prompts rendered before the write transaction and stored once, state re-checked
under the lock, render errors and oversized matrices as 4xx naming the field."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from campaigns.models import Campaign, Generation, Product, Prompt, PromptTemplate
from campaigns.services import launch
from campaigns.services.errors import CampaignStateError
from campaigns.services.launch import campaign_create, campaign_launch, messages_render
from tests.factories import LLMModelFactory
from tests.test_api import Api, assert_error, campaign_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write", "launch"))


def _campaign(user: Any, catalog: dict[str, Any], **kwargs: Any) -> Campaign:
    second = catalog["templates"][1]
    second.body = "Describe {{ product.name }} in one line."
    second.save()
    return campaign_create(
        owner=user, name="Launch", product_ids=[p.id for p in catalog["products"]],
        template_ids=[t.id for t in catalog["templates"]], model_ids=[m.id for m in catalog["models"]], **kwargs
    )


def test_cells_that_differ_only_by_model_or_variant_share_one_stored_prompt(user: Any, catalog: dict[str, Any]) -> None:
    campaign = _campaign(user, catalog, variants=2, languages=["en", "fr"])
    campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
    assert campaign.generations.count() == 3 * 2 * 2 * 2 * 2
    assert Prompt.objects.filter(campaign=campaign).count() == 3 * 2 * 2  # products × templates × languages
    for g in campaign.generations.select_related("prompt", "product", "template_version"):
        assert g.prompt.campaign_id == campaign.id
        assert g.prompt.messages == messages_render(template=g.template_version, product=g.product, language=g.language)


def test_identical_prompts_of_different_products_are_stored_once(user: Any, catalog: dict[str, Any]) -> None:
    template = PromptTemplate.objects.create(name="Fixed", body="Write a slogan for our shop.")
    campaign = campaign_create(
        owner=user, name="Same words", product_ids=[p.id for p in catalog["products"]],
        template_ids=[template.id], model_ids=[catalog["models"][0].id],
    )
    campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
    assert campaign.generations.count() == 3 and Prompt.objects.filter(campaign=campaign).count() == 1


def test_a_template_that_fails_to_render_is_a_422_naming_it(
    api: Api, catalog: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    failing = catalog["templates"][1]

    def render(*, template: Any, product: Any, language: str = "") -> list[dict[str, str]]:
        if template.name == failing.name:
            raise ValidationError("the loop ran more than 1000 times")
        return messages_render(template=template, product=product, language=language)

    monkeypatch.setattr(launch, "messages_render", render)
    response = api.post(f"/campaigns/{campaign_id}/launch")
    assert_error(response, 422, "template_ids", f"'{failing.name}'", "more than 1000 times")
    assert_error(api.get(f"/campaigns/{campaign_id}/estimate"), 422, "template_ids", f"'{failing.name}'")
    campaign = Campaign.objects.get(id=campaign_id)
    assert campaign.status == Campaign.Status.DRAFT
    assert not Generation.objects.filter(campaign=campaign).exists() and not campaign.prompts.exists()


def test_a_campaign_launched_by_someone_else_while_rendering_is_not_launched_twice(
    user: Any, catalog: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = _campaign(user, catalog)
    plan = launch._plan

    def plan_then_race(campaign: Campaign) -> Any:
        result = plan(campaign)
        monkeypatch.setattr(launch, "_plan", plan)
        campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)  # the other launch wins while this one rendered
        return result

    monkeypatch.setattr(launch, "_plan", plan_then_race)
    with pytest.raises(CampaignStateError, match="only a draft can be launched"):
        campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
    assert campaign.generations.count() == 3 * 2 * 2  # written once
    assert Prompt.objects.filter(campaign=campaign).count() == 3 * 2


def test_a_draft_edited_while_rendering_is_refused_not_launched_with_stale_prompts(
    user: Any, catalog: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = _campaign(user, catalog)
    plan = launch._plan

    def plan_then_edit(campaign: Campaign) -> Any:
        result = plan(campaign)
        campaign.products.remove(catalog["products"][0])
        return result

    monkeypatch.setattr(launch, "_plan", plan_then_edit)
    with pytest.raises(CampaignStateError, match="changed while it was launching"):
        campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and not campaign.generations.exists()


def _many_products(n: int) -> list[int]:
    Product.objects.bulk_create([Product(name=f"Bulk {i}") for i in range(n)])
    return list(Product.objects.filter(name__startswith="Bulk ").values_list("id", flat=True))


def test_the_cell_limit_names_the_id_list_that_grew_the_matrix(api: Api, catalog: dict[str, Any]) -> None:
    product_ids = _many_products(600)
    templates = PromptTemplate.objects.bulk_create([PromptTemplate(name=f"T{i}", body="Hi.") for i in range(18)])
    body = campaign_body(
        catalog, product_ids=product_ids, template_ids=[t.id for t in templates],
        model_ids=[catalog["models"][0].id], variants=20,
    )
    response = api.post("/campaigns", body)
    assert_error(response, 422, "product_ids", "600 products", "216000 cells", "limit is 200000")
    assert_error(api.post("/estimate", {k: v for k, v in body.items() if k != "name"}), 422, "product_ids")


def test_an_edit_over_the_cell_limit_names_the_changed_field_with_its_count(api: Api, catalog: dict[str, Any]) -> None:
    product_ids = _many_products(600)
    templates = PromptTemplate.objects.bulk_create([PromptTemplate(name=f"T{i}", body="Hi.") for i in range(10)])
    body = campaign_body(
        catalog, product_ids=product_ids, template_ids=[t.id for t in templates],
        model_ids=[catalog["models"][0].id], variants=20,
    )
    response = api.post("/campaigns", body)
    assert response.status_code == 201, response.content
    campaign_id = response.json()["id"]
    response = api.patch(f"/campaigns/{campaign_id}", {"model_ids": [m.id for m in catalog["models"]]})
    assert_error(response, 422, "model_ids", "2 models", "240000 cells")


@pytest.mark.django_db(transaction=True)
def test_other_users_write_while_a_30000_cell_launch_runs(
    user: Any, other_user: Any, make_token: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch renders 750 prompts outside any transaction and writes 30,000 cells in one short
    one: another user's writes go through while it renders, and wait (not fail) while it writes."""
    Product.objects.bulk_create([Product(name=f"Item {i}", description="Soft and warm.") for i in range(150)])
    templates = PromptTemplate.objects.bulk_create(
        [PromptTemplate(name=f"T{i}", body=f"Angle {i}: praise {{{{ product.name }}}}.") for i in range(5)]
    )
    models = [LLMModelFactory(), LLMModelFactory()]
    campaign = campaign_create(
        owner=user, name="Big", product_ids=list(Product.objects.values_list("id", flat=True)),
        template_ids=[t.id for t in templates], model_ids=[m.id for m in models], variants=20,
    )
    rendering, go_on, writing = threading.Event(), threading.Event(), threading.Event()
    render, write = launch.messages_render, launch._write

    def render_and_hold(**kwargs: Any) -> list[dict[str, str]]:
        if not rendering.is_set():  # the first prompt: let the other user in before the rest
            rendering.set()
            assert go_on.wait(60)
        return render(**kwargs)

    def announce_write(campaign: Campaign, plan: Any) -> None:
        writing.set()
        write(campaign, plan)

    monkeypatch.setattr(launch, "messages_render", render_and_hold)
    monkeypatch.setattr(launch, "_write", announce_write)
    outcome: dict[str, Any] = {}

    def run_launch() -> None:
        try:
            outcome["campaign"] = campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc
        finally:
            connections.close_all()

    launcher = threading.Thread(target=run_launch)
    launcher.start()
    try:
        assert rendering.wait(60), outcome
        other = Api(make_token(other_user, "read", "write"))
        response = other.post("/products", {"name": "Added while the launch renders"})
        assert response.status_code == 201, response.content
        go_on.set()
        assert writing.wait(60), outcome
        response = other.post("/products", {"name": "Added while the launch writes"})
        assert response.status_code == 201, response.content
    finally:
        go_on.set()
        launcher.join(120)
    assert "error" not in outcome, outcome
    assert Generation.objects.filter(campaign=campaign).count() == 30_000
    assert Prompt.objects.filter(campaign=campaign).count() == 150 * 5
    assert Campaign.objects.get(id=campaign.id).status == Campaign.Status.RUNNING
