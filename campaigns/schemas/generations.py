"""Generations (the cells of a campaign), their review and their export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, WithJsonSchema

from campaigns.models import Generation
from campaigns.schemas.common import In, Money, ObjectId, PageParams, PatchSchema

__all__ = [
    "AllGenerationFilters",
    "AttemptOut",
    "CheckResultOut",
    "ExportOut",
    "ExportParams",
    "ExportRowOut",
    "GenerationDetailOut",
    "GenerationFilters",
    "GenerationOut",
    "GenerationPatch",
    "GenerationStatus",
]

GenerationStatus = Annotated[Generation.Status, WithJsonSchema({"type": "string", "enum": Generation.Status.values})]
Rating = Annotated[int, Field(ge=1, le=5)]


class GenerationFilters(PageParams):
    status: GenerationStatus | None = None
    product_id: ObjectId | None = None
    template_id: ObjectId | None = None
    model_id: ObjectId | None = None
    language: str = Field("", max_length=35)
    approved: bool | None = None
    rating: Rating | None = None
    checks_passed: bool | None = Field(None, description="true: copy that passed its checks; false: copy that failed")
    ordering: Literal[
        "id",
        "-id",
        "cost_usd",
        "-cost_usd",
        "latency_ms",
        "-latency_ms",
        "ttft_ms",
        "-ttft_ms",
        "rating",
        "-rating",
        "finished_at",
        "-finished_at",
    ] = "id"


class AllGenerationFilters(GenerationFilters):
    campaign_id: ObjectId | None = None


GENERATION_EXAMPLE = {
    "id": 812,
    "campaign_id": 42,
    "product_id": 1,
    "template_id": 2,
    "model_id": 1,
    "served_by_id": 1,
    "variant": 1,
    "language": "en",
    "status": "succeeded",
    "text": "Run further on lighter feet.",
    "final_text": "Run further. Grip harder.",
    "edited_text": "Run further. Grip harder.",
    "rating": 5,
    "approved": True,
    "approved_at": "2026-03-01T10:02:00Z",
    "ttft_ms": 181.2,
    "latency_ms": 1603.5,
    "tokens_in": 64,
    "tokens_out": 21,
    "tokens_cached": 0,
    "tokens_reasoning": 0,
    "cost_usd": "0.0000222",
    "cost_source": "reported",
    "attempts": 1,
    "error": "",
    "finish_reason": "stop",
    "checks_passed": True,
    "check_failures": [],
    "created_at": "2026-03-01T09:31:12Z",
    "started_at": "2026-03-01T09:31:13Z",
    "finished_at": "2026-03-01T09:31:15Z",
}
ATTEMPT_EXAMPLE = {
    "number": 1,
    "model_id": 1,
    "status_code": 200,
    "error": "",
    "duration_ms": 1603.5,
    "ttft_ms": 181.2,
    "tokens_in": 64,
    "tokens_out": 21,
    "tokens_cached": 0,
    "tokens_reasoning": 0,
    "cost_usd": "0.0000222",
    "cost_source": "reported",
    "rewrite": 0,
    "text": "Run further on lighter feet.",
    "checks_passed": True,
    "check_results": [{"kind": "max_chars", "passed": True}, {"kind": "language", "passed": True}],
    "kept": True,
    "created_at": "2026-03-01T09:31:15Z",
}


class GenerationOut(Schema):
    """One cell: ``text`` is what the model wrote, ``final_text`` the reviewer's edit if any, else ``text``."""

    model_config = ConfigDict(json_schema_extra={"examples": [GENERATION_EXAMPLE]})

    id: int
    campaign_id: int
    product_id: int
    template_id: int
    model_id: int
    served_by_id: int | None = Field(description="the model that produced the text (the fallback, if used)")
    variant: int
    language: str
    status: GenerationStatus
    text: str
    final_text: str
    edited_text: str
    rating: int | None
    approved: bool
    approved_at: datetime | None
    ttft_ms: float | None
    latency_ms: float | None
    tokens_in: int
    tokens_out: int
    tokens_cached: int = Field(description="prompt tokens served from the provider's cache (part of tokens_in)")
    tokens_reasoning: int = Field(description="completion tokens spent reasoning (part of tokens_out)")
    cost_usd: Money
    cost_source: str = Field(description="'reported' by the provider, 'estimated' when it reported no usage")
    attempts: int
    error: str
    finish_reason: str
    checks_passed: bool | None = Field(
        description="the kept copy passed every check of its template (true when it has none); null: not checked "
        "(running, or no copy)"
    )
    check_failures: list[str] = Field(description="why the kept copy failed, for a person: '43 characters; the limit is 30'")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CheckResultOut(Schema):
    """One check of one attempt: ``reason`` says why it failed, ``note`` what a pass could not judge."""

    kind: str
    passed: bool
    reason: str = ""
    note: str = ""


