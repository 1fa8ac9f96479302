"""Teams on campaigns, the per-token rate limit, spending quotas and usage reports, through the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from campaigns.models import ApiToken, Attempt, Campaign, Generation, Quota, QuotaUsage, Team
from campaigns.services.budgets import quota_period
from campaigns.services.launch import campaign_launch
from campaigns.services.tokens import token_create
from tests.factories import UserFactory
from tests.test_api import Api, assert_error, campaign_body
from tests.test_engine_e2e import make_campaign

BASE = "/api/v1"


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write", "launch"))


@pytest.fixture
def admin_api(staff_user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(staff_user, "admin"))


# Teams -------------------------------------------------------------------------------------


def test_a_campaign_is_shared_with_a_team_its_creator_belongs_to(
    api: Api, user: Any, other_user: Any, catalog: dict[str, Any], make_token: Callable[..., str]
) -> None:
    team = Team.objects.create(name="Growth")
    team.members.add(user, other_user)
    created = api.post("/campaigns", campaign_body(catalog, team_id=team.id))
    assert created.status_code == 201, created.content
    assert created.json()["team_id"] == team.id
    teammate = Api(make_token(other_user, "read"))
    assert teammate.get(f"/campaigns/{created.json()['id']}").json()["team_id"] == team.id

    unshared = api.patch(f"/campaigns/{created.json()['id']}", {"team_id": None})
    assert unshared.status_code == 200 and unshared.json()["team_id"] is None
    assert_error(teammate.get(f"/campaigns/{created.json()['id']}"), 404)


def test_team_id_must_name_a_team_of_the_caller(api: Api, admin_api: Api, catalog: dict[str, Any]) -> None:
    foreign = Team.objects.create(name="Elsewhere")
    error = assert_error(api.post("/campaigns", campaign_body(catalog, team_id=foreign.id)), 422)
    assert error["field"] == "team_id" and "team_id" in error["detail"]
    assert_error(api.post("/campaigns", campaign_body(catalog, team_id=999_999)), 422)
    assert not Campaign.objects.exists(), "a refused team creates nothing"

    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    error = assert_error(api.patch(f"/campaigns/{campaign_id}", {"team_id": foreign.id}), 422)
    assert error["field"] == "team_id"
    assert Campaign.objects.get(id=campaign_id).team_id is None

    # Staff may share with any team, and a shared campaign may be renamed while running.
    staff_created = admin_api.post("/campaigns", campaign_body(catalog, team_id=foreign.id))
    assert staff_created.status_code == 201 and staff_created.json()["team_id"] == foreign.id


def test_team_may_change_after_launch(api: Api, user: Any, catalog: dict[str, Any]) -> None:
    team = Team.objects.create(name="Growth")
    team.members.add(user)
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    Campaign.objects.filter(id=campaign_id).update(status=Campaign.Status.RUNNING)
    shared = api.patch(f"/campaigns/{campaign_id}", {"team_id": team.id})
    assert shared.status_code == 200 and shared.json()["team_id"] == team.id


# Rate limit --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_token_over_its_rate_limit_gets_429_with_retry_after() -> None:
    user = await sync_to_async(UserFactory)(username="limited")
    token, raw = await sync_to_async(token_create)(user=user, scopes=["read"])
    await ApiToken.objects.filter(id=token.id).aupdate(rate_limit_per_minute=3)
    client, headers = AsyncClient(), {"Authorization": f"Bearer {raw}"}
    for _ in range(3):
        ok = await client.get(f"{BASE}/campaigns", headers=headers)
        assert ok.status_code == 200, ok.content
    refused = await client.get(f"{BASE}/campaigns", headers=headers)
    assert refused.status_code == 429
    assert refused.json() == {"detail": "rate limit of 3 requests per minute for this token exceeded"}
    assert 1 <= int(refused["Retry-After"]) <= 60

    # Another token of the same user has its own window.
    _, other = await sync_to_async(token_create)(user=user, scopes=["read"])
    assert (await client.get(f"{BASE}/campaigns", headers={"Authorization": f"Bearer {other}"})).status_code == 200


def test_openapi_documents_429_and_402() -> None:
    schema = Client().get(f"{BASE}/openapi.json").json()
    for path, item in schema["paths"].items():
        for method, op in item.items():
            assert "429" in op["responses"], f"{method} {path}"
            assert "Retry-After" in op["responses"]["429"].get("headers", {}), f"{method} {path}"
    assert "402" in schema["paths"][f"{BASE}/campaigns/{{campaign_id}}/launch"]["post"]["responses"]


# Quotas ------------------------------------------------------------------------------------


def test_quotas_crud_with_current_period(admin_api: Api, user: Any, catalog: dict[str, Any]) -> None:
    created = admin_api.post("/quotas", {"scope": "user", "user_id": user.id, "period": "day", "limit_usd": "2.5"})
    assert created.status_code == 201, created.content
    quota = created.json()
    assert quota["limit_usd"] == "2.5" and quota["is_active"] and quota["token_id"] is None
    start, resets = quota_period("day", Quota.objects.get(id=quota["id"]).created_at)
    QuotaUsage.objects.create(quota_id=quota["id"], period_start=start, spent_usd="1", reserved_usd="0.25")

    current = admin_api.get(f"/quotas/{quota['id']}").json()["current"]
    assert current["spent_usd"] == "1" and current["reserved_usd"] == "0.25" and current["left_usd"] == "1.25"
    assert current["used_pct"] == 40 and current["resets_at"] is not None

    changed = admin_api.patch(f"/quotas/{quota['id']}", {"limit_usd": "10", "period": "total"})
    assert changed.status_code == 200
    assert changed.json()["limit_usd"] == "10" and changed.json()["current"]["resets_at"] is None

    listed = admin_api.get("/quotas", scope="user").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == quota["id"]
    assert admin_api.delete(f"/quotas/{quota['id']}").status_code == 204
    assert_error(admin_api.get(f"/quotas/{quota['id']}"), 404)


def test_quota_list_reads_every_current_period_at_once(admin_api: Api) -> None:
    now = datetime.now(UTC)
    quotas = [Quota.objects.create(scope="global", period=p, limit_usd="4") for p in ("day", "month", "total")]
    for spent, quota in enumerate(quotas, start=1):
        QuotaUsage.objects.create(quota=quota, period_start=quota_period(quota.period, now)[0], spent_usd=spent)
    yesterday = quota_period("day", now)[0] - timedelta(days=1)
    QuotaUsage.objects.create(quota=quotas[0], period_start=yesterday, spent_usd="3.5")  # a past period
    with CaptureQueriesContext(connection) as queries:
        listed = admin_api.get("/quotas").json()
    assert {item["id"]: item["current"]["spent_usd"] for item in listed["items"]} == {
        quotas[0].id: "1",
        quotas[1].id: "2",
        quotas[2].id: "3",
    }
    usage_table = QuotaUsage._meta.db_table
    assert sum(usage_table in q["sql"] for q in queries.captured_queries) == 1


def test_quota_scope_must_match_its_subject(admin_api: Api, user: Any, staff_user: Any) -> None:
    error = assert_error(admin_api.post("/quotas", {"scope": "user", "limit_usd": "1"}), 422)
    assert error["field"] == "user_id"
    error = assert_error(admin_api.post("/quotas", {"scope": "global", "user_id": user.id, "limit_usd": "1"}), 422)
    assert error["field"] == "user_id"
    error = assert_error(admin_api.post("/quotas", {"scope": "token", "token_id": 999_999, "limit_usd": "1"}), 422)
    assert error["field"] == "token_id"
    error = assert_error(admin_api.post("/quotas", {"scope": "global", "limit_usd": "-1"}), 422)
    assert error["field"] == "limit_usd"
    token, _ = token_create(user=staff_user, scopes=["read"])
    ok = admin_api.post("/quotas", {"scope": "token", "token_id": token.id, "limit_usd": "1"})
    assert ok.status_code == 201 and ok.json()["token_id"] == token.id
    error = assert_error(admin_api.patch(f"/quotas/{ok.json()['id']}", {"scope": "global"}), 422)
    assert error["field"] == "token_id"


def test_quotas_need_staff_and_admin_scope(
    user: Any, staff_user: Any, make_token: Callable[..., str], admin_api: Api
) -> None:
    assert "staff" in assert_error(Api(make_token(user, "admin")).get("/quotas"), 403)["detail"]
    assert "'admin' scope" in assert_error(Api(make_token(staff_user, "read", "write")).get("/quotas"), 403)["detail"]
    assert_error(Api().get("/quotas"), 401)


def test_my_quotas_are_mine_the_global_ones_and_my_tokens(
    user: Any, other_user: Any, make_token: Callable[..., str]
) -> None:
    token, raw = token_create(user=user, scopes=["read"])
    mine = Quota.objects.create(scope="user", user=user, period="month", limit_usd="5")
    everyone = Quota.objects.create(scope="global", period="total", limit_usd="100")
    this_token = Quota.objects.create(scope="token", token=token, period="day", limit_usd="1")
    Quota.objects.create(scope="user", user=other_user, period="month", limit_usd="5")
    Quota.objects.create(scope="user", user=user, period="month", limit_usd="5", is_active=False)
    response = Api(raw).get("/quotas/mine")
    assert response.status_code == 200
    assert {q["id"] for q in response.json()} == {mine.id, everyone.id, this_token.id}
    other_token = make_token(user, "read")
    assert {q["id"] for q in Api(other_token).get("/quotas/mine").json()} == {mine.id, everyone.id}


def test_a_launch_refused_by_a_quota_is_402_naming_it(api: Api, user: Any, catalog: dict[str, Any]) -> None:
    Quota.objects.create(scope="user", user=user, period="month", limit_usd=Decimal(0))
    campaign_id = api.post("/campaigns", campaign_body(catalog)).json()["id"]
    error = assert_error(api.post(f"/campaigns/{campaign_id}/launch"), 402)
    assert "quota" in error["detail"] and "alice" in error["detail"]


# Usage -------------------------------------------------------------------------------------


@pytest.fixture
def spent(catalog: dict[str, Any], user: Any, other_user: Any) -> tuple[Campaign, Campaign]:
    mine = make_campaign(catalog, user, name="Mine")
    theirs = make_campaign(catalog, other_user, name="Theirs")
    for campaign, cost, source in [
        (mine, "0.001", "reported"),
        (mine, "0.0005", "estimated"),
        (theirs, "0.002", "reported"),
    ]:
        if campaign.status == "draft":
            campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
            campaign.refresh_from_db()
        gen = Generation.objects.filter(campaign=campaign, attempts=0).first()
        assert gen is not None
        gen.attempts = 1
        gen.save()
        Attempt.objects.create(
            generation=gen,
            number=1,
            model=gen.model,
            cost_usd=Decimal(cost),
            cost_source=source,
            tokens_in=10,
            tokens_out=20,
        )
    return mine, theirs


def test_usage_by_campaign_is_limited_to_my_campaigns(api: Api, spent: tuple[Campaign, Campaign]) -> None:
    mine, _ = spent
    report = api.get("/usage", group_by="campaign").json()
    assert report["group_by"] == "campaign" and report["spend_usd"] == "0.0015"
    [row] = report["items"]
    assert row["key"] == mine.id and row["label"] == "Mine"
    assert (row["spend_usd"], row["reported_usd"], row["estimated_usd"]) == ("0.0015", "0.001", "0.0005")
    assert (row["attempts"], row["tokens_in"], row["tokens_out"]) == (2, 20, 40)


def test_usage_for_staff_by_user_and_day(admin_api: Api, spent: tuple[Campaign, Campaign]) -> None:
    by_user = admin_api.get("/usage", group_by="user").json()
    assert {r["label"]: r["spend_usd"] for r in by_user["items"]} == {"alice": "0.0015", "bob": "0.002"}
    by_day = admin_api.get("/usage", group_by="day").json()
    [day] = by_day["items"]
    assert day["spend_usd"] == "0.0035" and isinstance(day["key"], str)
    past = admin_api.get("/usage", group_by="model", since="2000-01-01", until="2000-01-31").json()
    assert past["items"] == [] and past["spend_usd"] == "0"


def test_usage_rejects_bad_input(api: Api, user: Any, make_token: Callable[..., str]) -> None:
    assert assert_error(api.get("/usage", group_by="planet"), 422)["field"] == "group_by"
    assert assert_error(api.get("/usage", since="yesterday"), 422)["field"] == "since"
    assert assert_error(api.get("/usage", since="2026-02-01", until="2026-01-01"), 422)["field"] == "until"
    assert "'read' scope" in assert_error(Api(make_token(user, "write")).get("/usage"), 403)["detail"]
