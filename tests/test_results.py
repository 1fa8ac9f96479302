"""jobs_finish: what is written, and the events built from exactly that."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from campaigns.engine.types import AttemptRecord, JobResult
from campaigns.models import Generation
from campaigns.services.jobs import jobs_claim
from campaigns.services.launch import campaign_launch
from campaigns.services.results import jobs_finish
from tests.test_engine_e2e import make_campaign

pytestmark = pytest.mark.django_db(transaction=True)


def result(job: Any, status: str, text: str = "Fresh copy.") -> JobResult:
    attempt = AttemptRecord(number=1, model_id=job.model.id, tokens_in=5, tokens_out=3,
                            cost_usd=Decimal("0.000001"), cost_source="reported", closed=True)
    return JobResult(job_id=job.id, campaign_id=job.campaign_id, status=status, text=text, attempts=1, tokens_in=5,
                     tokens_out=3, cost_usd=Decimal("0.000001"), cost_source="reported", model_id=job.model.id,
                     attempt_log=[attempt])


def test_only_generations_written_as_finished_are_announced_from_their_stored_values(catalog: Any, user: Any) -> None:
    campaign = make_campaign(catalog, user)
    campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
    written, handed_back, taken_over = jobs_claim(owner="engine-a", limit=3)
    Generation.objects.filter(id=taken_over.id).update(lease_owner="engine-b")  # its lease expired and was taken

    events = jobs_finish(owner="engine-a", results=[
        result(written, "succeeded"), result(handed_back, "released", text="half"), result(taken_over, "succeeded"),
    ])

    finished = [e for e in events if e["type"] == "generation.finished"]
    assert [e["id"] for e in finished] == [written.id], "neither the released nor the refused result is announced"
    stored = Generation.objects.get(id=written.id)
    event = finished[0]
    assert (event["status"], event["text"], event["cost_usd"]) == ("succeeded", stored.text, str(stored.cost_usd))
    assert event["model_id"] == stored.model_id and event["served_by_id"] == stored.served_by_id
    assert event["campaign_id"] == campaign.id and event["product_id"] == stored.product_id
    assert Generation.objects.get(id=handed_back.id).status == "queued"
    assert Generation.objects.get(id=taken_over.id).status == "running"
    assert "released" not in {e.get("status") for e in events}
