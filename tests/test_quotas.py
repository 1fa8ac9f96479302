"""Spending quotas: checked with every reservation, named when they refuse, warned about."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from asgiref.sync import sync_to_async

from campaigns.models import Campaign, Generation, Quota, QuotaUsage
from campaigns.services.budgets import quota_period
from campaigns.services.errors import QuotaExceeded
from campaigns.services.launch import campaign_launch
from campaigns.services.tokens import token_create
from tests.test_engine_e2e import make_campaign, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)


def test_periods_follow_the_calendar_in_the_quota_time_zone(settings: Any) -> None:
    settings.COPYGEN_QUOTA_TIME_ZONE = "Europe/Paris"
    now = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # already April 1st, 00:30 in Paris
    day, day_reset = quota_period("day", now)
    month, month_reset = quota_period("month", now)
    assert (day.isoformat(), day_reset.isoformat()) == ("2026-03-31T22:00:00+00:00", "2026-04-01T22:00:00+00:00")
    assert (month.isoformat(), month_reset.isoformat()) == ("2026-03-31T22:00:00+00:00", "2026-04-30T22:00:00+00:00")
    assert quota_period("total", now)[1] is None


def use_up(quota: Quota, period: str, **amounts: Decimal) -> None:
    """Usage for the current period and the next one: a test that crosses midnight (or the
    end of a month) meets the same usage either way."""
    start, next_start = quota_period(period, datetime.now(UTC))
    for period_start in (start, next_start or start):
        QuotaUsage.objects.get_or_create(quota=quota, period_start=period_start, defaults=amounts)


def test_an_exhausted_quota_refuses_the_launch_and_names_itself(catalog: Any, user: Any) -> None:
    quota = Quota.objects.create(scope="user", user=user, period="day", limit_usd=Decimal("0.01"))
    use_up(quota, "day", spent_usd=Decimal("0.01"))
    campaign = make_campaign(catalog, user)
    with pytest.raises(QuotaExceeded) as err:
        campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
    message = err.value.message
    assert "user alice (day)" in message and "limit $0.0100" in message and "resets at" in message
    campaign.refresh_from_db()
    assert campaign.status == "draft" and not Generation.objects.filter(campaign=campaign).exists()


async def test_concurrent_cells_never_exceed_a_user_quota_and_warnings_go_out(catalog, user, simulator, inline_engine,
                                                                               settings):
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings.COPYGEN_QUOTA_WEBHOOK_URL = f"http://127.0.0.1:{port}/hook"
    try:
        quota = await Quota.objects.acreate(scope="user", user=user, period="month", limit_usd=Decimal("0.002"))
        campaign = await sync_to_async(make_campaign)(catalog, user, variants=6, budget_usd=Decimal("10"))
        await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=campaign.owner, token=None)
        campaign = await wait_finished(campaign.id, timeout=60)
        for _ in range(600):  # delivered from the outbox, after the commit
            if received:
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    usage = await QuotaUsage.objects.aget(quota=quota)
    assert usage.spent_usd <= quota.limit_usd and usage.reserved_usd == 0
    assert usage.spent_usd == campaign.spent_usd, "the quota counted exactly what the campaign spent"
    assert usage.spent_usd >= Decimal("0.8") * quota.limit_usd
    assert campaign.status == Campaign.Status.BUDGET_EXHAUSTED
    skipped = await Generation.objects.filter(campaign=campaign, status="skipped").afirst()
    assert skipped is not None and "quota user alice (month)" in skipped.error
    assert usage.warned_pct >= 80
    assert received and received[0]["type"] == "quota.warning" and received[0]["level"] >= 80


async def test_a_token_quota_applies_to_campaigns_the_token_launched(catalog, user, simulator, inline_engine):
    token, _raw = await sync_to_async(token_create)(user=user, scopes=["launch"])
    quota = await Quota.objects.acreate(scope="token", token=token, period="total", limit_usd=Decimal("0.0005"))
    campaign = await sync_to_async(make_campaign)(catalog, user, variants=3)
    await sync_to_async(campaign_launch)(campaign_id=campaign.id, actor=user, token=token)
    campaign = await wait_finished(campaign.id, timeout=60)
    usage = await QuotaUsage.objects.aget(quota=quota)
    assert Decimal(0) < usage.spent_usd <= quota.limit_usd
    assert campaign.status == Campaign.Status.BUDGET_EXHAUSTED


async def test_a_global_quota_is_shared_by_everyone(catalog, user, other_user, simulator, inline_engine):
    quota = await Quota.objects.acreate(scope="global", period="day", limit_usd=Decimal("0.001"))
    first = await sync_to_async(make_campaign)(catalog, user, variants=3)
    second = await sync_to_async(make_campaign)(catalog, other_user, variants=3)
    await sync_to_async(campaign_launch)(campaign_id=first.id, actor=first.owner, token=None)
    await sync_to_async(campaign_launch)(campaign_id=second.id, actor=second.owner, token=None)
    first = await wait_finished(first.id, timeout=60)
    second = await wait_finished(second.id, timeout=60)
    spent = sum([u.spent_usd async for u in QuotaUsage.objects.filter(quota=quota)], Decimal(0))  # 2 days at midnight
    assert spent == first.spent_usd + second.spent_usd <= quota.limit_usd


def test_quotas_for_user_show_what_is_left(user: Any, other_user: Any) -> None:
    from campaigns.services.budgets import quotas_for_user

    mine = Quota.objects.create(scope="user", user=user, period="month", limit_usd=Decimal("2"))
    Quota.objects.create(scope="user", user=other_user, period="month", limit_usd=Decimal("9"))
    Quota.objects.create(scope="global", period="total", limit_usd=Decimal("100"))
    use_up(mine, "month", spent_usd=Decimal("0.5"), reserved_usd=Decimal("0.25"))
    rows = {(r["scope"], r["period"]): r for r in quotas_for_user(user)}
    assert set(rows) == {("user", "month"), ("global", "total")}
    assert rows[("user", "month")]["left_usd"] == Decimal("1.25") and rows[("user", "month")]["used_pct"] == 25
    assert rows[("global", "total")]["resets_at"] is None
