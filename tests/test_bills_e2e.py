"""Bills against the simulator over a real socket: cached and reasoning tokens in every usage
shape, prices pinned at launch, and reasoning models that refuse today's request."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from campaigns.engine.costs import MILLION, MONEY_QUANTUM, cost_usd
from campaigns.models import Attempt, Campaign, CampaignPrice, Generation, LLMModel
from campaigns.providers.usage import parse_usage
from campaigns.services.launch import campaign_create, campaign_launch
from campaigns.services.llm_models import llm_model_update
from campaigns.simulator import Simulator
from tests.factories import LLMModelFactory, ProductFactory, PromptTemplateFactory, ProviderFactory
from tests.test_api import Api
from tests.test_engine_e2e import wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

# The same long system prompt in every cell: the provider's prefix cache serves it.
SYSTEM = "You are a senior copywriter for an outdoor brand. " * 14 + "Answer in {{ language }}."
PRICES = {
    "input_usd_per_mtok": Decimal("2.500000"),
    "cached_input_usd_per_mtok": Decimal("0.250000"),
    "cache_write_usd_per_mtok": Decimal("3.125000"),
    "output_usd_per_mtok": Decimal("10.000000"),
}


def _matrix(simulator: Simulator, *model_names: str, **model_fields: Any) -> dict[str, Any]:
    # One request at a time, so each prompt finds the earlier ones in the cache.
    provider = ProviderFactory(name="Simulator", base_url=simulator.base_url, max_concurrency=1)  # type: ignore[attr-defined]
    return {
        "models": [LLMModelFactory(provider=provider, name=name, **{**PRICES, **model_fields}) for name in model_names],
        "products": [ProductFactory() for _ in range(3)],
        "templates": [PromptTemplateFactory(system_prompt=SYSTEM) for _ in range(2)],
    }


def _launch(matrix: dict[str, Any], owner: Any, **options: Any) -> Campaign:
    campaign = campaign_create(
        owner=owner,
        name="Bills",
        product_ids=[p.id for p in matrix["products"]],
        template_ids=[t.id for t in matrix["templates"]],
        model_ids=[m.id for m in matrix["models"]],
        max_tokens=48,
        budget_usd=Decimal("10"),
        **options,
    )
    return campaign_launch(campaign_id=campaign.id, actor=owner, token=None)


def _billed(usage: dict[str, Any], prices: CampaignPrice | dict[str, Decimal]) -> Decimal:
    """The provider's usage times the prices, computed here from the raw usage object."""
    get = prices.get if isinstance(prices, dict) else lambda name: getattr(prices, name)
    parsed = parse_usage(usage)
    assert parsed is not None
    exact = (
        (parsed.prompt_tokens - parsed.cached_tokens - parsed.cache_write_tokens) * get("input_usd_per_mtok")
        + parsed.cached_tokens * get("cached_input_usd_per_mtok")
        + parsed.cache_write_tokens * get("cache_write_usd_per_mtok")
        + parsed.completion_tokens * get("output_usd_per_mtok")
    ) / MILLION
    return exact.quantize(MONEY_QUANTUM, rounding="ROUND_CEILING")


