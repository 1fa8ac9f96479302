"""ASGI entry point: HTTP through Django, websockets through Channels.

With ``COPYGEN_ENGINE=inline`` (the default) the generation engine runs as a task of
this server's event loop, started with the first connection the server accepts.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "copygen.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.checks import run_checks  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from campaigns.routing import websocket_urlpatterns  # noqa: E402
from campaigns.services import runner  # noqa: E402
from copygen.ws_auth import TokenOrSessionAuthMiddleware  # noqa: E402
from copygen.ws_origin import SameOriginValidator  # noqa: E402

# Refuse to start with secrets no configured key can decrypt (never serve an empty key).
# The test suite imports this module without a database and checks this separately.
if os.environ.get("COPYGEN_SKIP_START_CHECKS") != "1":
    _errors = [e for e in run_checks(tags=["database"], databases=["default"]) if e.is_serious()]
    if _errors:
        raise ImproperlyConfigured("; ".join(f"{e.id}: {e.msg}" for e in _errors))


class InlineEngineMiddleware:
    """Starts the in-process engine on the server's loop; handles ASGI lifespan if sent."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if settings.COPYGEN_ENGINE == "inline":
            runner.start_inline()
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await runner.stop_inline()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.app(scope, receive, send)


http_app: Any = ASGIStaticFilesHandler(django_asgi_app) if settings.COPYGEN_SERVE_STATIC else django_asgi_app

application = InlineEngineMiddleware(
    ProtocolTypeRouter(
        {
            "http": http_app,
            "websocket": SameOriginValidator(TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))),
        }
    )
)
