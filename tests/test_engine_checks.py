"""Copy checks in the engine, against the simulator over a real socket: rewrites with feedback,
the best attempt kept, every attempt billed, the budget never exceeded, streams stopped early."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from campaigns.engine.checks import FEEDBACK_HEADER
from campaigns.models import Attempt, BannedTerm, Campaign, Generation, LLMModel
from campaigns.services.launch import campaign_create, campaign_launch
from tests.test_engine_e2e import wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

HEADLINE = [{"kind": "max_chars", "value": 30}, {"kind": "format"}]


def checked_campaign(catalog: dict[str, Any], owner: Any, *, model: str, checks: list[dict[str, Any]], **kwargs: Any) -> Campaign:
    llm = LLMModel.objects.create(
        provider=catalog["provider"], name=model, input_usd_per_mtok=Decimal("0.15"), output_usd_per_mtok=Decimal("0.6")
    )
    template = catalog["templates"][0]
    template.checks = checks
    template.save()
    options: dict[str, Any] = {
        "name": "Headlines",
        "product_ids": [p.id for p in catalog["products"]],
        "template_ids": [template.id],
        "model_ids": [llm.id],
        "max_tokens": 64,
        "budget_usd": Decimal("10"),
    }
    options.update(kwargs)
    return campaign_create(owner=owner, **options)


async def run(campaign: Campaign) -> tuple[Campaign, list[Generation]]:
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    campaign = await wait_finished(campaign.id)
    generations = [g async for g in Generation.objects.select_related("prompt").filter(campaign=campaign).order_by("id")]
    return campaign, generations


async def attempts_of(generation: Generation) -> list[Attempt]:
    return [a async for a in Attempt.objects.filter(generation=generation).order_by("number")]


async def test_too_long_copy_is_rewritten_with_feedback_and_passes(catalog, user, simulator, inline_engine):
    campaign = await sync_to_async(checked_campaign)(
        catalog, user, model="sim-c@ttft=5,gap=1,len=8,jitter=0,first=long", checks=HEADLINE, rewrites=1
    )
    campaign, generations = await run(campaign)
    assert campaign.status == Campaign.Status.COMPLETED
    assert len(generations) == 3
    for g in generations:
        assert g.status == "succeeded" and g.checks_passed is True and g.check_failures == []
        assert len(g.text) <= 30
        first, rewrite = await attempts_of(g)
        assert (first.rewrite, first.checks_passed, first.kept) == (0, False, False)
        assert first.check_results[0]["reason"].endswith("characters; the limit is 30")
        assert len(first.text) > 30
        assert (rewrite.rewrite, rewrite.checks_passed, rewrite.kept, rewrite.text) == (1, True, True, g.text)
        # each attempt billed; the cell's cost is their sum
        assert first.cost_usd > 0 and rewrite.cost_usd > 0
        assert g.cost_usd == first.cost_usd + rewrite.cost_usd and g.attempts == 2
    # the rewrite request carried the failed copy and the reasons, after the same messages
    rewrites = [c for c in simulator.completions.values() if len(c["text"]) <= 30]
    assert len(rewrites) == 3
    assert campaign.spent_usd == sum(g.cost_usd for g in generations) and campaign.reserved_usd == 0


async def test_rewrite_request_appends_the_feedback_to_the_same_messages(catalog, user, simulator, inline_engine):
    campaign = await sync_to_async(checked_campaign)(
        catalog, user, model="sim-d@ttft=5,gap=1,len=8,jitter=0,first=long", checks=HEADLINE,
        product_ids=[catalog["products"][0].id],
    )
    _, (g,) = await run(campaign)
    first, _ = await attempts_of(g)
    (sent,) = [c["messages"] for c in simulator.completions.values() if "messages" in c]
    n = len(g.prompt.messages)
    assert sent[:n] == g.prompt.messages
    assert sent[n] == {"role": "assistant", "content": first.text}
    assert sent[n + 1]["role"] == "user" and sent[n + 1]["content"].startswith(FEEDBACK_HEADER)
    assert f"- {first.check_results[0]['reason']}" in sent[n + 1]["content"]
    assert len(sent) == n + 2


async def test_without_rewrites_a_failing_cell_keeps_its_reasons(catalog, user, simulator, inline_engine):
    campaign = await sync_to_async(checked_campaign)(
        catalog, user, model="sim-e@ttft=5,gap=1,len=8,jitter=0,first=long", checks=HEADLINE, rewrites=0
    )
    campaign, generations = await run(campaign)
    for g in generations:
        assert g.status == "succeeded" and g.checks_passed is False
        assert len(g.check_failures) == 1 and g.check_failures[0].endswith("; the limit is 30")
        assert g.attempts == 1


async def test_off_language_copy_is_rewritten_in_the_cells_language(catalog, user, simulator, inline_engine):
    campaign = await sync_to_async(checked_campaign)(
        catalog, user, model="sim-f@ttft=5,gap=1,len=14,jitter=0,first=lang", checks=[{"kind": "language"}],
        languages=["en"],
    )
    campaign, generations = await run(campaign)
    for g in generations:
        first, rewrite = await attempts_of(g)
        assert first.check_results == [
            {"kind": "language", "passed": False, "reason": first.check_results[0]["reason"]}
        ]
        assert first.check_results[0]["reason"].startswith("reads as French")
        assert rewrite.checks_passed and g.checks_passed and g.text == rewrite.text


async def test_the_best_attempt_is_kept_when_every_rewrite_fails(catalog, user, simulator, inline_engine):
    # max_words 1 never passes (every answer has more words); min_chars fails only on the
    # short rewrites: the long first attempt has the fewest failures and is kept.
    checks = [{"kind": "max_chars", "value": 30}, {"kind": "min_chars", "value": 31}]
    campaign = await sync_to_async(checked_campaign)(
        catalog, user, model="sim-g@ttft=5,gap=1,len=8,jitter=0,first=long", checks=checks, rewrites=2,
        product_ids=[catalog["products"][0].id],
    )
    _, (g,) = await run(campaign)
    attempts = await attempts_of(g)
    assert [a.rewrite for a in attempts] == [0, 1, 2]
    assert [a.checks_passed for a in attempts] == [False, False, False]
    kept = [a for a in attempts if a.kept]
    assert len(kept) == 1 and kept[0].text == g.text and g.checks_passed is False
    assert g.check_failures == [r["reason"] for r in kept[0].check_results if not r["passed"]]


async def test_a_stream_over_the_limit_is_stopped_early_and_billed_as_received(catalog, user, simulator, inline_engine):
    checks = [{"kind": "max_chars", "value": 20, "stop_margin": 10}]
    campaign = await sync_to_async(checked_campaign)(
        catalog, user, model="sim-h@ttft=5,gap=1,len=60,jitter=0", checks=checks, rewrites=0,
        product_ids=[catalog["products"][0].id],
    )
    _, (g,) = await run(campaign)
    (attempt,) = await attempts_of(g)
    assert attempt.error.startswith("stopped early")
    assert attempt.cost_source == "estimated" and attempt.cost_usd > 0
    assert 30 < len(g.text) < 60 * 4  # cut a little past the margin, far short of 60 words
    assert g.checks_passed is False and g.finish_reason == "stopped_early"


async def test_rewrites_never_exceed_the_budget_under_concurrency(catalog, user, simulator, inline_engine):
    # Each attempt reserves its worst case (a little under $0.00005 here); every first attempt
    # fails, so each cell wants two. $0.0004 covers far fewer than the 24 cells' 48 attempts.
    campaign = await sync_to_async(checked_campaign)(
        catalog, user, model="sim-i@ttft=5,gap=1,len=8,jitter=0,first=long", checks=HEADLINE, rewrites=1,
        variants=8, budget_usd=Decimal("0.0004"), max_tokens=64,
    )
    campaign, generations = await run(campaign)
    assert campaign.spent_usd <= campaign.budget_usd
    assert campaign.reserved_usd == 0
    assert campaign.spent_usd == sum(g.cost_usd for g in generations)
    attempts = [a async for a in Attempt.objects.filter(generation__campaign=campaign)]
    assert sum(a.cost_usd for a in attempts) == campaign.spent_usd
    # The budget ran out for some rewrites: those cells keep their failing copy, with a note.
    notes = [r.get("note", "") for a in attempts for r in a.check_results]
    assert "rewrite skipped: the budget cannot cover another attempt" in notes
    assert any(g.checks_passed is False for g in generations)


def test_checks_are_pinned_per_cell_with_the_product_name_and_banned_terms(catalog, user):
    BannedTerm.objects.create(term="Acme")
    checks = [{"kind": "must_include", "terms": ["{{ product.name }}"]}, {"kind": "max_chars", "value": 30}]
    campaign = checked_campaign(catalog, user, model="sim-j", checks=checks)
    campaign_launch(campaign_id=campaign.id, actor=user, token=None)
    template = catalog["templates"][0]
    template.checks = []
    template.save()  # edited after the campaign was created: the pinned checks stay
    for g in Generation.objects.filter(campaign=campaign).select_related("product"):
        assert g.checks[0]["terms"] == [g.product.name]
        assert g.checks[1]["kind"] == "max_chars"
        assert g.checks[-1] == {"kind": "must_not_include", "terms": ["Acme"]}
    version = campaign.template_versions.get()
    assert version.checks[1] == {"kind": "max_chars", "value": 30, "counting": "graphemes", "stop_margin": None}


async def test_a_rewrite_reaches_the_page_and_the_cell_starts_afresh(catalog, user, simulator, inline_engine):
    from tests.test_consumers import ORIGIN, connect, live_events, session_cookie

    campaign = await sync_to_async(checked_campaign)(
        catalog, user, model="sim-k@ttft=5,gap=1,len=8,jitter=0,first=long", checks=HEADLINE,
        product_ids=[catalog["products"][0].id],
    )
    cookie = await sync_to_async(session_cookie)(user)
    ws, connected, _ = await connect(campaign.id, [ORIGIN, cookie])
    assert connected
    await ws.receive_json_from(timeout=5)  # the snapshot
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
    events: list[dict[str, Any]] = []
    async for message in live_events(ws):
        events.append(message)
        if any(e["type"] == "generation.finished" for e in events):
            break
    await ws.disconnect()
    kinds = [e["type"] for e in events]
    rewrite = events[kinds.index("generation.rewrite")]
    assert rewrite["rewrite"] == 1 and rewrite["check_failures"][0].endswith("; the limit is 30")
    # the deltas after the rewrite start again at offset 0 and add up to the kept copy
    after = [e for e in events[kinds.index("generation.rewrite"):] if e["type"] == "generation.delta"]
    assert after[0]["offset"] == 0
    finished = events[kinds.index("generation.finished")]
    assert "".join(e["text"] for e in after) == finished["text"]
    assert finished["checks_passed"] is True and finished["check_failures"] == []
