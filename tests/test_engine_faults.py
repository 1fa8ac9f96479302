"""Provider faults, limits, breaker, fallback and money under concurrency (engine + database + simulator)."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from campaigns.models import Attempt, Campaign, Generation, Provider
from campaigns.services.launch import campaign_launch
from tests.test_engine_e2e import make_campaign, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)


def one_cell(catalog: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return {
        "product_ids": [catalog["products"][0].id],
        "template_ids": [catalog["templates"][0].id],
        "model_ids": [catalog["models"][0].id],
        **kwargs,
    }


async def run_campaign(catalog: dict[str, Any], user: Any, **kwargs: Any) -> Campaign:
    campaign = await sync_to_async(make_campaign)(catalog, user, **kwargs)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    return await wait_finished(campaign.id, timeout=60)


async def test_every_attempt_is_recorded_and_costs_add_up(catalog, user, simulator, inline_engine):
    simulator.push_faults("500", "500")
    campaign = await run_campaign(catalog, user, **one_cell(catalog))
    g = await Generation.objects.aget(campaign=campaign)
    attempts = [a async for a in Attempt.objects.filter(generation=g).order_by("number")]
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.status_code for a in attempts] == [500, 500, None]
    assert "HTTP 500" in attempts[0].error and attempts[2].error == ""
    assert attempts[2].cost_source == "reported" and attempts[0].cost_usd == 0
    assert g.cost_usd == sum((a.cost_usd for a in attempts), Decimal(0)) == campaign.spent_usd
    assert g.attempts == 3


async def test_context_too_long_is_not_retried(catalog, user, simulator, inline_engine):
    simulator.push_faults("400")
    campaign = await run_campaign(catalog, user, **one_cell(catalog))
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == "failed" and g.attempts == 1 and "maximum context length" in g.error
    assert simulator.stats.requests == 1


async def test_a_key_no_header_can_carry_fails_the_cell_by_name_without_a_request(catalog, user, simulator, inline_engine):
    provider = catalog["provider"]
    await Provider.objects.filter(id=provider.id).aupdate(api_key="sk-caf\u00e9")  # around the validation
    campaign = await run_campaign(catalog, user, **one_cell(catalog))
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == "failed" and g.attempts == 1
    assert provider.name in g.error and "printable ASCII" in g.error
    assert simulator.stats.requests == 0 and campaign.spent_usd == 0


async def test_japanese_copy_comes_out_intact(catalog, user, simulator, inline_engine):
    model = catalog["models"][0]
    model.name = "sim-ja@ttft=5,gap=1,len=30,jitter=0,lang=ja"
    await model.asave()
    campaign = await run_campaign(catalog, user, **one_cell(catalog))
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == "succeeded"
    assert g.text == simulator.completions[g.response_id]["text"]
    assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in g.text)


async def test_a_dripping_stream_ends_at_the_attempt_deadline(catalog, user, simulator, inline_engine):
    provider = catalog["provider"]
    provider.timeout = 0.3  # read timeout and base of the deadline
    await provider.asave()
    model = catalog["models"][0]
    model.name = "sim-drip@ttft=5,gap=150,len=400,jitter=0"
    await model.asave()
    # max_tokens 20 -> deadline 0.3 + 20/10 = 2.3 s; the 20 tokens would take 3 s, each
    # arriving well within the 0.3 s read timeout.
    campaign = await run_campaign(catalog, user, **one_cell(catalog, max_tokens=20))
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == "failed"
    assert "deadline" in g.error or "timed out" in g.error
    assert g.text and g.cost_source == "estimated"


async def test_fallback_model_is_used_when_retries_are_exhausted(catalog, user, simulator, inline_engine):
    primary, backup = catalog["models"]
    primary.fallback = backup
    await primary.asave()
    simulator.push_faults("503", "503", "503")
    campaign = await run_campaign(catalog, user, **one_cell(catalog))
    g = await Generation.objects.select_related("served_by").aget(campaign=campaign)
    assert g.status == "succeeded" and g.served_by_id == backup.id and g.model_id == primary.id
    models = [a.model_id async for a in Attempt.objects.filter(generation=g).order_by("number")]
    assert models == [primary.id, primary.id, primary.id, backup.id]


@pytest.mark.engine_config(breaker_threshold=3, breaker_cooldown=0.3)
async def test_breaker_opens_jobs_wait_and_then_all_complete(catalog, user, simulator, inline_engine):
    # Seven failures in a row: more than the 3 attempts a job has; with the breaker the
    # jobs wait for the provider instead of failing (probes back off 0.3, 0.6, 1.2 … s).
    simulator.push_faults(*["503"] * 7)
    campaign = await run_campaign(catalog, user, **one_cell(catalog, variants=4))
    statuses = [g.status async for g in Generation.objects.filter(campaign=campaign)]
    assert statuses == ["succeeded"] * 4
    provider = catalog["provider"]
    await provider.arefresh_from_db()
    assert provider.breaker_state == "closed" and provider.breaker_changed_at is not None


async def test_rpm_limit_is_honoured_with_no_429(catalog, user, simulator, inline_engine):
    simulator.config = dataclasses.replace(simulator.config, rpm=12)
    provider = catalog["provider"]
    provider.rpm_limit = 12
    await provider.asave()
    campaign = await run_campaign(catalog, user, variants=1, product_ids=[p.id for p in catalog["products"]][:3],
                                  template_ids=[catalog["templates"][0].id], model_ids=[m.id for m in catalog["models"]])
    assert campaign.status == "completed"
    assert simulator.stats.rate_limited == 0 and simulator.stats.streams == 6


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_cells_never_overspend_the_budget(catalog, user, simulator, inline_engine, round_):
    products = [p.id for p in catalog["products"]]
    for m in catalog["models"]:
        m.name = m.name.replace("len=12", "len=40").replace("len=20", "len=40")
        await m.asave()
    # Worst case per cell ~ $0.000073 (model a) / $0.00019 (model b); expected ~ 1/3 of it.
    campaign = await sync_to_async(make_campaign)(
        catalog, user, product_ids=products, template_ids=[t.id for t in catalog["templates"]],
        model_ids=[m.id for m in catalog["models"]], variants=17, max_tokens=48, budget_usd=Decimal("0.004"),
    )
    total = 3 * 2 * 2 * 17
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    campaign = await wait_finished(campaign.id, timeout=90)
    gens = [g async for g in Generation.objects.filter(campaign=campaign)]
    assert len(gens) == total == 204
    spend = sum((g.cost_usd for g in gens), Decimal(0))
    assert spend == campaign.spent_usd <= campaign.budget_usd
    assert campaign.reserved_usd == 0
    assert spend >= Decimal("0.8") * campaign.budget_usd, f"only {spend} of {campaign.budget_usd} used"
    assert campaign.status == "budget_exhausted"


async def test_many_campaigns_share_a_provider_fairly(catalog, user, simulator, inline_engine):
    provider = catalog["provider"]
    provider.max_concurrency = 2
    await provider.asave()
    big = await sync_to_async(make_campaign)(catalog, user, variants=10)  # 120 cells
    await sync_to_async(campaign_launch)(campaign_id=big.id, actor=big.owner, token=None)
    await asyncio.sleep(0.2)
    small = await sync_to_async(make_campaign)(catalog, user, **one_cell(catalog, name="small"))
    await sync_to_async(campaign_launch)(campaign_id=small.id, actor=small.owner, token=None)
    small = await wait_finished(small.id, timeout=30)
    left = await Generation.objects.filter(campaign=big, status__in=["queued", "running"]).acount()
    assert small.status == "completed"
    assert left > 60, "the small campaign finished long before the big one"
    await wait_finished(big.id, timeout=90)


@pytest.mark.parametrize("framing", ["crlf", "comments", "bytes"])
async def test_wire_framing_variants_parse_to_the_exact_text(catalog, user, simulator, inline_engine, framing):
    model = catalog["models"][0]
    model.name = f"sim-wire@ttft=5,gap=1,len=16,jitter=0,lang=ja,framing={framing}"
    await model.asave()
    campaign = await run_campaign(catalog, user, **one_cell(catalog))
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == "succeeded", g.error
    assert g.text == simulator.completions[g.response_id]["text"] and g.cost_source == "reported"


async def test_a_first_token_slower_than_the_deadline_fails_the_attempt(catalog, user, simulator, inline_engine):
    provider = catalog["provider"]
    provider.timeout = 0.2
    provider.max_retries = 0
    await provider.asave()
    model = catalog["models"][0]
    model.name = "sim-slow@ttft=3000,gap=1,len=8,jitter=0"
    await model.asave()
    # deadline = 0.2 s + 8 tokens / 10 per s = 1.0 s < 3 s to the first token
    campaign = await run_campaign(catalog, user, **one_cell(catalog, max_tokens=8))
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == "failed" and ("deadline" in g.error or "timed out" in g.error)
    assert g.attempts == 1 and g.latency_ms < 2500
