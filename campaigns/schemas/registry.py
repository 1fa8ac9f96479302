"""Providers (OpenAI-compatible endpoints) and their models with prices."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

from campaigns.models import (
    EXTRA_BODY_MAX_BYTES,
    EXTRA_BODY_MAX_KEYS,
    EXTRA_BODY_RESERVED,
    LLMModel,
    Provider,
    validate_extra_body,
)
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
    "kind": "openai",
}
MODEL_EXAMPLE = {
    "provider_id": 1,
    "name": "gpt-4o-mini",
    "label": "GPT-4o mini",
    "input_usd_per_mtok": "0.15",
    "output_usd_per_mtok": "0.6",
}


# --- Billing: provider kind, cache prices, request options ---
ProviderKind = Literal["openai", "deepseek", "openrouter", "vllm", "ollama", "llamacpp", "other"]
assert set(ProviderKind.__args__) == set(Provider.Kind.values)  # type: ignore[attr-defined]
KIND_HELP = "the service behind the endpoint: how its usage is read and where its prices are looked up"
TokenLimitParam = Literal["max_tokens", "max_completion_tokens"]
assert set(TokenLimitParam.__args__) == set(LLMModel.TokenLimitParam.values)  # type: ignore[attr-defined]
EXTRA_BODY_SCHEMA = {"propertyNames": {"not": {"enum": list(EXTRA_BODY_RESERVED)}}}
EXTRA_BODY_HELP = (
    'JSON fields merged into every request body, e.g. {"reasoning_effort": "low"}; never model, messages or '
    f"stream; at most {EXTRA_BODY_MAX_KEYS} keys, 5 levels and {EXTRA_BODY_MAX_BYTES} bytes"
)
CACHED_HELP = "USD per million prompt tokens served from the provider's cache; null: the input price"
WRITE_HELP = "USD per million prompt tokens written to the provider's cache; null: the input price"


def _extra_body(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    try:
        validate_extra_body(value)
    except ValidationError as exc:
        raise ValueError(exc.messages[0]) from exc
    return value


class _ModelOptions(Schema):
    """Request options of a model, checked the same way on create and change."""

    @field_validator("extra_body", check_fields=False)
    @classmethod
    def _check_extra_body(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _extra_body(value)
# --- end billing ---


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
    kind: ProviderKind = Field("other", description=KIND_HELP)


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
    kind: ProviderKind | None = Field(None, description=KIND_HELP)


class ProviderOut(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    **PROVIDER_EXAMPLE,
                    "api_key_hint": "1234",
                    "breaker_state": "closed",
                    "kind": "openai",
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
    kind: ProviderKind = Field(description=KIND_HELP)
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


class LLMModelIn(In, _ModelOptions):
    """Prices left out are filled from the price catalog when it knows the model for the provider's
    kind; a model it does not know needs its input and output prices."""

    model_config = ConfigDict(json_schema_extra={"examples": [MODEL_EXAMPLE]})

    provider_id: ObjectId
    name: Name = Field(description="the model name sent to the provider")
    input_usd_per_mtok: Price | None = Field(
        None, description="USD per million input tokens, a decimal string; omitted: from the catalog"
    )
    output_usd_per_mtok: Price | None = Field(
        None, description="USD per million output tokens, a decimal string; omitted: from the catalog"
    )
    label: str = Field("", max_length=200, description="display name; defaults to the name")
    is_active: bool = Field(True, description="inactive models cannot be put in new campaigns")
    fallback_id: ObjectId | None = Field(None, description="a model used when retries are exhausted")
    # --- Billing and request options ---
    cached_input_usd_per_mtok: Price | None = Field(None, description=CACHED_HELP)
    cache_write_usd_per_mtok: Price | None = Field(None, description=WRITE_HELP)
    token_limit_param: TokenLimitParam | None = Field(
        None, description="the request field capping the answer; omitted: the catalog's default, else max_tokens"
    )
    send_temperature: bool | None = Field(
        None, description="send the campaign's temperature; omitted: the catalog's default, else true"
    )
    include_usage: bool | None = Field(None, description="ask for stream_options.include_usage; omitted: true")
    extra_body: dict[str, Any] | None = Field(
        None, max_length=EXTRA_BODY_MAX_KEYS, description=EXTRA_BODY_HELP, json_schema_extra=EXTRA_BODY_SCHEMA
    )


class LLMModelPatch(PatchSchema, _ModelOptions):
    NULLABLE = frozenset({"fallback_id", "cached_input_usd_per_mtok", "cache_write_usd_per_mtok"})
    model_config = ConfigDict(json_schema_extra={"examples": [{"output_usd_per_mtok": "0.5", "is_active": False}]})

    name: Name | None = None
    input_usd_per_mtok: Price | None = None
    output_usd_per_mtok: Price | None = None
    label: str | None = Field(None, max_length=200)
    is_active: bool | None = None
    fallback_id: ObjectId | None = None
    # --- Billing and request options ---
    cached_input_usd_per_mtok: Price | None = Field(None, description=CACHED_HELP)
    cache_write_usd_per_mtok: Price | None = Field(None, description=WRITE_HELP)
    token_limit_param: TokenLimitParam | None = None
    send_temperature: bool | None = None
    include_usage: bool | None = None
    extra_body: dict[str, Any] | None = Field(
        None, max_length=EXTRA_BODY_MAX_KEYS, description=EXTRA_BODY_HELP, json_schema_extra=EXTRA_BODY_SCHEMA
    )


class LLMModelOut(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 4,
                    **MODEL_EXAMPLE,
                    "is_active": True,
                    "fallback_id": None,
                    "cached_input_usd_per_mtok": "0.075",
                    "cache_write_usd_per_mtok": None,
                    "price_source": "catalog 0.2.3",
                    "price_updated_at": "2026-03-01T09:30:00Z",
                    "token_limit_param": "max_tokens",
                    "send_temperature": True,
                    "include_usage": True,
                    "extra_body": {},
                }
            ]
        }
    )

    id: int
    provider_id: int
    name: str
    label: str
    input_usd_per_mtok: Money
    output_usd_per_mtok: Money
    is_active: bool
    fallback_id: int | None
    # --- Billing and request options ---
    cached_input_usd_per_mtok: Money | None
    cache_write_usd_per_mtok: Money | None
    price_source: str = Field(description="'catalog <package version>' or 'manual'")
    price_updated_at: datetime | None = Field(description="when the prices were last set")
    token_limit_param: TokenLimitParam
    send_temperature: bool
    include_usage: bool
    extra_body: dict[str, Any]


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
