from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from campaigns.models import Attempt, Generation
from campaigns.services.launch import campaign_launch
from campaigns.services.usage import usage_report
from tests.test_engine_e2e import make_campaign


@pytest.fixture
def spent(catalog, user, other_user):  # type: ignore[no-untyped-def]
    mine = make_campaign(catalog, user, name="Mine")
    theirs = make_campaign(catalog, other_user, name="Theirs")
    for campaign, cost, source in [(mine, "0.001", "reported"), (mine, "0.0005", "estimated"), (theirs, "0.002", "reported")]:
        if campaign.status == "draft":
            campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
            campaign.refresh_from_db()
        gen = Generation.objects.filter(campaign=campaign, attempts=0).first()
        gen.attempts = 1
        gen.save()
        Attempt.objects.create(generation=gen, number=1, model=gen.model, cost_usd=Decimal(cost), cost_source=source,
                               tokens_in=10, tokens_out=20)
    return mine, theirs


@pytest.mark.django_db
def test_usage_by_campaign_splits_reported_and_estimated(spent) -> None:  # type: ignore[no-untyped-def]
    rows = {r["label"]: r for r in usage_report(group_by="campaign")}
    assert rows["Mine"]["spend_usd"] == Decimal("0.0015")
    assert rows["Mine"]["reported_usd"] == Decimal("0.001") and rows["Mine"]["estimated_usd"] == Decimal("0.0005")
    assert rows["Theirs"]["attempts"] == 1


@pytest.mark.django_db
def test_a_marketer_sees_only_their_own_spend(spent, user) -> None:  # type: ignore[no-untyped-def]
    labels = {r["label"] for r in usage_report(group_by="campaign", user=user)}
    assert labels == {"Mine"}
    [me] = usage_report(group_by="user", user=user)
    assert me["label"] == "alice" and me["spend_usd"] == Decimal("0.0015")


@pytest.mark.django_db
def test_admin_usage_page_draws_the_chart(spent, staff_user, user) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(staff_user)
    page = client.get("/admin/usage/").content.decode()
    assert "<svg" in page and "Mine" in page and "Theirs" in page and "0.002000" in page
    client.force_login(user)  # not staff
    assert client.get("/admin/usage/").status_code == 302
