"""Cost estimates before and after creating a campaign: worst case as reserved, and expected."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from campaigns.engine.costs import cost_usd, estimate_tokens, worst_case_usd
from campaigns.models import Generation
from campaigns.services.launch import messages_render
from tests.test_api import Api, assert_error, campaign_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write", "launch"))


def matrix(catalog: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = campaign_body(catalog, **overrides)
    return {k: v for k, v in body.items() if k not in {"name", "budget_usd"}}


def test_estimate_before_creating_matches_what_the_engine_reserves(api: Api, catalog: dict[str, Any]) -> None:
    response = api.post("/estimate", matrix(catalog))
    assert response.status_code == 200, response.content
    estimate = response.json()
    assert estimate["cells"] == 3 * 2 * 2 * 2 and estimate["prompts"] == 6
    assert estimate["max_tokens"] == 64 and estimate["expected_output_ratio"] == "0.6"
    assert estimate["budget_usd"] is None

    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    api.post(f"/campaigns/{campaign_id}/launch")
    for row in estimate["models"]:
        gens = Generation.objects.filter(campaign_id=campaign_id, model_id=row["model_id"]).select_related("model")
        reserved = sum(
            (
                worst_case_usd(
                    g.prompt.messages,
                    64,
                    input_usd_per_mtok=g.model.input_usd_per_mtok,
                    output_usd_per_mtok=g.model.output_usd_per_mtok,
                )
                for g in gens
            ),
            Decimal(0),
        )
        assert Decimal(row["worst_case_usd"]) == reserved and row["cells"] == gens.count() == 12
    total = sum(Decimal(row["worst_case_usd"]) for row in estimate["models"])
    assert Decimal(estimate["worst_case_usd"]) == total
    assert isinstance(estimate["worst_case_usd"], str) and isinstance(estimate["expected_usd"], str)


def test_expected_cost_follows_the_documented_assumption(api: Api, catalog: dict[str, Any]) -> None:
    product, template, model = catalog["products"][0], catalog["templates"][0], catalog["models"][1]
    body = matrix(catalog, product_ids=[product.id], template_ids=[template.id], model_ids=[model.id], variants=3)
    row = api.post("/estimate", body).json()["models"][0]
    messages = messages_render(template=template, product=product)
    tokens_in = sum(estimate_tokens(m["content"]) + 4 for m in messages)
    tokens_out = math.ceil(0.6 * 64)
    assert (row["input_tokens_expected"], row["output_tokens_expected"]) == (3 * tokens_in, 3 * tokens_out)
    prices = {
        "input_usd_per_mtok": Decimal(model.input_usd_per_mtok),
        "output_usd_per_mtok": Decimal(model.output_usd_per_mtok),
    }
    expected = 3 * cost_usd(tokens_in, tokens_out, **prices)
    assert Decimal(row["expected_usd"]) == expected
    assert row["output_tokens_worst"] == 3 * 64 and row["model"] == str(model)


def test_estimates_compare_models_for_the_same_work(api: Api, catalog: dict[str, Any]) -> None:
    cheap, dear = api.post("/estimate", matrix(catalog)).json()["models"]
    assert cheap["input_tokens_worst"] == dear["input_tokens_worst"]
    assert Decimal(cheap["expected_usd"]) < Decimal(dear["expected_usd"])
    assert Decimal(cheap["worst_case_usd"]) < Decimal(dear["worst_case_usd"])


def test_languages_multiply_the_estimate(api: Api, catalog: dict[str, Any]) -> None:
    one = api.post("/estimate", matrix(catalog)).json()
    two = api.post("/estimate", matrix(catalog, languages=["de", "fr"])).json()
    assert two["cells"] == 2 * one["cells"] and two["prompts"] == 2 * one["prompts"]


def test_campaign_estimate_compares_with_the_budget(api: Api, catalog: dict[str, Any]) -> None:
    campaign_id = api.post("/campaigns", campaign_body(catalog, budget_usd="0.000001")).json()["id"]
    estimate = api.get(f"/campaigns/{campaign_id}/estimate").json()
    assert estimate["budget_usd"] == "0.000001" and estimate["budget_covers_worst_case"] is False
    assert api.post("/estimate", matrix(catalog)).json()["worst_case_usd"] == estimate["worst_case_usd"]
    api.patch(f"/campaigns/{campaign_id}", {"budget_usd": "100"})
    assert api.get(f"/campaigns/{campaign_id}/estimate").json()["budget_covers_worst_case"] is True


def test_estimate_errors_name_the_field(
    api: Api, catalog: dict[str, Any], user: Any, make_token: Callable[..., str]
) -> None:
    assert_error(api.post("/estimate", matrix(catalog, product_ids=[999999])), 422, "product_ids")
    assert_error(api.post("/estimate", matrix(catalog, model_ids=[])), 422, "model_ids")
    assert_error(api.post("/estimate", matrix(catalog, max_tokens=0)), 422, "max_tokens")
    assert Api(make_token(user, "read")).post("/estimate", matrix(catalog)).status_code == 200
