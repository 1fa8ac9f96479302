"""Money inside one transaction: campaign budgets and spending quotas.

A :class:`Ledger` locks the campaign rows and quota usage rows it touches (row locks on
PostgreSQL; SQLite serialises writers with IMMEDIATE transactions), changes them in
memory and writes them back once. Every reservation checks the campaign budget and
every quota that applies (the campaign owner's, the launching token's, the global ones)
together, so spent + reserved <= limit holds for each of them with any number of
concurrent engines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q

from campaigns.engine import events as ev
from campaigns.models import Campaign, Generation, Quota, QuotaUsage
from campaigns.services.locking import locked
from campaigns.services.webhooks import webhooks_enqueue

__all__ = [
    "WARNING_LEVELS",
    "Ledger",
    "QuotaRefusal",
    "quota_check_launch",
    "quota_describe",
    "quota_period",
    "quotas_for_user",
]

log = logging.getLogger("campaigns")

WARNING_LEVELS = (80, 95, 100)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _zone() -> ZoneInfo:
    return ZoneInfo(getattr(settings, "COPYGEN_QUOTA_TIME_ZONE", None) or settings.TIME_ZONE)


def quota_period(period: str, now: datetime) -> tuple[datetime, datetime | None]:
    """Start of the period containing ``now`` and when it resets (None: never), in the quota time zone."""
    if period == Quota.Period.TOTAL:
        return EPOCH, None
    local = now.astimezone(_zone())
    if period == Quota.Period.DAY:
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        nxt = (start + timedelta(days=1, hours=2)).replace(hour=0)
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = (start + timedelta(days=32)).replace(day=1)
    return start.astimezone(UTC), nxt.astimezone(UTC)


def quota_describe(quota: Quota, usage: QuotaUsage, now: datetime) -> str:
    _, resets = quota_period(quota.period, now)
    when = f"resets at {resets:%Y-%m-%d %H:%M} UTC" if resets else "never resets"
    return (
        f"quota {quota} exhausted: limit ${quota.limit_usd:.4f}, spent ${usage.spent_usd:.6f}, "
        f"reserved ${usage.reserved_usd:.6f}; {when}"
    )


class QuotaRefusal(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _applicable(campaign: Campaign) -> Q:
    q = Q(scope=Quota.Scope.GLOBAL) | Q(scope=Quota.Scope.USER, user_id=campaign.owner_id)
    if campaign.launched_by_token_id:
        q |= Q(scope=Quota.Scope.TOKEN, token_id=campaign.launched_by_token_id)
    return q


@dataclass
class Outcome:
    ok: bool
    wait: bool = False
    message: str = ""


class Ledger:
    """Campaign and quota money for one transaction; call :meth:`save` before it commits."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.campaigns: dict[int, Campaign] = {}
        self.usages: dict[int, QuotaUsage] = {}
        self._quota_usages: dict[int, list[QuotaUsage]] = {}
        self._touched: set[int] = set()
        self._usage_campaigns: dict[int, set[int]] = {}

    # --- rows ----------------------------------------------------------------------------
    def lock_campaigns(self, ids: set[int]) -> None:
        missing = sorted(i for i in ids if i not in self.campaigns)
        if not missing:  # already locked in this transaction: no query to build
            return
        for c in locked(Campaign.objects.filter(id__in=missing)).order_by("id"):
            self.campaigns[c.id] = c

    def campaign(self, campaign_id: int) -> Campaign:
        self.lock_campaigns({campaign_id})
        return self.campaigns[campaign_id]

    def usages_for(self, campaign: Campaign) -> list[QuotaUsage]:
        if campaign.id not in self._quota_usages:
            quotas = list(Quota.objects.filter(_applicable(campaign), is_active=True).order_by("id"))
            rows = []
            for quota in quotas:
                start, _ = quota_period(quota.period, self.now)
                QuotaUsage.objects.get_or_create(quota=quota, period_start=start)
                usage = locked(QuotaUsage.objects.filter(quota=quota, period_start=start)).select_related(
                    "quota__user", "quota__token"
                ).get()
                rows.append(self.usages.setdefault(usage.id, usage))
            self._quota_usages[campaign.id] = rows
        return self._quota_usages[campaign.id]

    # --- money ---------------------------------------------------------------------------
    def reserve(self, gen: Generation, amount: Decimal) -> Outcome:
        """Hold ``amount`` more for ``gen`` on its campaign and quotas, or say why not."""
        campaign = self.campaign(gen.campaign_id)
        if campaign.spent_usd + campaign.reserved_usd + amount > campaign.budget_usd:
            left = max(campaign.budget_usd - campaign.spent_usd - campaign.reserved_usd, Decimal(0))
            return Outcome(
                False,
                wait=campaign.reserved_usd > 0,
                message=(
                    f"skipped: campaign budget ${campaign.budget_usd:.4f} has ${left:.6f} left, "
                    f"this cell may cost up to ${amount:.6f}"
                ),
            )
        usages = self.usages_for(campaign)
        for usage in usages:
            if usage.spent_usd + usage.reserved_usd + amount > usage.quota.limit_usd:
                return Outcome(
                    False, wait=usage.reserved_usd > 0, message="skipped: " + quota_describe(usage.quota, usage, self.now)
                )
        campaign.reserved_usd += amount
        gen.reserved_usd += amount
        held = dict(gen.quota_reservations or {})
        for usage in usages:
            usage.reserved_usd += amount
            held[str(usage.id)] = str(Decimal(held.get(str(usage.id), "0")) + amount)
            self._touch(usage, campaign.id)
        gen.quota_reservations = held
        return Outcome(True)

    def release(self, gen: Generation) -> None:
        """Free everything ``gen`` holds."""
        campaign = self.campaign(gen.campaign_id)
        campaign.reserved_usd -= gen.reserved_usd
        gen.reserved_usd = Decimal(0)
        held = gen.quota_reservations or {}
        for usage in self._held_usages(held):
            usage.reserved_usd -= Decimal(held[str(usage.id)])
            self._touch(usage, campaign.id)
        gen.quota_reservations = {}

    def spend(self, gen: Generation, cost: Decimal) -> None:
        """Add ``cost`` to the campaign and to the quotas that held money for ``gen`` (or apply now)."""
        if not cost:
            return
        campaign = self.campaign(gen.campaign_id)
        campaign.spent_usd += cost
        held = gen.quota_reservations or {}
        usages = self._held_usages(held) if held else self.usages_for(campaign)
        for usage in usages:
            usage.spent_usd += cost
            self._touch(usage, campaign.id)

    def _touch(self, usage: QuotaUsage, campaign_id: int) -> None:
        self._touched.add(usage.id)
        self._usage_campaigns.setdefault(usage.id, set()).add(campaign_id)

    def _held_usages(self, held: dict[str, str]) -> list[QuotaUsage]:
        ids = sorted(int(i) for i in held)
        missing = [i for i in ids if i not in self.usages]
        if not missing:  # most cells hold no quota, or hold already-locked ones
            return [self.usages[i] for i in ids if i in self.usages]
        for usage in locked(QuotaUsage.objects.filter(id__in=missing)).select_related("quota__user", "quota__token"):
            self.usages[usage.id] = usage
        return [self.usages[i] for i in ids if i in self.usages]

    # --- persistence ---------------------------------------------------------------------
    def save(self) -> list[dict[str, Any]]:
        """Write the changed rows and queue the quota webhook's deliveries; return the quota
        warning events (80%, 95%, 100%) for the caller to publish."""
        for c in self.campaigns.values():
            Campaign.objects.filter(id=c.id).update(spent_usd=c.spent_usd, reserved_usd=c.reserved_usd)
        events: list[dict[str, Any]] = []
        hooks: list[dict[str, Any]] = []
        for usage_id in sorted(self._touched):
            usage = self.usages[usage_id]
            level = _crossed(usage)
            if level:
                usage.warned_pct = level
                # Shown live on every campaign it concerns; POSTed to the webhook once.
                warnings = [
                    dict(_warning_event(campaign_id, usage, level, self.now))
                    for campaign_id in sorted(self._usage_campaigns.get(usage_id, set()))
                ]
                events += warnings
                hooks += warnings[:1]
            QuotaUsage.objects.filter(id=usage.id).update(
                spent_usd=usage.spent_usd, reserved_usd=usage.reserved_usd, warned_pct=usage.warned_pct
            )
        webhooks_enqueue(hooks)
        return events