@pytest.mark.parametrize("shape", ["openai", "deepseek", "openrouter"])
async def test_each_usage_shape_is_billed_exactly_and_totals_are_the_sums(
    simulator: Simulator, user: Any, make_token: Callable[..., str], inline_engine: Any, shape: str
) -> None:
    matrix = await sync_to_async(_matrix)(simulator, f"sim-cache@ttft=1,gap=0,len=10,jitter=0,usage={shape}")
    campaign = await sync_to_async(_launch)(matrix, user)
    campaign = await wait_finished(campaign.id)
    assert campaign.status == Campaign.Status.COMPLETED

    pinned = await CampaignPrice.objects.aget(campaign=campaign)
    generations = [g async for g in Generation.objects.filter(campaign=campaign)]
    assert len(generations) == 6
    for g in generations:
        sent = simulator.completions[g.response_id]["usage"]
        assert g.cost_usd == _billed(sent, pinned) and g.cost_source == "reported"
        reported = parse_usage(sent)
        assert reported is not None
        assert (g.tokens_in, g.tokens_out, g.tokens_cached, g.tokens_cache_write) == (
            reported.prompt_tokens,
            reported.completion_tokens,
            reported.cached_tokens,
            reported.cache_write_tokens,
        )
    cached = sum(g.tokens_cached for g in generations)
    assert cached > 0  # the later cells found the system prompt in the cache
    assert campaign.spent_usd == sum((g.cost_usd for g in generations), Decimal(0))

    body = await sync_to_async(lambda: Api(make_token(user, "read")).get(f"/campaigns/{campaign.id}").json())()
    assert body["tokens_cached"] == cached
    assert body["tokens_in"] == sum(g.tokens_in for g in generations)
    assert body["cache_hit_ratio"] == round(cached / body["tokens_in"], 4)
    savings = Decimal(cached) * (PRICES["input_usd_per_mtok"] - PRICES["cached_input_usd_per_mtok"]) / MILLION
    assert Decimal(body["cache_savings_usd"]) == savings.quantize(MONEY_QUANTUM)
    assert Decimal(body["spend_usd"]) == campaign.spent_usd
    [price] = body["pinned_prices"]
    assert price["cached_input_usd_per_mtok"] == "0.25" and price["model_id"] == matrix["models"][0].id

    listed = await sync_to_async(
        lambda: Api(make_token(user, "read")).get(f"/campaigns/{campaign.id}/generations", limit=100).json()
    )()
    assert sum(item["tokens_cached"] for item in listed["items"]) == cached


async def test_a_price_changed_mid_campaign_leaves_that_campaigns_costs_unchanged(
    simulator: Simulator, user: Any, inline_engine: Any
) -> None:
    matrix = await sync_to_async(_matrix)(simulator, "sim-pin@ttft=20,gap=2,len=10,jitter=0")
    model: LLMModel = matrix["models"][0]
    campaign = await sync_to_async(_launch)(matrix, user)
    doubled = {name: value * 2 for name, value in PRICES.items()}
    await sync_to_async(llm_model_update)(model=model, data=doubled)  # while the campaign runs
    campaign = await wait_finished(campaign.id)
    later = await sync_to_async(_launch)(matrix, user)
    later = await wait_finished(later.id)

    for run, prices in ((campaign, PRICES), (later, doubled)):
        assert run.status == Campaign.Status.COMPLETED
        async for g in Generation.objects.filter(campaign=run):
            assert g.cost_usd == _billed(simulator.completions[g.response_id]["usage"], prices)
        async for a in Attempt.objects.filter(generation__campaign=run):
            assert a.cost_usd > 0
    first_pin = await CampaignPrice.objects.aget(campaign=campaign)
    assert first_pin.input_usd_per_mtok == PRICES["input_usd_per_mtok"]
    model = await LLMModel.objects.aget(id=model.id)
    assert model.input_usd_per_mtok == doubled["input_usd_per_mtok"] and model.price_source == "manual"


async def test_a_reasoning_model_campaign_succeeds_with_max_completion_tokens(
    simulator: Simulator, user: Any, inline_engine: Any
) -> None:
    matrix = await sync_to_async(_matrix)(
        simulator,
        "sim-o@ttft=1,gap=0,len=8,jitter=0,reasoner=1,reasoning=16",
        token_limit_param="max_completion_tokens",
        send_temperature=False,
        extra_body={"reasoning_effort": "low"},
    )
    campaign = await sync_to_async(_launch)(matrix, user)
    campaign = await wait_finished(campaign.id)
    assert campaign.status == Campaign.Status.COMPLETED
    async for g in Generation.objects.filter(campaign=campaign):
        assert g.status == Generation.Status.SUCCEEDED and g.text
        assert g.tokens_reasoning == 16 and g.tokens_out == 8 + 16
        sent = simulator.completions[g.response_id]["usage"]
        assert g.cost_usd == _billed(sent, PRICES)


async def test_a_reasoning_model_sent_max_tokens_fails_each_cell_with_a_hint(
    simulator: Simulator, user: Any, inline_engine: Any
) -> None:
    matrix = await sync_to_async(_matrix)(simulator, "sim-o@ttft=1,gap=0,len=8,jitter=0,reasoner=1")
    campaign = await sync_to_async(_launch)(matrix, user)
    campaign = await wait_finished(campaign.id)
    assert campaign.status == Campaign.Status.FAILED
    async for g in Generation.objects.filter(campaign=campaign):
        assert g.status == Generation.Status.FAILED and g.attempts == 1  # a 400 is not retried
        assert "'max_tokens' is not supported" in g.error
        assert "set the model's token_limit_param to max_completion_tokens" in g.error
        assert g.cost_usd == 0


