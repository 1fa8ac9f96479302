"""Who is calling and what they may do.

``Authorization: Bearer <token>`` (an API token with scopes) or the Django session of
the browser UI (CSRF-checked, every scope). GET needs ``read``; writes to the catalog and
to campaigns need ``write``; launch and cancel need ``launch``; providers and models need
``admin`` and a staff user; API tokens need ``admin``. ``admin`` implies every other scope.
Each token may make ``rate_limit_per_minute`` requests a minute (429 with ``Retry-After`` over it).
Both classes are async and set ``request.user`` to the caller.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, SessionAuth

from campaigns.api.ratelimit import token_rate_limit
from campaigns.models import ApiToken
from campaigns.services.errors import PermissionDenied
from campaigns.services.tokens import token_authenticate

__all__ = ["ADMIN", "LAUNCH", "READ", "STAFF_ADMIN", "WRITE", "BearerToken", "Session", "is_staff_admin", "scoped"]

ADMIN_SCOPE = ApiToken.Scope.ADMIN.value


def _require_scope(scopes: list[str], needed: str) -> None:
    if needed not in scopes and ADMIN_SCOPE not in scopes:
        raise PermissionDenied(f"this API token lacks the '{needed}' scope")


def _require_staff(user: Any) -> None:
    if not user.is_staff:
        raise PermissionDenied("only staff users may manage providers, models and quotas")


class BearerToken(HttpBearer):
    """``Authorization: Bearer cgk_…``; the token must hold the operation's scope."""

    def __init__(self, scope: str, *, staff: bool = False) -> None:
        super().__init__()
        self.scope = scope
        self.staff = staff

    async def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        api_token = await sync_to_async(token_authenticate)(token)
        if api_token is None:
            raise AuthenticationError(message="invalid, expired or revoked API token")
        request.user = api_token.user
        await token_rate_limit(api_token)
        _require_scope(api_token.scopes, self.scope)
        if self.staff:
            _require_staff(api_token.user)
        return api_token


class Session(SessionAuth):
    """The browser's Django session (CSRF-checked); a session user holds every scope."""

    def __init__(self, *, staff: bool = False) -> None:
        super().__init__()
        self.staff = staff

    def _get_key(self, request: HttpRequest) -> str | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None  # no session at all: "authentication required", not a CSRF failure
        return super()._get_key(request)

    async def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if key is None:
            return None
        user = await request.auser()
        if not user.is_authenticated:
            return None
        request.user = user
        if self.staff:
            _require_staff(user)
        return user


def is_staff_admin(request: HttpRequest) -> bool:
    """Whether the caller may manage providers: a staff user, by session or with an ``admin`` token."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return ADMIN_SCOPE in auth.scopes and auth.user.is_staff
    return bool(getattr(request.user, "is_staff", False))


def scoped(scope: str, *, staff: bool = False) -> list[Any]:
    """The auth of an operation that needs ``scope`` (and a staff user if ``staff``)."""
    return [BearerToken(scope, staff=staff), Session(staff=staff)]


READ = scoped(ApiToken.Scope.READ)
WRITE = scoped(ApiToken.Scope.WRITE)
LAUNCH = scoped(ApiToken.Scope.LAUNCH)
ADMIN = scoped(ApiToken.Scope.ADMIN)
STAFF_ADMIN = scoped(ApiToken.Scope.ADMIN, staff=True)