def _crossed(usage: QuotaUsage) -> int:
    limit = usage.quota.limit_usd
    if limit <= 0:
        return 100 if usage.warned_pct < 100 else 0
    pct = usage.spent_usd * 100 / limit
    levels = [level for level in WARNING_LEVELS if pct >= level and level > usage.warned_pct]
    return max(levels) if levels else 0


def _warning_event(campaign_id: int, usage: QuotaUsage, level: int, now: datetime) -> ev.QuotaWarning:
    quota = usage.quota
    _, resets = quota_period(quota.period, now)
    message = (
        f"quota {quota} is at {level}%: spent ${usage.spent_usd:.6f} of ${quota.limit_usd:.4f}"
        + (" — new generations under it stop" if level >= 100 else "")
    )
    log.warning(message)
    return ev.quota_warning(
        campaign_id, quota_id=quota.id, scope=quota.scope, period=quota.period, level=level,
        limit_usd=str(quota.limit_usd), spent_usd=str(usage.spent_usd),
        resets_at=resets.isoformat() if resets else None, detail=message,
    )


def quota_check_launch(campaign: Campaign, now: datetime) -> None:
    """Refuse a launch when a quota that applies has nothing left, naming it."""
    for quota in Quota.objects.filter(_applicable(campaign), is_active=True):
        start, _ = quota_period(quota.period, now)
        usage = QuotaUsage.objects.filter(quota=quota, period_start=start).first() or QuotaUsage(
            quota=quota, period_start=start
        )
        if usage.spent_usd + usage.reserved_usd >= quota.limit_usd:
            raise QuotaRefusal(quota_describe(quota, usage, now))


def quotas_for_user(user: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """The quotas that apply to ``user``'s campaigns (their own and the global ones), with what is left."""
    now = now or datetime.now(UTC)
    rows = []
    for quota in Quota.objects.filter(Q(scope=Quota.Scope.GLOBAL) | Q(scope=Quota.Scope.USER, user=user), is_active=True):
        start, resets = quota_period(quota.period, now)
        usage = QuotaUsage.objects.filter(quota=quota, period_start=start).first()
        spent = usage.spent_usd if usage else Decimal(0)
        reserved = usage.reserved_usd if usage else Decimal(0)
        left = max(quota.limit_usd - spent - reserved, Decimal(0))
        rows.append({
            "quota": quota, "scope": quota.scope, "period": quota.period, "limit_usd": quota.limit_usd,
            "spent_usd": spent, "reserved_usd": reserved, "left_usd": left, "resets_at": resets,
            "used_pct": int(spent * 100 / quota.limit_usd) if quota.limit_usd else 100,
        })
    return rows
