"""Providers (OpenAI-compatible endpoints) and their models with prices."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from campaigns.providers.openai_compatible import API_KEY_CHARS
from campaigns.schemas.common import In, Money, Name, ObjectId, PageParams, PatchSchema, Price, Search

__all__ = [
    "LLMModelFilters",
    "LLMModelIn",
    "LLMModelOut",
    "LLMModelPatch",
    "ProviderFilters",
    "ProviderIn",
    "ProviderOut",
    "ProviderPatch",
    "ProviderTestOut",
]

KEY_HELP = (
    "write-only: stored encrypted, shown back only as a hint (its last 4 characters); "
    "printable ASCII without spaces"
)
KEY_PATTERN = f"^{API_KEY_CHARS}*$"
# http(s), no user-info (user:pass@), no query string or fragment: a key goes in api_key.
BASE_URL_PATTERN = "^[hH][tT][tT][pP][sS]?://[^/@?#]+(/[^?#]*)?$"
BASE_URL_HELP = (
    "e.g. https://api.openai.com/v1: http or https, without user:pass@, query string or fragment "
    "(the key goes in api_key). Readers without the admin scope see it without user-info or query."
)
PROVIDER_EXAMPLE = {
    "name": "OpenAI",
    "base_url": "https://api.openai.com/v1",
    "max_concurrency": 16,
    "rpm_limit": 500,
    "tpm_limit": 200000,
    "timeout": 60.0,
}
MODEL_EXAMPLE = {
    "provider_id": 1,
    "name": "gpt-4o-mini",
    "label": "GPT-4o mini",
    "input_usd_per_mtok": "0.15",
    "output_usd_per_mtok": "0.6",
}


class ProviderIn(In):
    model_config = ConfigDict(json_schema_extra={"examples": [{**PROVIDER_EXAMPLE, "api_key": "sk-example-1234"}]})

    name: str = Field(min_length=1, max_length=100)
    base_url: str = Field(
        min_length=1,
        max_length=500,
        description=BASE_URL_HELP,
        json_schema_extra={"format": "uri", "pattern": BASE_URL_PATTERN},
    )
    api_key: str = Field("", max_length=1000, pattern=KEY_PATTERN, description=KEY_HELP)
    max_concurrency: int = Field(16, ge=1, le=10_000, description="requests in flight at once, over every process")
    rpm_limit: int | None = Field(None, ge=1, le=10**9, description="requests per minute")
    tpm_limit: int | None = Field(None, ge=1, le=10**9, description="tokens per minute")
    timeout: float = Field(60.0, ge=0.1, le=3600, allow_inf_nan=False, description="seconds per attempt")


class ProviderPatch(PatchSchema):
    """Send ``api_key`` to rotate the key; ``rpm_limit``/``tpm_limit`` may be null (no limit).

    A ``base_url`` on another scheme, host or port needs ``api_key`` in the same request:
    the stored key is never sent to a host it was not given for.
    """

    NULLABLE = frozenset({"rpm_limit", "tpm_limit"})
    model_config = ConfigDict(json_schema_extra={"examples": [{"max_concurrency": 32, "rpm_limit": None}]})

    name: str | None = Field(None, min_length=1, max_length=100)
    base_url: str | None = Field(
        None, min_length=1, max_length=500, description=BASE_URL_HELP + " Changing its scheme, host or port needs "
        "api_key again (422 naming api_key otherwise).", json_schema_extra={"format": "uri", "pattern": BASE_URL_PATTERN},
    )
    api_key: str | None = Field(None, max_length=1000, pattern=KEY_PATTERN, description=KEY_HELP)
    max_concurrency: int | None = Field(None, ge=1, le=10_000)
    rpm_limit: int | None = Field(None, ge=1, le=10**9)
    tpm_limit: int | None = Field(None, ge=1, le=10**9)
    timeout: float | None = Field(None, ge=0.1, le=3600, allow_inf_nan=False)


class ProviderOut(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    **PROVIDER_EXAMPLE,
                    "api_key_hint": "1234",
                    "breaker_state": "closed",
                    "created_at": "2026-03-01T09:30:00Z",
                }
            ]
        }
    )

    id: int
    name: str
    base_url: str = Field(description="without user-info, query or fragment unless the caller is a staff admin")
    api_key_hint: str = Field(description="the last 4 characters of the key")
    max_concurrency: int
    rpm_limit: int | None
    tpm_limit: int | None
    timeout: float
    breaker_state: str = Field(description="the circuit breaker as last reported by an engine")
    created_at: datetime

    @staticmethod
    def resolve_base_url(obj: Any, context: Any) -> str:
        # Rows saved before base_url refused user-info may hold some: only a staff admin sees it.
        from campaigns.api.auth import is_staff_admin
        from campaigns.services.providers import url_redacted

        request = (context or {}).get("request")
        url = obj["base_url"] if isinstance(obj, dict) else obj.base_url
        return url if request is not None and is_staff_admin(request) else url_redacted(url)


class ProviderFilters(PageParams):
    search: Search = Field("", description="in the name (and the base URL, for a staff admin)")
    ordering: Literal["name", "-name", "id", "-id", "created_at", "-created_at"] = "name"


class LLMModelIn(In):
    model_config = ConfigDict(json_schema_extra={"examples": [MODEL_EXAMPLE]})

    provider_id: ObjectId
    name: Name = Field(description="the model name sent to the provider")
    input_usd_per_mtok: Price = Field(description="USD per million input tokens, a decimal string")
    output_usd_per_mtok: Price = Field(description="USD per million output tokens, a decimal string")
    label: str = Field("", max_length=200, description="display name; defaults to the name")
    is_active: bool = Field(True, description="inactive models cannot be put in new campaigns")
    fallback_id: ObjectId | None = Field(None, description="a model used when retries are exhausted")


class LLMModelPatch(PatchSchema):
    NULLABLE = frozenset({"fallback_id"})
    model_config = ConfigDict(json_schema_extra={"examples": [{"output_usd_per_mtok": "0.5", "is_active": False}]})

    name: Name | None = None
    input_usd_per_mtok: Price | None = None
    output_usd_per_mtok: Price | None = None
    label: str | None = Field(None, max_length=200)
    is_active: bool | None = None
    fallback_id: ObjectId | None = None


class LLMModelOut(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": 4, **MODEL_EXAMPLE, "is_active": True, "fallback_id": None}]}
    )

    id: int
    provider_id: int
    name: str
    label: str
    input_usd_per_mtok: Money
    output_usd_per_mtok: Money
    is_active: bool
    fallback_id: int | None


class LLMModelFilters(PageParams):
    provider_id: ObjectId | None = None
    is_active: bool | None = None
    search: Search = Field("", description="in the name or the label")
    ordering: Literal[
        "name",
        "-name",
        "id",
        "-id",
        "input_usd_per_mtok",
        "-input_usd_per_mtok",
        "output_usd_per_mtok",
        "-output_usd_per_mtok",
    ] = "name"


class ProviderTestOut(Schema):
    """What listing the provider's models with its key told."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ok", "detail": "OpenAI: key accepted, 42 models listed", "latency_ms": 182.4,
                 "models": ["gpt-4o-mini"]}
            ]
        }
    )

    status: str = Field(description="ok | invalid_key | unreachable | rate_limited | error")
    detail: str
    latency_ms: float | None = None
    models: list[str] = []
