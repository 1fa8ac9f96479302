"""API tokens: ``cgk_<prefix>_<secret>``, stored as a SHA-256 hash, shown once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from campaigns.models import ApiToken
from campaigns.services.errors import InvalidInput

__all__ = ["TOKEN_PREFIX", "token_authenticate", "token_create", "token_hash"]

TOKEN_PREFIX = "cgk_"
SCOPES = {choice.value for choice in ApiToken.Scope}


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(
    *,
    user: AbstractBaseUser,
    scopes: Sequence[str],
    name: str = "",
    expires_at: datetime | None = None,
    rate_limit_per_minute: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; return it and the raw secret, which is never stored."""
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise InvalidInput("scopes", f"scopes: unknown scope {', '.join(unknown)}" if unknown else "scopes: name one")
    rate_limit_check(user, rate_limit_per_minute)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        token_hash=token_hash(raw),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        rate_limit_per_minute=rate_limit_per_minute or ApiToken.DEFAULT_RATE_LIMIT,
    )
    return token, raw


def rate_limit_check(user: AbstractBaseUser, per_minute: int | None) -> None:
    """Anyone may lower their token's rate limit; raising it above the default is for staff."""
    if per_minute is None:
        return
    if not 1 <= per_minute <= ApiToken.MAX_RATE_LIMIT:
        raise InvalidInput(
            "rate_limit_per_minute", f"rate_limit_per_minute: must be between 1 and {ApiToken.MAX_RATE_LIMIT}"
        )
    if per_minute > ApiToken.DEFAULT_RATE_LIMIT and not getattr(user, "is_staff", False):
        raise InvalidInput(
            "rate_limit_per_minute",
            f"rate_limit_per_minute: above {ApiToken.DEFAULT_RATE_LIMIT} needs a staff user",
        )


def token_authenticate(raw: str) -> ApiToken | None:
    """The live token for ``raw``, or None (unknown, revoked, expired or inactive user)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    prefix = raw[len(TOKEN_PREFIX) :].split("_", 1)[0]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.token_hash, token_hash(raw)):
        return None
    now = timezone.now()
    if token.revoked_at or (token.expires_at and token.expires_at <= now) or not token.user.is_active:
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
    return token
