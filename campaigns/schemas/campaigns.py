"""Campaigns and cost estimates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, WithJsonSchema

from campaigns.models import Campaign
from campaigns.schemas.common import (
    Budget,
    IdList,
    In,
    Language,
    Money,
    Name,
    ObjectId,
    PageParams,
    PatchSchema,
    Search,
)

__all__ = [
    "CampaignFilters",
    "CampaignIn",
    "CampaignOut",
    "CampaignPatch",
    "CampaignStatus",
    "EstimateIn",
    "EstimateOut",
    "ModelEstimateOut",
]

# The model's choices, inlined in OpenAPI (both status enums are called "Status" in Python).
CampaignStatus = Annotated[Campaign.Status, WithJsonSchema({"type": "string", "enum": Campaign.Status.values})]
Languages = Annotated[
    list[Language],
    Field(max_length=20, description="write every cell in each of these languages; empty: each product's own"),
]
Variants = Annotated[int, Field(ge=1, le=20, description="generations per product × template × model × language")]
MaxTokens = Annotated[int, Field(ge=1, le=32768)]
Temperature = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]
Rewrites = Annotated[
    int,
    Field(ge=0, le=3, description="times a cell that fails its template's checks is written again, with the "
          "reasons as feedback; each rewrite is an attempt, reserved and billed (skipped when the budget can't)"),
]

MATRIX_EXAMPLE = {
    "product_ids": [1, 2, 3],
    "template_ids": [1, 2],
    "model_ids": [1, 2],
    "variants": 2,
    "languages": [],
    "max_tokens": 256,
    "temperature": 0.7,
}


TEAM_HELP = "share the campaign with this team (you must be a member; staff: any team); null: not shared"


class CampaignIn(In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Spring launch", **MATRIX_EXAMPLE, "budget_usd": "1.25"}]}
    )

    name: Name
    product_ids: IdList
    template_ids: IdList
    model_ids: IdList
    variants: Variants = 1
    languages: Languages = Field(default_factory=list)
    max_tokens: MaxTokens = 256
    temperature: Temperature = 0.7
    budget_usd: Budget = Field(Decimal("5"), description="a decimal string (or number); never overspent")
    rewrites: Rewrites = 1
    team_id: ObjectId | None = Field(None, description=TEAM_HELP)


class CampaignPatch(PatchSchema):
    """``name``, ``budget_usd`` and ``team_id`` may change at any time; the matrix only while a draft."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"team_id"})
    model_config = ConfigDict(json_schema_extra={"examples": [{"budget_usd": "2.50"}]})

    name: Name | None = None
    budget_usd: Budget | None = None
    product_ids: IdList | None = None
    template_ids: IdList | None = None
    model_ids: IdList | None = None
    variants: Variants | None = None
    languages: Languages | None = None
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    rewrites: Rewrites | None = None
    team_id: ObjectId | None = Field(None, description=TEAM_HELP)


CAMPAIGN_OUT_EXAMPLE = {
    "id": 42,
    "name": "Spring launch",
    "team_id": None,
    "status": "running",
    "total": 24,
    "queued": 10,
    "running": 4,
    "succeeded": 9,
    "failed": 1,
    "cancelled": 0,
    "skipped": 0,
    "pending": 14,
    "spend_usd": "0.0003412",
    "budget_usd": "1.25",
    "tokens_in": 1520,
    "tokens_out": 2210,
    "tokens_cached": 1024,
    "tokens_reasoning": 0,
    "cache_hit_ratio": 0.6737,
    "cache_savings_usd": "0.0000768",
    "ttft_ms_p50": 182.4,
    "ttft_ms_p95": 391.0,
    "latency_ms_p50": 1740.2,
    "latency_ms_p95": 2803.9,
    "passing": 8,
    "failing_checks": 1,
    "approved": 3,
    "cost_per_passing_usd": "0.0000426500",
    "cost_per_approved_usd": "0.0001137333",
    "rewrite_usd": "0.0000401",
    "rewrites": 1,
    "variants": 2,
    "languages": [],
    "max_tokens": 256,
    "temperature": 0.7,
    "product_ids": [1, 2, 3],
    "template_ids": [1, 2],
    "model_ids": [1, 2],
    "created_at": "2026-03-01T09:30:00Z",
    "launched_at": "2026-03-01T09:31:12Z",
    "finished_at": None,
    "pinned_prices": [
        {
            "model_id": 1,
            "model": "GPT-4o mini",
            "input_usd_per_mtok": "0.15",
            "cached_input_usd_per_mtok": "0.075",
            "cache_write_usd_per_mtok": None,
            "output_usd_per_mtok": "0.6",
            "price_source": "catalog 0.2.3",
            "pinned_at": "2026-03-01T09:31:12Z",
        }
    ],
}


