"""API tokens: listed without their secret, which is shown once, at creation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from ninja import Schema
from pydantic import ConfigDict, Field, WithJsonSchema, field_validator

from campaigns.models import ApiToken
from campaigns.schemas.common import In

__all__ = ["TokenCreatedOut", "TokenIn", "TokenOut", "TokenPatch"]

Scope = Annotated[ApiToken.Scope, WithJsonSchema({"type": "string", "enum": ApiToken.Scope.values})]
MAX_LIFETIME = timedelta(days=3650)
RateLimit = Annotated[
    int,
    Field(
        ge=1,
        le=ApiToken.MAX_RATE_LIMIT,
        description=f"API requests per minute (default {ApiToken.DEFAULT_RATE_LIMIT}); "
        f"above {ApiToken.DEFAULT_RATE_LIMIT} only for staff users",
    ),
]


class TokenIn(In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "shop sync", "scopes": ["read", "write"], "expires_at": None}]}
    )

    name: str = Field("", max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=4, description="read, write, launch, admin")
    expires_at: datetime | None = Field(None, description="in the future, at most ten years away; null: never")
    rate_limit_per_minute: RateLimit | None = None

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            at = aware.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("expires_at is out of range") from None
        now = datetime.now(UTC)
        if at <= now:
            raise ValueError("expires_at must be in the future")
        if at > now + MAX_LIFETIME:
            raise ValueError("expires_at must be at most ten years away")
        return at


class TokenPatch(In):
    """Rename a token or change its rate limit (scopes and expiry are fixed: make a new one)."""

    name: str | None = Field(None, max_length=100)
    rate_limit_per_minute: RateLimit | None = None


TOKEN_EXAMPLE = {
    "id": 12,
    "name": "shop sync",
    "prefix": "9f2c41ab",
    "scopes": ["read", "write"],
    "created_at": "2026-03-01T09:30:00Z",
    "last_used_at": None,
    "expires_at": None,
    "revoked_at": None,
    "rate_limit_per_minute": 600,
}


class TokenOut(Schema):
    """An API token without its secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [TOKEN_EXAMPLE]})

    id: int
    name: str
    prefix: str = Field(description="the public start of the token: cgk_<prefix>_…")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    rate_limit_per_minute: int = Field(description="requests per minute; over it the API answers 429")


class TokenCreatedOut(TokenOut):
    """A new token, with its secret: the only time it is shown."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**TOKEN_EXAMPLE, "token": "cgk_9f2c41ab_…"}]})

    token: str = Field(description="the secret; shown this once, store it now")
