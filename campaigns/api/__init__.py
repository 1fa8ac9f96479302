"""The REST API's router: catalog, providers and models, campaigns, generations, events, tokens, quotas, usage.

Handlers are async and thin: ninja validates the input against :mod:`campaigns.schemas`,
the auth classes of :mod:`campaigns.api.auth` authenticate and authorize, a service (or
one async ORM call) does the work, and the handlers of :mod:`campaigns.api.errors` turn
every error into ``{"detail": "...", "field": "..."}``. Every POST honours
``Idempotency-Key`` (:mod:`campaigns.api.idempotency`).
"""

from __future__ import annotations

from ninja import NinjaAPI, Router

from campaigns.api import campaigns, catalog, events, quotas, registry, review, tokens, usage
from campaigns.api.auth import READ
from campaigns.api.errors import install_error_handlers

__all__ = ["install", "router"]

router = Router(auth=READ)
for module in (catalog, registry, campaigns, review, events, tokens, quotas, usage):
    router.add_router("/", module.router)


def install(api: NinjaAPI) -> None:
    """Add the router at ``/`` and translate every error into ``{"detail", "field"}``."""
    api.add_router("/", router)
    install_error_handlers(api)
