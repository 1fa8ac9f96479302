"""Campaigns on Triton gRPC models: the engine, the database store and the simulator's gRPC side
over real loopback sockets, beside an HTTP model of the same campaign."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from campaigns.engine.costs import cost_usd
from campaigns.models import Attempt, Campaign, Generation
from campaigns.providers.prompt_formats import render_prompt
from campaigns.services.launch import campaign_cancel, campaign_launch
from campaigns.simulator import Simulator
from campaigns.simulator_grpc import count_text_tokens
from tests.factories import LLMModelFactory, ProviderFactory
from tests.test_engine_e2e import make_campaign, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-triton-5678"


@pytest.fixture
def grpc_catalog(catalog: dict[str, Any], simulator: Simulator) -> dict[str, Any]:
    """The catalog's HTTP provider plus a Triton gRPC provider on the simulator with one model per preset."""
    simulator.config = dataclasses.replace(simulator.config, api_key=KEY)
    catalog["provider"].set_api_key(KEY)
    catalog["provider"].save()
    triton = ProviderFactory(name="Triton", protocol="triton-grpc", base_url="", target=simulator.grpc_target)
    triton.set_api_key(KEY)
    triton.save()
    catalog["triton"] = triton
    catalog["grpc_models"] = [
        LLMModelFactory(provider=triton, name="sim-llama@ttft=5,gap=1,len=14,jitter=0", preset="vllm",
                        prompt_format="llama3", input_usd_per_mtok="0.300000", output_usd_per_mtok="1.200000"),
        LLMModelFactory(provider=triton, name="sim-trtllm@ttft=5,gap=1,len=9,jitter=0", preset="tensorrt_llm",
                        prompt_format="chatml"),
    ]
    return catalog


def one_grpc_cell(catalog: dict[str, Any], model: int = 0, **kwargs: Any) -> dict[str, Any]:
    return {
        "product_ids": [catalog["products"][0].id],
        "template_ids": [catalog["templates"][0].id],
        "model_ids": [catalog["grpc_models"][model].id],
        **kwargs,
    }


async def run(catalog: dict[str, Any], user: Any, **kwargs: Any) -> Campaign:
    campaign = await sync_to_async(make_campaign)(catalog, user, **kwargs)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    return await wait_finished(campaign.id, timeout=60)


async def test_a_campaign_across_http_and_grpc_models_stores_what_each_server_sent(
    grpc_catalog, user, simulator, inline_engine
):
    models = [grpc_catalog["models"][0], *grpc_catalog["grpc_models"]]
    campaign = await run(grpc_catalog, user, model_ids=[m.id for m in models])

    assert campaign.status == Campaign.Status.COMPLETED
    generations = [g async for g in Generation.objects.filter(campaign=campaign).select_related("model", "prompt")]
    assert len(generations) == 3 * 2 * 3
    protocols = {"grpc": 0, "http": 0}
    total = Decimal(0)
    for g in generations:
        sent = simulator.completions[g.response_id]
        protocols[sent.get("protocol", "http")] += 1
        assert g.status == "succeeded" and g.text == sent["text"] and g.text
        assert (g.tokens_in, g.tokens_out) == (sent["usage"]["prompt_tokens"], sent["usage"]["completion_tokens"])
        assert g.cost_source == "reported" and g.attempts == 1
        assert g.cost_usd == cost_usd(g.tokens_in, g.tokens_out, input_usd_per_mtok=g.model.input_usd_per_mtok,
                                      output_usd_per_mtok=g.model.output_usd_per_mtok)
        if sent.get("protocol") == "grpc":
            assert sent["preset"] == g.model.preset
            prompt = render_prompt(g.prompt.messages, g.model.prompt_format)
            assert g.tokens_in == count_text_tokens(prompt)  # the prompt the server got is the model's format
        total += g.cost_usd
    assert protocols == {"grpc": 12, "http": 6}
    campaign = await Campaign.objects.aget(id=campaign.id)
    assert campaign.spent_usd == total and campaign.reserved_usd == 0


async def test_unavailable_twice_then_success_is_retried_and_every_attempt_billed(
    grpc_catalog, user, simulator, inline_engine
):
    simulator.push_faults("503", "503")
    campaign = await run(grpc_catalog, user, **one_grpc_cell(grpc_catalog))
    g = await Generation.objects.aget(campaign=campaign)
    attempts = [a async for a in Attempt.objects.filter(generation=g).order_by("number")]
    assert [a.status_code for a in attempts] == [503, 503, None]
    assert "gRPC UNAVAILABLE" in attempts[0].error and attempts[2].error == ""
    assert g.status == "succeeded" and g.text == simulator.completions[g.response_id]["text"]
    assert g.cost_usd == attempts[2].cost_usd == campaign.spent_usd and attempts[0].cost_usd == 0