def test_pinned_prices_cover_a_models_fallback(simulator: Simulator, user: Any) -> None:
    matrix = _matrix(simulator, "sim-main@len=4")
    backup = LLMModelFactory(provider=matrix["models"][0].provider, name="sim-backup@len=4", **PRICES)
    matrix["models"][0].fallback = backup
    matrix["models"][0].save()
    campaign = _launch(matrix, user)
    assert set(CampaignPrice.objects.filter(campaign=campaign).values_list("model_id", flat=True)) == {
        matrix["models"][0].id,
        backup.id,
    }


def test_cost_bills_cached_tokens_and_cache_writes_at_their_prices() -> None:
    base = {"input_usd_per_mtok": Decimal("2"), "output_usd_per_mtok": Decimal("8")}
    assert cost_usd(1_000_000, 0, **base) == Decimal(2)
    # No cached price: cached tokens at the input price.
    assert cost_usd(1_000_000, 0, tokens_cached=600_000, **base) == Decimal(2)
    assert cost_usd(
        1_000_000,
        1_000_000,
        tokens_cached=600_000,
        tokens_cache_write=100_000,
        cached_input_usd_per_mtok=Decimal("0.5"),
        cache_write_usd_per_mtok=Decimal("2.5"),
        **base,
    ) == Decimal("0.6") + Decimal("0.3") + Decimal("0.25") + Decimal(8)
    # Rounded up to the money quantum, as before.
    assert cost_usd(1, 0, tokens_cached=1, cached_input_usd_per_mtok=Decimal("0.000001"), **base) == MONEY_QUANTUM


def test_cache_and_reasoning_figures_reach_the_page_exports_usage_and_admin(
    simulator: Simulator, user: Any, staff_user: Any, make_token: Callable[..., str]
) -> None:
    from django.test import Client

    from campaigns.services.usage import usage_report

    matrix = _matrix(simulator, "sim-page@len=4")
    campaign = _launch(matrix, user)
    gen = Generation.objects.filter(campaign=campaign).order_by("id").first()
    assert gen is not None
    Attempt.objects.create(
        generation=gen,
        number=1,
        model=gen.model,
        tokens_in=1000,
        tokens_out=50,
        tokens_cached=768,
        tokens_reasoning=20,
        cost_usd=Decimal("0.001"),
        cost_source="reported",
    )
    Generation.objects.filter(id=gen.id).update(
        status=Generation.Status.SUCCEEDED,
        tokens_in=1000,
        tokens_out=50,
        tokens_cached=768,
        tokens_reasoning=20,
        cost_usd=Decimal("0.001"),
        cost_source="reported",
        text="Copy.",
    )
    api = Api(make_token(user, "read"))
    rows = api.get(f"/campaigns/{campaign.id}/export", format="json").json()["rows"]
    assert {(r["tokens_cached"], r["tokens_reasoning"]) for r in rows} >= {(768, 20)}
    [report] = [r for r in usage_report(group_by="campaign") if r["key"] == campaign.id]
    assert (report["tokens_cached"], report["tokens_reasoning"]) == (768, 20)
    assert api.get("/usage", group_by="campaign").json()["items"][0]["tokens_cached"] == 768

    client = Client()
    client.force_login(user)
    page = client.get(f"/campaigns/{campaign.id}/").content.decode()
    assert 'data-testid="pinned-prices"' in page and "0.25" in page  # the pinned cached-input price
    assert "77% cached" in page  # 768 of 1000 prompt tokens
    saved = (Decimal(768) * Decimal("2.25") / MILLION).quantize(MONEY_QUANTUM)
    assert f"{saved:.6f}" in page

    admin = Client()
    admin.force_login(staff_user)
    change = admin.get(f"/admin/campaigns/campaign/{campaign.id}/change/").content.decode()
    assert "768 of 1000 prompt tokens cached" in change and "prices pinned at launch" in change.lower()
