"""The REST API (django-ninja): ``/api/v1/``, OpenAPI at ``/api/v1/openapi.json``, docs at ``/api/v1/docs``."""

from __future__ import annotations

from ninja import NinjaAPI

from campaigns.api import install as install_campaigns

DESCRIPTION = """\
Generate marketing copy with LLMs at scale: catalog, templates, campaigns, results.

**Authentication**: `Authorization: Bearer <token>` with an API token
(`manage.py create_api_token USERNAME --scope read --scope write`), or the browser session.
GET needs the `read` scope; creating, changing and deleting products, templates and campaigns
needs `write`; launching and cancelling needs `launch`; registering providers and models needs
`admin` and a staff user. `admin` implies every other scope.

**Errors** are always `{"detail": "...", "field": "..."}`; `field` names the input at fault when
there is one. **Money** is a decimal string (`"0.000123"`) in and out.
"""

api = NinjaAPI(
    title="copygen API",
    version="1.0.0",
    urls_namespace="api-v1",
    description=DESCRIPTION,
)
install_campaigns(api)
