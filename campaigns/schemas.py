"""Shapes of the REST API: ``XxxIn`` (create), ``XxxPatch`` (partial update), ``XxxOut`` (read).

Money is a decimal string in JSON, both ways: input accepts a string or a number and
rejects negatives; output is always a string such as ``"0.000123"``, never a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from ninja import Schema
from pydantic import Field, PlainSerializer, ValidationInfo, WithJsonSchema, field_validator

from campaigns.models import Campaign, Generation

__all__ = [
    "CampaignIn",
    "CampaignOut",
    "ErrorOut",
    "GenerationFilters",
    "GenerationOut",
    "LLMModelIn",
    "LLMModelOut",
    "PageOut",
    "PageParams",
    "ProductIn",
    "ProductOut",
    "ProductPatch",
    "PromptTemplateIn",
    "PromptTemplateOut",
    "PromptTemplatePatch",
    "ProviderIn",
    "ProviderOut",
    "money_str",
]

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def money_str(value: Decimal) -> str:
    """``Decimal("0.0001230000")`` -> ``"0.000123"``; never exponent notation."""
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", ""} else text


Budget = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=10, allow_inf_nan=False)]
Price = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=6, allow_inf_nan=False)]
Money = Annotated[Decimal, PlainSerializer(money_str, return_type=str)]

Name = Annotated[str, Field(min_length=1, max_length=200)]

# The model's choices, inlined in OpenAPI (both enums are called "Status" in Python).
CampaignStatus = Annotated[Campaign.Status, WithJsonSchema({"type": "string", "enum": Campaign.Status.values})]
GenerationStatus = Annotated[Generation.Status, WithJsonSchema({"type": "string", "enum": Generation.Status.values})]
Language = Annotated[str, Field(min_length=1, max_length=35)]


class ErrorOut(Schema):
    """Every error: what went wrong and, when one field is to blame, its name."""

    detail: str
    field: str | None = None


class PageParams(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0)


class PageOut(Schema, Generic[T]):
    items: list[T]
    count: int


class PatchSchema(Schema):
    """Every field optional; a field that is sent must not be null."""

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            raise ValueError(f"{info.field_name} may be omitted but not null")
        return value


# Providers and models ---------------------------------------------------------------


class ProviderIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    base_url: str = Field(min_length=1, max_length=500, description="e.g. https://api.openai.com/v1")
    api_key: str = Field("", description="write-only: stored encrypted, shown back only as a hint")
    max_concurrency: int = Field(16, ge=1)
    rpm_limit: int | None = Field(None, ge=1, description="requests per minute")
    tpm_limit: int | None = Field(None, ge=1, description="tokens per minute")
    timeout: float = Field(60.0, ge=0.1, description="seconds per attempt")


class ProviderOut(Schema):
    id: int
    name: str
    base_url: str
    api_key_hint: str = Field(description="the last 4 characters of the key")
    max_concurrency: int
    rpm_limit: int | None
    tpm_limit: int | None
    timeout: float
    created_at: datetime


class LLMModelIn(Schema):
    provider_id: int
    name: Name = Field(description="the model name sent to the provider")
    input_usd_per_mtok: Price
    output_usd_per_mtok: Price
    label: str = Field("", max_length=200)


class LLMModelOut(Schema):
    id: int
    provider_id: int
    name: str
    label: str
    input_usd_per_mtok: Money
    output_usd_per_mtok: Money
    is_active: bool


# Catalog ------------------------------------------------------------------------------


class ProductIn(Schema):
    name: Name
    description: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict, description="a JSON object")
    language: Language = "en"


class ProductPatch(PatchSchema):
    name: Name | None = None
    description: str | None = None
    attributes: dict[str, Any] | None = None
    language: Language | None = None


class ProductOut(Schema):
    id: int
    name: str
    description: str
    attributes: dict[str, Any]
    language: str
    created_at: datetime
    updated_at: datetime


class PromptTemplateIn(Schema):
    name: Name
    system_prompt: str = ""
    body: str = Field(min_length=1)


class PromptTemplatePatch(PatchSchema):
    name: Name | None = None
    system_prompt: str | None = None
    body: str | None = Field(None, min_length=1)


class PromptTemplateOut(Schema):
    id: int
    name: str
    system_prompt: str
    body: str
    created_at: datetime
    updated_at: datetime


# Campaigns ----------------------------------------------------------------------------


class CampaignIn(Schema):
    name: Name
    product_ids: list[int]
    template_ids: list[int]
    model_ids: list[int]
    variants: int = Field(1, ge=1, le=20)
    max_tokens: int = Field(256, ge=1, le=32768)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    budget_usd: Budget = Decimal("5")


class CampaignOut(Schema):
    id: int
    name: str
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
    ttft_ms_p50: float | None
    ttft_ms_p95: float | None
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    variants: int
    max_tokens: int
    temperature: float
    product_ids: list[int]
    template_ids: list[int]
    model_ids: list[int]
    created_at: datetime
    launched_at: datetime | None
    finished_at: datetime | None


class GenerationFilters(PageParams):
    status: GenerationStatus | None = None


class GenerationOut(Schema):
    id: int
    product_id: int
    template_id: int
    model_id: int
    variant: int
    status: GenerationStatus
    text: str
    ttft_ms: float | None
    latency_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: Money
    cost_source: str
    attempts: int
    error: str
