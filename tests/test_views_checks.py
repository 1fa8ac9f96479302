"""Copy checks in the marketer UI and the admin: the template editor, the campaign builder,
the live grid's badges, the progress summary, the review board's filter and cost table."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from campaigns.models import BannedTerm, Campaign, PromptTemplate
from tests import view_support
from tests.view_support import campaign_post, finished_campaign

pytestmark = pytest.mark.django_db

client_for = view_support.client_for


def template_post(**overrides: Any) -> dict[str, Any]:
    return {"name": "Headline", "system_prompt": "", "body": "A headline for {{ product.name }}.", "checks": "[]", **overrides}


def test_the_editor_saves_checks_and_a_preset(client_for, user) -> None:
    client = client_for(user)
    checks = json.dumps([{"kind": "must_include", "terms": ["{{ product.name }}"]}])
    response = client.post(reverse("campaigns:template_create"), template_post(checks=checks, preset="meta_title"))
    assert response.status_code == 302
    template = PromptTemplate.objects.get()
    assert [c["kind"] for c in template.checks] == ["max_chars", "format", "must_include"]
    assert template.checks[0]["value"] == 60
    page = client.get(reverse("campaigns:template_edit", args=[template.pk])).content.decode()
    assert "Copy checks" in page and "must_include" in page


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ('[{"kind": "max_chars", "value": -1}]', "checks[0].value"),
        ("not json", "Enter a valid JSON"),
        ('[{"kind": "regex", "pattern": "(("}]', "not a valid regular expression"),
    ],
)
def test_the_editor_shows_check_errors_on_the_field(client_for, user, checks: str, message: str) -> None:
    response = client_for(user).post(reverse("campaigns:template_create"), template_post(checks=checks))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PromptTemplate.objects.exists()


def test_the_builder_sets_rewrites(client_for, user, catalog) -> None:
    client = client_for(user)
    response = client.post(reverse("campaigns:campaign_create"), campaign_post(catalog, rewrites="3"))
    assert response.status_code == 302
    assert Campaign.objects.get().rewrites == 3
    response = client.post(reverse("campaigns:campaign_create"), campaign_post(catalog, rewrites="4", name="Too many"))
    assert response.status_code == 200 and not Campaign.objects.filter(name="Too many").exists()


def checked(campaign: Campaign) -> tuple[Any, Any]:
    """Mark the campaign's first cell failing its checks and the others passing."""
    first, *others = list(campaign.generations.order_by("id"))
    first.checks_passed, first.check_failures = False, ["43 characters; the limit is 30", "missing “Acme”"]
    first.save()
    for g in others:
        g.checks_passed = True
        g.save()
    return first, others


def test_the_live_page_shows_badges_and_passing_copy(client_for, user, catalog) -> None:
    campaign = finished_campaign(user, catalog)
    first, others = checked(campaign)
    page = client_for(user).get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    assert 'data-checks="fail" title="43 characters; the limit is 30 | missing “Acme”"' in page
    assert page.count('data-checks="pass"') == len(others)
    assert f'<strong data-count="passing">{len(others)}</strong>' in page
    per_passing = (Decimal("0.001") * (len(others) + 1) / len(others)).quantize(Decimal("0.000001"))
    assert f"${per_passing}" in page


def test_the_review_board_filters_by_checks(client_for, user, catalog) -> None:
    campaign = finished_campaign(user, catalog)
    first, others = checked(campaign)
    client = client_for(user)
    url = reverse("campaigns:campaign_review", args=[campaign.pk])
    failing = client.get(url, {"checks": "fail"}).content.decode()
    assert failing.count('data-testid="review-checks"') == 1 and f'data-generation-id="{first.pk}"' in failing
    passing = client.get(url, {"checks": "pass"}).content.decode()
    assert passing.count('data-testid="review-checks" data-checks="pass"') == len(others)
    assert f"Copy {first.pk}<" not in passing and f"Copy {others[0].pk}<" in passing
    page = client.get(url).content.decode()
    assert "per passing" in page
    assert f"{len(others)} passing checks, 1 failing" in page


def test_admin_edits_banned_terms_and_template_checks(client, staff_user) -> None:
    client.force_login(staff_user)
    response = client.post(reverse("admin:campaigns_bannedterm_add"), {"term": "Acme", "note": "a competitor"})
    assert response.status_code == 302 and BannedTerm.objects.get().term == "Acme"
    data = {"name": "T", "system_prompt": "", "body": "Hi {{ product.name }}", "checks": "[]", "preset": "sms"}
    response = client.post(reverse("admin:campaigns_prompttemplate_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert [c["kind"] for c in PromptTemplate.objects.get().checks] == ["sms", "format"]
    data = {**data, "name": "U", "preset": "", "checks": '[{"kind": "max_chars"}]'}
    response = client.post(reverse("admin:campaigns_prompttemplate_add"), data)
    assert response.status_code == 200 and "checks[0].value" in response.content.decode()