class PinnedPriceOut(Schema):
    """A model's prices as the campaign pinned them at launch (USD per million tokens)."""

    model_id: int
    model: str = Field(description="the model's label, or its name")
    input_usd_per_mtok: Money
    cached_input_usd_per_mtok: Money | None = Field(description="null: cached tokens billed at the input price")
    cache_write_usd_per_mtok: Money | None = Field(description="null: cache writes billed at the input price")
    output_usd_per_mtok: Money
    price_source: str = Field(description="'catalog <version>' or 'manual'")
    pinned_at: datetime


class CampaignOut(Schema):
    """A campaign with its statistics, always summed from its generations."""

    model_config = ConfigDict(json_schema_extra={"examples": [CAMPAIGN_OUT_EXAMPLE]})

    id: int
    name: str
    team_id: int | None = Field(description="the team the campaign is shared with; null: not shared")
    status: CampaignStatus
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    skipped: int
    pending: int
    spend_usd: Money
    budget_usd: Money
    tokens_in: int
    tokens_out: int
    tokens_cached: int = Field(description="prompt tokens the providers served from their cache")
    tokens_reasoning: int = Field(description="completion tokens spent reasoning (part of tokens_out)")
    cache_hit_ratio: float | None = Field(description="tokens_cached / tokens_in; null before any usage")
    cache_savings_usd: Money = Field(description="what caching saved against the full input price")
    ttft_ms_p50: float | None
    ttft_ms_p95: float | None
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    passing: int = Field(description="generations whose copy passed every check of its template")
    failing_checks: int = Field(description="generations that finished with copy failing a check")
    approved: int
    cost_per_passing_usd: Money | None = Field(description="spend divided by passing copy; null: none passes yet")
    cost_per_approved_usd: Money | None = Field(description="spend divided by approved copy; null: none approved")
    rewrite_usd: Money = Field(description="what the rewrites of failing copy cost (included in spend_usd)")
    rewrites: int
    variants: int
    languages: list[str]
    max_tokens: int
    temperature: float
    product_ids: list[int]
    template_ids: list[int]
    model_ids: list[int]
    created_at: datetime
    launched_at: datetime | None
    finished_at: datetime | None
    pinned_prices: list[PinnedPriceOut] = Field(
        description="each model's prices pinned at launch: the campaign's attempts are costed with these"
    )


class CampaignFilters(PageParams):
    status: CampaignStatus | None = None
    search: Search = Field("", description="in the name")
    ordering: Literal["-created_at", "created_at", "name", "-name", "id", "-id"] = "-created_at"


class EstimateIn(In):
    """A campaign's matrix, before it exists: the body of ``POST /campaigns`` without name and budget."""

    model_config = ConfigDict(json_schema_extra={"examples": [MATRIX_EXAMPLE]})

    product_ids: IdList
    template_ids: IdList
    model_ids: IdList
    variants: Variants = 1
    languages: Languages = Field(default_factory=list)
    max_tokens: MaxTokens = 256
    temperature: Temperature = Field(0.7, description="accepted for symmetry; it does not change the estimate")
    compare_models: bool = Field(
        False, description="also price the same campaign on every active model alone, cheapest first (comparison)"
    )


class ModelEstimateOut(Schema):
    """The same work on one model: its cells, tokens and cost."""

    model_id: int
    model: str = Field(description="the model's label, or its name")
    cells: int
    input_tokens_worst: int
    output_tokens_worst: int
    input_tokens_expected: int
    output_tokens_expected: int
    worst_case_usd: Money
    expected_usd: Money
    price_source: str = Field("", description="where the model's prices came from: 'catalog <version>' or 'manual'")


class EstimateOut(Schema):
    """Worst case (what the budget must cover, as the engine reserves it) and an expected cost."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cells": 24,
                    "prompts": 6,
                    "max_tokens": 256,
                    "expected_output_ratio": "0.6",
                    "worst_case_usd": "0.0252",
                    "expected_usd": "0.0061",
                    "budget_usd": None,
                    "budget_covers_worst_case": None,
                    "models": [
                        {
                            "model_id": 1,
                            "model": "GPT-4o mini",
                            "cells": 12,
                            "input_tokens_worst": 1896,
                            "output_tokens_worst": 3072,
                            "input_tokens_expected": 420,
                            "output_tokens_expected": 1848,
                            "worst_case_usd": "0.0021276",
                            "expected_usd": "0.0011718",
                        }
                    ],
                }
            ]
        }
    )

    cells: int
    prompts: int = Field(description="distinct prompts (product × template × language)")
    max_tokens: int
    expected_output_ratio: Money = Field(description="the share of max_tokens a completion is assumed to use")
    worst_case_usd: Money
    expected_usd: Money
    budget_usd: Money | None = Field(None, description="the campaign's budget (campaign estimates only)")
    budget_covers_worst_case: bool | None = None
    models: list[ModelEstimateOut]
    comparison: list[ModelEstimateOut] | None = Field(
        None,
        description="with compare_models: the same campaign on each active model alone, cheapest expected cost first",
    )
