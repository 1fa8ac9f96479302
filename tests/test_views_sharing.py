"""Teams, quotas and template versions in the studio: sharing a campaign from the builder,
what a team member and an outsider see, the quota cards on the dashboard, the banner and
provider data on the live page, and the template version on the review page."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from campaigns.models import Campaign, Quota, QuotaUsage, Team
from campaigns.services.budgets import quota_period
from campaigns.views.prompts import _saved_message
from tests import view_support
from tests.view_support import campaign_post, finished_campaign, make_campaign

pytestmark = pytest.mark.django_db

client_for = view_support.client_for  # the fixture, shared by the view tests


@pytest.fixture
def teams(user: Any, other_user: Any) -> dict[str, Team]:
    copy = Team.objects.create(name="Copywriters")
    copy.members.add(user, other_user)
    legal = Team.objects.create(name="Legal")
    return {"copy": copy, "legal": legal}


def outsider() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("outsider", password="x")


# --- the builder ----------------------------------------------------------------------------
def test_builder_offers_only_the_users_teams(client_for: Any, user: Any, catalog: dict[str, Any], teams: Any) -> None:
    html = client_for(user).get(reverse("campaigns:campaign_create")).content.decode()
    assert "Share with team" in html
    assert f'<option value="{teams["copy"].pk}">Copywriters</option>' in html
    assert "Legal" not in html
    assert "Nobody (only you)" in html


def test_builder_offers_staff_every_team(client_for: Any, staff_user: Any, catalog: dict[str, Any], teams: Any) -> None:
    html = client_for(staff_user).get(reverse("campaigns:campaign_create")).content.decode()
    assert "Copywriters" in html and "Legal" in html


def test_builder_without_teams_has_no_share_field(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    html = client_for(user).get(reverse("campaigns:campaign_create")).content.decode()
    assert "Share with team" not in html


def test_create_a_campaign_shared_with_a_team(client_for: Any, user: Any, catalog: dict[str, Any], teams: Any) -> None:
    client = client_for(user)
    response = client.post(
        reverse("campaigns:campaign_create"), campaign_post(catalog, team=teams["copy"].pk), follow=True
    )
    campaign = Campaign.objects.get(name="Autumn")
    assert campaign.team == teams["copy"] and campaign.owner == user
    assert "It is shared with Copywriters." in response.content.decode()
    # Not sharing is the default.
    client.post(reverse("campaigns:campaign_create"), campaign_post(catalog, name="Private"))
    assert Campaign.objects.get(name="Private").team is None


def test_cannot_share_with_a_team_one_is_not_in(
    client_for: Any, user: Any, catalog: dict[str, Any], teams: Any
) -> None:
    response = client_for(user).post(
        reverse("campaigns:campaign_create"), campaign_post(catalog, team=teams["legal"].pk)
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Campaign.objects.exists()


# --- what members and outsiders see -----------------------------------------------------------
def test_a_team_member_sees_a_shared_campaign_and_an_outsider_does_not(
    client_for: Any, user: Any, other_user: Any, catalog: dict[str, Any], teams: Any
) -> None:
    campaign = finished_campaign(user, catalog, name="Shared spring")
    campaign.team = teams["copy"]
    campaign.save(update_fields=["team"])
    client = client_for(other_user)
    dashboard = client.get(reverse("campaigns:dashboard")).content.decode()
    assert "Shared spring" in dashboard and 'data-testid="campaign-team">Copywriters<' in dashboard
    live = client.get(reverse("campaigns:campaign_detail", args=[campaign.pk]))
    assert live.status_code == 200
    html = live.content.decode()
    assert 'data-testid="team">Copywriters<' in html and f"by {user.get_username()}" in html
    assert client.get(reverse("campaigns:campaign_review", args=[campaign.pk])).status_code == 200

    client = client_for(outsider())
    assert "Shared spring" not in client.get(reverse("campaigns:dashboard")).content.decode()
    assert client.get(reverse("campaigns:campaign_detail", args=[campaign.pk])).status_code == 404
    assert client.get(reverse("campaigns:campaign_review", args=[campaign.pk])).status_code == 404


def test_leaving_the_team_hides_the_campaign(
    client_for: Any, user: Any, other_user: Any, catalog: dict[str, Any], teams: Any
) -> None:
    campaign = make_campaign(user, catalog, name="Shared draft")
    Campaign.objects.filter(pk=campaign.pk).update(team=teams["copy"])
    teams["copy"].members.remove(other_user)
    client = client_for(other_user)
    assert client.get(reverse("campaigns:campaign_detail", args=[campaign.pk])).status_code == 404


def test_an_unshared_campaign_shows_no_team(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = make_campaign(user, catalog)
    html = client_for(user).get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    assert 'data-testid="team"' not in html


# --- quotas on the dashboard ------------------------------------------------------------------
def test_dashboard_shows_the_quotas_left(client_for: Any, user: Any, other_user: Any) -> None:
    mine = Quota.objects.create(scope="user", user=user, period="month", limit_usd=Decimal("10"))
    Quota.objects.create(scope="user", user=other_user, period="day", limit_usd=Decimal("3"))
    Quota.objects.create(scope="global", period="total", limit_usd=Decimal("100"))
    Quota.objects.create(scope="user", user=user, period="day", limit_usd=Decimal("1"), is_active=False)
    start, _ = quota_period("month", datetime.now(UTC))
    QuotaUsage.objects.create(quota=mine, period_start=start, spent_usd=Decimal("8.5"), reserved_usd=Decimal("0.5"))
    response = client_for(user).get(reverse("campaigns:dashboard"))
    html = response.content.decode()
    cards = re.findall(r'<li class="tile quota[^"]*" data-testid="quota".*?</li>', html, re.S)
    assert len(cards) == 2  # mine and everyone's; not the other user's, not the inactive one
    monthly = next(c for c in cards if 'data-period="month"' in c)
    assert "Your monthly quota" in monthly
    assert "$1.00" in monthly and "left of $10.00" in monthly
    assert 'aria-valuenow="85"' in monthly and "is-high" in monthly
    assert "$0.50 held for calls in flight" in monthly and "resets" in monthly and "<time" in monthly
    total = next(c for c in cards if 'data-period="total"' in c)
    assert "Everyone&#x27;s total quota" in total and "left of $100.00" in total and "never resets" in total


def test_dashboard_without_quotas_shows_no_quota_cards(client_for: Any, user: Any, other_user: Any) -> None:
    Quota.objects.create(scope="user", user=other_user, period="day", limit_usd=Decimal("3"))
    html = client_for(user).get(reverse("campaigns:dashboard")).content.decode()
    assert 'data-testid="quotas"' not in html


def test_an_exhausted_quota_is_flagged(client_for: Any, user: Any) -> None:
    quota = Quota.objects.create(scope="user", user=user, period="day", limit_usd=Decimal("1"))
    start, _ = quota_period("day", datetime.now(UTC))
    QuotaUsage.objects.create(quota=quota, period_start=start, spent_usd=Decimal("1.2"))
    html = client_for(user).get(reverse("campaigns:dashboard")).content.decode()
    assert "Your daily quota" in html and "is-critical" in html
    assert "$0.00" in html and "width: 100%" in html  # never more than a full meter


# --- the live page --------------------------------------------------------------------------
def test_live_page_carries_providers_and_a_quota_banner(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    campaign = make_campaign(user, catalog)
    response = client_for(user).get(reverse("campaigns:campaign_detail", args=[campaign.pk]))
    html = response.content.decode()
    data = re.search(r'<script id="campaign-providers" type="application/json">(.*?)</script>', html, re.S)
    providers = json.loads(data.group(1))
    assert providers == [
        {
            "provider_id": catalog["provider"].pk,
            "provider": catalog["provider"].name,
            "breaker": "closed",
            "rate_limited": False,
            "rate_limited_count": 0,
        }
    ]
    assert re.search(r'data-quota-banner data-testid="quota-banner" role="status" hidden', html)


# --- template versions ----------------------------------------------------------------------
def test_review_shows_the_template_version_of_the_copy(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    first = finished_campaign(user, catalog, name="First")
    template = catalog["templates"][0]
    template.body = "Changed {{ product.name }}"
    template.save()
    second = finished_campaign(user, catalog, name="Second")
    client = client_for(user)
    response = client.get(reverse("campaigns:campaign_review", args=[first.pk]))
    rows = response.context["board"].sections[0].rows
    assert {r.template.pk: r.version for r in rows}[template.pk] == 1
    html = response.content.decode()
    assert 'data-testid="template-version">v1<' in html and "it is at version 2 now" in html
    # The other template was never edited: one version, nothing to tell apart.
    assert all(not r.show_version for r in rows if r.template.pk != template.pk)
    response = client.get(reverse("campaigns:campaign_review", args=[second.pk]))
    rows = response.context["board"].sections[0].rows
    assert {r.template.pk: r.version for r in rows}[template.pk] == 2
    assert 'data-testid="template-version">v2<' in response.content.decode()


def test_saved_message_counts_drafts_in_words() -> None:
    class Usage:
        launched: list[Any] = []
        drafts = [object()]

    assert _saved_message("Tagline", Usage(), True).endswith(
        "1 draft campaign keeps the version it was created with; new campaigns use this text."
    )
    Usage.drafts = [object(), object()]
    assert "2 draft campaigns keep the version they were created with" in _saved_message("Tagline", Usage(), True)
