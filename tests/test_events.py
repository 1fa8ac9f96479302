"""The live-event protocol: one definition, one builder per event, the same shape for every consumer."""

from __future__ import annotations

import pathlib
import re
from typing import get_type_hints

import pytest

from campaigns.engine import events as ev
from campaigns.engine.status import BreakerState

ROOT = pathlib.Path(__file__).resolve().parent.parent

STORED = {
    "id": 1, "product_id": 2, "template_id": 3, "model_id": 4, "variant": 0, "language": "", "served_by_id": 5,
    "status": "succeeded", "text": "Copy.", "ttft_ms": 1.0, "latency_ms": 2.0, "tokens_in": 3, "tokens_out": 4,
    "tokens_cached": 2, "tokens_reasoning": 1, "cost_usd": "0.0001", "cost_source": "reported", "attempts": 1, "error": "", "rating": "", "approved": False,
    "edited_text": "", "checks_passed": False, "check_failures": ["over 30 characters (34)"],
}
PROGRESS = {
    "total": 1, "queued": 0, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0, "skipped": 0, "passing": 0,
    "failing_checks": 1, "cost_per_passing_usd": None, "pending": 0,
    "tokens_in": 3, "tokens_out": 4, "tokens_cached": 2, "tokens_reasoning": 1, "cache_hit_ratio": 0.6667, "spend_usd": "0.0001", "budget_usd": "1", "status": "completed",
}
BUILT = [
    ev.generation_started(9, 1),
    ev.generation_delta(9, 1, offset=0, text="Co"),
    ev.generation_rewrite(9, 1, rewrite=1, check_failures=["over 30 characters (34)"]),
    ev.generation_finished(9, STORED),  # type: ignore[arg-type]
    ev.campaign_progress(9, PROGRESS),
    ev.campaign_finished(9, PROGRESS),
    ev.provider_status(9, provider_id=1, provider="p", breaker=BreakerState.OPEN),
    ev.quota_warning(9, quota_id=1, scope="user", period="day", level=80, limit_usd="1", spent_usd="0.8",
                     resets_at=None, detail="d"),
]


@pytest.mark.parametrize("event", BUILT, ids=lambda e: e["type"])
def test_each_builder_makes_exactly_the_defined_shape(event: dict[str, object]) -> None:
    definition = ev.EVENT_TYPES[str(event["type"])]
    assert set(event) == set(get_type_hints(definition)) and event["campaign_id"] == 9


def test_a_batch_and_every_event_type_are_in_the_table() -> None:
    batch = ev.campaign_batch(9, BUILT)
    assert set(get_type_hints(ev.CampaignBatch)) == set(batch)
    assert {e["type"] for e in BUILT} | {"campaign.batch"} == set(ev.EVENT_TYPES)


def test_a_generation_that_is_not_finished_cannot_be_announced_as_finished() -> None:
    with pytest.raises(ValueError):
        ev.generation_finished(9, {**STORED, "status": "running"})  # type: ignore[typeddict-item]


def test_the_docs_show_the_protocol_as_defined() -> None:
    assert ev.describe_protocol() in (ROOT / "docs" / "EVENTS.md").read_text()


def test_the_websocket_forwards_every_event_type() -> None:
    from campaigns.consumers import CampaignConsumer

    for name in ev.EVENT_TYPES:
        assert callable(getattr(CampaignConsumer, name.replace(".", "_")))


def test_the_campaign_page_handles_every_event_type_and_hard_codes_no_status_list() -> None:
    script = (ROOT / "campaigns" / "static" / "campaigns" / "campaign.js").read_text()
    handled = set(re.findall(r'case "([a-z_.]+)":', script))
    assert set(ev.EVENT_TYPES) <= handled
    assert not re.search(r'\["succeeded", "failed"|closed: "healthy"', script)


@pytest.mark.django_db
def test_the_stored_shapes_the_services_build_are_the_defined_ones(catalog, user) -> None:
    """generation.finished and campaign.progress are built from these selectors: same fields as defined."""
    from campaigns.services.launch import campaign_launch
    from campaigns.services.selectors import campaign_progress, generation_dict
    from tests.test_engine_e2e import make_campaign

    campaign = campaign_launch(campaign_id=make_campaign(catalog, user).id, actor=user, token=None)
    assert set(campaign_progress(campaign)) | {"campaign_id"} == set(get_type_hints(ev._Progress))
    assert set(generation_dict(campaign.generations.first())) == set(get_type_hints(ev.StoredGeneration))
