"""Helpers shared by the studio's view tests (``tests/test_views*.py``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, Generation
from campaigns.services.launch import campaign_create, campaign_launch

__all__ = ["campaign_post", "client_for", "finished_campaign", "make_campaign"]


@pytest.fixture
def client_for(client: Client) -> Any:
    """``client_for(user)``: the test client, signed in as ``user``."""

    def login(user: Any) -> Client:
        client.force_login(user)
        return client

    return login


def make_campaign(owner: Any, catalog: dict[str, Any], **kwargs: Any) -> Campaign:
    """A draft campaign over the whole catalog (one variant unless told)."""
    options = {"name": "Spring launch", "variants": 1, "budget_usd": Decimal("0.5"), **kwargs}
    return campaign_create(
        owner=owner,
        product_ids=[p.id for p in catalog["products"]],
        template_ids=[t.id for t in catalog["templates"]],
        model_ids=[m.id for m in catalog["models"]],
        **options,
    )


def finished_campaign(owner: Any, catalog: dict[str, Any], **kwargs: Any) -> Campaign:
    """A launched campaign whose cells all succeeded, each costing $0.001."""
    campaign = make_campaign(owner, catalog, **kwargs)
    campaign_launch(campaign_id=campaign.pk, actor=campaign.owner, token=None)
    now = timezone.now()
    for g in campaign.generations.all():
        g.status = Generation.Status.SUCCEEDED
        g.text = f"Copy {g.pk}"
        g.cost_usd = Decimal("0.001")
        g.cost_source = "reported"
        g.latency_ms = 900.0
        g.finished_at = now
        g.save()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED, finished_at=now)
    campaign.refresh_from_db()
    return campaign


def campaign_post(catalog: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The builder's form data for a campaign over two products, one template and every model."""
    data = {
        "name": "Autumn",
        "products": [p.pk for p in catalog["products"][:2]],
        "templates": [catalog["templates"][0].pk],
        "models": [m.pk for m in catalog["models"]],
        "variants": "3",
        "max_tokens": "128",
        "temperature": "0.5",
        "budget_usd": "1.25",
    }
    data.update(overrides)
    return data
