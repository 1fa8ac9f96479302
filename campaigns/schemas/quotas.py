"""Spending quotas and usage reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from campaigns.schemas.common import Budget, In, Money, ObjectId, PageParams, PatchSchema

__all__ = [
    "QuotaCurrentOut",
    "QuotaFilters",
    "QuotaIn",
    "QuotaOut",
    "QuotaPatch",
    "UsageOut",
    "UsageParams",
    "UsageRowOut",
]

QuotaScope = Literal["user", "token", "global"]
QuotaPeriod = Literal["day", "month", "total"]
LIMIT_HELP = "USD per period, a decimal string (or number)"
Limit = Annotated[Budget, Field(description=LIMIT_HELP)]
SCOPE_HELP = "user: the campaigns of user_id; token: the launches of token_id; global: every campaign"
PERIOD_HELP = "day and month reset at midnight (the quota time zone); total never resets"


def _subject(scope: str, subject: str | None) -> dict[str, Any]:
    """The rule for one scope: it names its subject (user or token) and no other."""
    ids = {"user_id": {"type": "null"}, "token_id": {"type": "null"}}
    if subject:
        ids[subject] = {"type": "integer"}
    return {"properties": {"scope": {"const": scope}, **ids}, "required": ["scope"] + ([subject] if subject else [])}


class QuotaIn(In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"scope": "user", "user_id": 3, "period": "month", "limit_usd": "50"}],
            # What _quota_save checks, said where clients and generators can see it.
            "oneOf": [_subject("user", "user_id"), _subject("token", "token_id"), _subject("global", None)],
        }
    )

    scope: QuotaScope = Field(description=SCOPE_HELP)
    user_id: ObjectId | None = Field(None, description="required for scope user, else null")
    token_id: ObjectId | None = Field(None, description="required for scope token, else null")
    period: QuotaPeriod = Field("month", description=PERIOD_HELP)
    limit_usd: Limit
    is_active: bool = True


class QuotaPatch(PatchSchema):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"user_id", "token_id"})
    model_config = ConfigDict(json_schema_extra={"examples": [{"limit_usd": "75"}]})

    scope: QuotaScope | None = None
    user_id: ObjectId | None = None
    token_id: ObjectId | None = None
    period: QuotaPeriod | None = None
    limit_usd: Limit | None = Field(None, description=LIMIT_HELP)
    is_active: bool | None = None


class QuotaCurrentOut(Schema):
    """The current period: what is spent, reserved by calls in flight, and left."""

    period_start: datetime
    spent_usd: Money
    reserved_usd: Money
    left_usd: Money
    used_pct: int = Field(description="spent as a percentage of the limit")
    resets_at: datetime | None = Field(description="null: never (period total)")


class QuotaOut(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 4,
                    "scope": "user",
                    "user_id": 3,
                    "token_id": None,
                    "period": "month",
                    "limit_usd": "50",
                    "is_active": True,
                    "created_at": "2026-03-01T09:30:00Z",
                    "current": {
                        "period_start": "2026-03-01T00:00:00Z",
                        "spent_usd": "12.5",
                        "reserved_usd": "0.02",
                        "left_usd": "37.48",
                        "used_pct": 25,
                        "resets_at": "2026-04-01T00:00:00Z",
                    },
                }
            ]
        }
    )

    id: int
    scope: QuotaScope
    user_id: int | None
    token_id: int | None
    period: QuotaPeriod
    limit_usd: Money
    is_active: bool
    created_at: datetime
    current: QuotaCurrentOut


class QuotaFilters(PageParams):
    scope: QuotaScope | None = None
    user_id: ObjectId | None = None
    token_id: ObjectId | None = None
    is_active: bool | None = None


class UsageParams(In):
    group_by: Literal["campaign", "model", "user", "token", "day"] = "campaign"
    since: date | None = Field(None, description="first day included (YYYY-MM-DD)")
    until: date | None = Field(None, description="last day included (YYYY-MM-DD)")


class UsageRowOut(Schema):
    key: int | str | None = Field(description="the id of the group (the date for day; null: none, e.g. no token)")
    label: str
    spend_usd: Money
    reported_usd: Money = Field(description="costs the provider reported")
    estimated_usd: Money = Field(description="costs computed from token counts and prices")
    attempts: int
    tokens_in: int
    tokens_out: int
    tokens_cached: int = Field(description="prompt tokens served from the providers' caches")
    tokens_reasoning: int = Field(description="completion tokens spent reasoning")


class UsageOut(Schema):
    group_by: str
    since: date | None
    until: date | None
    spend_usd: Money = Field(description="the sum of the rows")
    items: list[UsageRowOut]