async def test_resource_exhausted_is_retried_as_a_rate_limit(grpc_catalog, user, simulator, inline_engine):
    simulator.push_faults("429")
    campaign = await run(grpc_catalog, user, **one_grpc_cell(grpc_catalog))
    g = await Generation.objects.aget(campaign=campaign)
    attempts = [a async for a in Attempt.objects.filter(generation=g).order_by("number")]
    assert [a.status_code for a in attempts] == [429, None]
    assert "RESOURCE_EXHAUSTED" in attempts[0].error and g.status == "succeeded"


@pytest.mark.parametrize(
    ("fault", "message"),
    [("401", "gRPC UNAUTHENTICATED: Incorrect API key provided."),
     ("400", "gRPC INVALID_ARGUMENT: This model's maximum context length")],
)
async def test_refusals_fail_at_once_with_the_servers_message(
    grpc_catalog, user, simulator, inline_engine, fault, message
):
    simulator.push_faults(fault)
    campaign = await run(grpc_catalog, user, **one_grpc_cell(grpc_catalog))
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == "failed" and g.attempts == 1 and message in g.error
    assert simulator.stats.requests == 1


async def test_a_wrong_key_is_refused_from_the_bearer_metadata(grpc_catalog, user, simulator, inline_engine):
    triton = grpc_catalog["triton"]
    triton.set_api_key("sk-wrong-0000")
    await triton.asave()
    campaign = await run(grpc_catalog, user, **one_grpc_cell(grpc_catalog))
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == "failed" and g.attempts == 1 and "gRPC UNAUTHENTICATED" in g.error
    assert simulator.completions == {}


async def test_an_in_band_error_message_fails_the_attempt_with_it(grpc_catalog, user, simulator, inline_engine):
    simulator.push_faults("error_event")
    campaign = await run(grpc_catalog, user, **one_grpc_cell(grpc_catalog))
    g = await Generation.objects.aget(campaign=campaign)
    sent = next(iter(simulator.completions.values()))
    assert g.status == "failed" and g.attempts == 1 and "error in stream: upstream model crashed" in g.error
    assert g.text == sent["text"] != "" and g.cost_source == "estimated" and g.cost_usd > 0


async def test_no_token_counts_are_estimated_and_marked(grpc_catalog, user, simulator, inline_engine):
    simulator.push_faults("nousage")
    campaign = await run(grpc_catalog, user, **one_grpc_cell(grpc_catalog))
    g = await Generation.objects.aget(campaign=campaign)
    assert g.status == "succeeded" and g.text == simulator.completions[g.response_id]["text"]
    assert g.cost_source == "estimated" and g.tokens_out > 0 and g.cost_usd > 0


async def test_cancel_stops_the_server_side_streams(grpc_catalog, user, simulator, inline_engine):
    for m in grpc_catalog["grpc_models"]:
        m.name = m.name.replace("gap=1", "gap=50").replace("len=14", "len=200").replace("len=9", "len=200")
        await m.asave()
    campaign = await sync_to_async(make_campaign)(
        grpc_catalog, user, model_ids=[m.id for m in grpc_catalog["grpc_models"]], max_tokens=300
    )
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not any(r["text"] for r in list(simulator.completions.values())):
        assert loop.time() < deadline, "no stream started"
        await asyncio.sleep(0.05)
    await sync_to_async(campaign_cancel)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    while simulator.stats.in_flight or await Generation.objects.filter(
        campaign=campaign, status__in=["queued", "running"]
    ).aexists():
        assert loop.time() < deadline, "streams still open after cancel"
        await asyncio.sleep(0.05)
    records = list(simulator.completions.values())
    assert records and all(r.get("aborted") and not r["complete"] for r in records)
    cancelled = [g async for g in Generation.objects.filter(campaign=campaign, status="cancelled")]
    assert len(cancelled) == 12 and any(g.text for g in cancelled)
    campaign = await Campaign.objects.aget(id=campaign.id)
    assert campaign.reserved_usd == 0 and campaign.spent_usd == sum((g.cost_usd for g in cancelled), Decimal(0))
