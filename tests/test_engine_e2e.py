"""The engine against the simulator over a real socket, through the database store."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from campaigns.engine.costs import cost_usd
from campaigns.models import Campaign, Generation
from campaigns.services.launch import campaign_create, campaign_launch

pytestmark = pytest.mark.django_db(transaction=True)


def make_campaign(catalog: dict[str, Any], owner: Any, **kwargs: Any) -> Campaign:
    options = {
        "name": "Spring launch",
        "product_ids": [p.id for p in catalog["products"]],
        "template_ids": [t.id for t in catalog["templates"]],
        "model_ids": [m.id for m in catalog["models"]],
        "variants": 1,
        "max_tokens": 64,
        "budget_usd": Decimal("10"),
    }
    options.update(kwargs)
    return campaign_create(owner=owner, **options)


async def wait_finished(campaign_id: int, timeout: float = 30.0) -> Campaign:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        campaign = await Campaign.objects.aget(id=campaign_id)
        if campaign.status != Campaign.Status.RUNNING:
            return campaign
        await asyncio.sleep(0.05)
    raise AssertionError(f"campaign {campaign_id} still running after {timeout}s")


async def test_campaign_matrix_completes_with_exact_text_tokens_and_cost(catalog, user, simulator, inline_engine):
    campaign = await sync_to_async(make_campaign)(catalog, user)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    campaign = await wait_finished(campaign.id)

    assert campaign.status == Campaign.Status.COMPLETED
    generations = [g async for g in Generation.objects.filter(campaign=campaign).select_related("model")]
    assert len(generations) == 3 * 2 * 2
    total = Decimal(0)
    for g in generations:
        sent = simulator.completions[g.response_id]
        assert g.status == Generation.Status.SUCCEEDED
        assert g.text == sent["text"] and g.text
        assert (g.tokens_in, g.tokens_out) == (sent["usage"]["prompt_tokens"], sent["usage"]["completion_tokens"])
        expected = cost_usd(
            g.tokens_in,
            g.tokens_out,
            input_usd_per_mtok=g.model.input_usd_per_mtok,
            output_usd_per_mtok=g.model.output_usd_per_mtok,
        )
        assert g.cost_usd == expected and g.cost_source == "reported"
        assert g.ttft_ms is not None and g.latency_ms >= g.ttft_ms
        assert g.attempts == 1 and g.reserved_usd == 0 and g.lease_owner == ""
        total += g.cost_usd
    assert campaign.spent_usd == total
    assert campaign.reserved_usd == 0


async def test_provider_concurrency_is_respected(catalog, user, simulator, inline_engine):
    provider = catalog["provider"]
    provider.max_concurrency = 2
    await provider.asave()
    for m in catalog["models"]:
        m.name = m.name.replace("ttft=5", "ttft=40")
        await m.asave()
    campaign = await sync_to_async(make_campaign)(catalog, user, variants=2)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    campaign = await wait_finished(campaign.id)
    assert campaign.status == Campaign.Status.COMPLETED
    assert simulator.stats.max_in_flight <= 2
    assert simulator.stats.streams == 24


async def test_retries_then_succeeds_and_counts_attempts(catalog, user, simulator, inline_engine):
    simulator.push_faults("429", "500")
    campaign = await sync_to_async(make_campaign)(
        catalog, user, product_ids=[catalog["products"][0].id], template_ids=[catalog["templates"][0].id],
        model_ids=[catalog["models"][0].id],
    )
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    campaign = await wait_finished(campaign.id)
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == Generation.Status.SUCCEEDED
    assert g.attempts == 3
    assert g.text == simulator.completions[g.response_id]["text"]


async def test_no_retry_on_401_and_the_error_names_the_provider(catalog, user, simulator, inline_engine):
    simulator.push_faults("401")
    campaign = await sync_to_async(make_campaign)(
        catalog, user, product_ids=[catalog["products"][0].id], template_ids=[catalog["templates"][0].id],
        model_ids=[catalog["models"][0].id],
    )
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    campaign = await wait_finished(campaign.id)
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == Generation.Status.FAILED
    assert g.attempts == 1
    assert "Simulator" in g.error and "401" in g.error
    assert campaign.status == Campaign.Status.FAILED


@pytest.mark.parametrize(
    ("fault", "message"),
    [("cut", "interrupted"), ("malformed", "malformed"), ("empty", "before [DONE]"), ("error_event", "error in stream")],
)
async def test_broken_streams_keep_partial_text_and_bill_an_estimate(catalog, user, simulator, inline_engine, fault, message):
    simulator.push_faults(fault)
    campaign = await sync_to_async(make_campaign)(
        catalog, user, product_ids=[catalog["products"][0].id], template_ids=[catalog["templates"][0].id],
        model_ids=[catalog["models"][0].id],
    )
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    campaign = await wait_finished(campaign.id)
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == Generation.Status.FAILED
    assert message in g.error
    if fault != "empty":
        assert g.text and g.cost_source == "estimated" and g.cost_usd > 0 and g.tokens_out > 0
        sent = next(iter(simulator.completions.values()))["text"]
        assert sent.startswith(g.text)
    campaign = await Campaign.objects.aget(id=campaign.id)
    assert campaign.spent_usd == g.cost_usd and campaign.reserved_usd == 0


async def test_missing_usage_is_estimated_and_marked(catalog, user, simulator, inline_engine):
    simulator.push_faults("nousage")
    campaign = await sync_to_async(make_campaign)(
        catalog, user, product_ids=[catalog["products"][0].id], template_ids=[catalog["templates"][0].id],
        model_ids=[catalog["models"][0].id],
    )
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    await wait_finished(campaign.id)
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == Generation.Status.SUCCEEDED
    assert g.cost_source == "estimated" and g.tokens_out > 0 and g.cost_usd > 0


async def test_budget_is_never_exceeded_and_the_rest_is_skipped(catalog, user, simulator, inline_engine):
    # Worst case of one cell is a little under $0.0001 with these prices: a $0.0003 budget
    # covers about three cells at a time.
    campaign = await sync_to_async(make_campaign)(catalog, user, variants=3, budget_usd=Decimal("0.0003"))
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    campaign = await wait_finished(campaign.id)
    assert campaign.status == Campaign.Status.BUDGET_EXHAUSTED
    assert campaign.spent_usd <= campaign.budget_usd
    assert campaign.reserved_usd == 0
    statuses = [g.status async for g in Generation.objects.filter(campaign=campaign)]
    assert "skipped" in statuses and "succeeded" in statuses
    skipped = await Generation.objects.filter(campaign=campaign, status="skipped").afirst()
    assert "budget" in skipped.error


async def test_cancel_stops_streams_and_keeps_partial_text(catalog, user, simulator, inline_engine):
    from campaigns.services.launch import campaign_cancel

    for m in catalog["models"]:
        m.name = m.name.replace("gap=1", "gap=50").replace("len=12", "len=200").replace("len=20", "len=200")
        await m.asave()
    campaign = await sync_to_async(make_campaign)(catalog, user, max_tokens=300)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    await asyncio.sleep(0.5)
    await sync_to_async(campaign_cancel)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await Generation.objects.filter(campaign=campaign, status__in=["queued", "running"]).aexists():
        assert loop.time() < deadline, "generations still running after cancel"
        await asyncio.sleep(0.05)
    campaign = await Campaign.objects.aget(id=campaign.id)
    assert campaign.status == Campaign.Status.CANCELLED
    cancelled = [g async for g in Generation.objects.filter(campaign=campaign, status="cancelled")]
    assert len(cancelled) == 12
    with_text = [g for g in cancelled if g.text]
    assert with_text, "in-flight cells keep their partial text"
    assert all(g.cost_source == "estimated" and g.cost_usd > 0 for g in with_text)
    assert campaign.reserved_usd == 0
    assert campaign.spent_usd == sum((g.cost_usd for g in cancelled), Decimal(0))


def test_cells_orphaned_by_a_dead_engine_after_cancel_are_reaped(catalog, user):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.services.jobs import jobs_claim

    campaign = make_campaign(catalog, user, product_ids=[catalog["products"][0].id],
                             template_ids=[catalog["templates"][0].id], model_ids=[catalog["models"][0].id])
    campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
    [job] = jobs_claim(owner="dead-engine", limit=10)
    assert Campaign.objects.get(id=campaign.id).reserved_usd == Generation.objects.get(id=job.id).reserved_usd > 0
    Campaign.objects.filter(id=campaign.id).update(status=Campaign.Status.CANCELLED)
    Generation.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs_claim(owner="live-engine", limit=10) == []
    g = Generation.objects.get(id=job.id)
    assert g.status == "cancelled" and g.reserved_usd == 0
    assert Campaign.objects.get(id=campaign.id).reserved_usd == 0


def test_editing_a_template_after_creating_a_campaign_keeps_the_pinned_text(catalog, user):
    template = catalog["templates"][0]
    campaign = make_campaign(catalog, user, template_ids=[template.id], product_ids=[catalog["products"][0].id],
                             model_ids=[catalog["models"][0].id])
    template.body = "Completely new words for {{ product.name }}."
    template.save()
    campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
    g = Generation.objects.select_related("template_version").get(campaign=campaign)
    assert "Completely new" not in g.prompt.messages[-1]["content"]
    assert g.template_version.number == 1 and "Write a tagline" in g.template_version.body
    again = make_campaign(catalog, user, template_ids=[template.id], product_ids=[catalog["products"][0].id],
                          model_ids=[catalog["models"][0].id])
    assert [v.number for v in again.template_versions.all()] == [2]
