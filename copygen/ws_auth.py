"""Websocket authentication: the session cookie, or an API token in the Authorization header."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async

from campaigns.services.tokens import token_authenticate

__all__ = ["TokenOrSessionAuthMiddleware"]


@database_sync_to_async
def _token_user(raw: str) -> Any:
    token = token_authenticate(raw)
    return (token.user, token) if token else (None, None)


class _BearerTokenMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            user, token = await _token_user(auth[7:].strip())
            if user is not None:
                scope = {**scope, "user": user, "api_token": token}
        return await self.app(scope, receive, send)


def TokenOrSessionAuthMiddleware(app: Any) -> Any:  # noqa: N802 - a middleware stack, like Channels'
    return AuthMiddlewareStack(_BearerTokenMiddleware(app))