class AttemptOut(Schema):
    """One provider call of a generation."""

    model_config = ConfigDict(json_schema_extra={"examples": [ATTEMPT_EXAMPLE]})

    number: int
    model_id: int
    status_code: int | None
    error: str
    duration_ms: float | None
    ttft_ms: float | None
    tokens_in: int
    tokens_out: int
    tokens_cached: int = Field(description="prompt tokens served from the provider's cache (part of tokens_in)")
    tokens_reasoning: int = Field(description="completion tokens spent reasoning (part of tokens_out)")
    cost_usd: Money
    cost_source: str
    rewrite: int = Field(description="0: the first writing; n: the n-th rewrite after failed checks")
    text: str = Field(description="the copy this attempt wrote (attempts that were checked)")
    checks_passed: bool | None
    check_results: list[CheckResultOut]
    kept: bool = Field(description="the attempt whose copy the generation keeps")
    created_at: datetime


class GenerationDetailOut(GenerationOut):
    """A generation with the messages it was sent and every provider call it took."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **GENERATION_EXAMPLE,
                    "messages": [
                        {"role": "system", "content": "You are a senior copywriter. Answer in en."},
                        {"role": "user", "content": "Write a punchy tagline for Trail Runner 2."},
                    ],
                    "attempt_log": [ATTEMPT_EXAMPLE],
                }
            ]
        }
    )

    messages: list[dict[str, Any]] = Field(description="the chat messages sent, rendered and pinned at launch")
    attempt_log: list[AttemptOut] = Field(description="every provider call, oldest first")


class GenerationPatch(PatchSchema):
    """Review a finished generation; ``rating: null`` clears the rating, ``edited_text: ""`` the edit."""

    NULLABLE = frozenset({"rating"})
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"rating": 5, "approved": True, "edited_text": "Run further. Grip harder."}]}
    )

    rating: Rating | None = None
    approved: bool | None = None
    edited_text: str | None = Field(None, max_length=100_000)


class ExportParams(In):
    format: Literal["csv", "json", "xlsx"] = "csv"
    approved_only: bool = False


class ExportRowOut(Schema):
    id: int
    product: str
    template: str
    model: str
    served_by: str
    variant: int
    language: str
    status: str
    text: str = Field(description="the final text: the reviewer's edit if any, else the generated text")
    original_text: str
    rating: int | None
    approved: bool
    checks_passed: bool | None
    check_failures: str = Field(description="the reasons the copy failed its checks, separated by ' | '")
    tokens_in: int
    tokens_out: int
    tokens_cached: int = Field(description="prompt tokens served from the provider's cache (part of tokens_in)")
    tokens_reasoning: int = Field(description="completion tokens spent reasoning (part of tokens_out)")
    cost_usd: Money
    latency_ms: float | None
    ttft_ms: float | None


class ExportOut(Schema):
    """The JSON export: the campaign and one row per generation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign_id": 42,
                    "campaign": "Spring launch",
                    "rows": [
                        {
                            "id": 812,
                            "product": "Trail Runner 2",
                            "template": "Tagline",
                            "model": "GPT-4o mini",
                            "served_by": "GPT-4o mini",
                            "variant": 1,
                            "language": "en",
                            "status": "succeeded",
                            "text": "Run further. Grip harder.",
                            "original_text": "Run further on lighter feet.",
                            "rating": 5,
                            "approved": True,
                            "checks_passed": True,
                            "check_failures": "",
                            "tokens_in": 64,
                            "tokens_out": 21,
                            "tokens_cached": 0,
                            "tokens_reasoning": 0,
                            "cost_usd": "0.0000222",
                            "latency_ms": 1603.5,
                            "ttft_ms": 181.2,
                        }
                    ],
                }
            ]
        }
    )

    campaign_id: int
    campaign: str
    rows: list[ExportRowOut]
