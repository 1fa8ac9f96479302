"""The REST API (django-ninja): ``/api/v1/``, OpenAPI at ``/api/v1/openapi.json``, docs at ``/api/v1/docs``."""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.operation import Operation

from campaigns.api import install as install_campaigns

DESCRIPTION = """\
Generate marketing copy with LLMs at scale: catalog, templates, campaigns, live events, review, export.

**Authentication**: `Authorization: Bearer <token>` with an API token (create one with
`POST /tokens`, or `manage.py create_api_token USERNAME --scope read --scope write`), or the
browser session. GET needs the `read` scope; creating, changing and deleting products,
templates and campaigns, and reviewing generations, needs `write`; launching and cancelling
needs `launch`; registering providers and models and managing quotas needs `admin` and a staff user;
managing API tokens needs `admin`. `admin` implies every other scope.

**Rate limit**: each token may make `rate_limit_per_minute` requests a minute (600 by
default); over it the API answers 429 with `Retry-After` (seconds).

**Teams**: a campaign with a `team_id` is shared with that team's members.

**Errors** are always `{"detail": "...", "field": "..."}`; `field` names the input at fault
when there is one. Other users' campaigns and generations answer 404.

**Lists** take `limit` (1-1000, default 100) and `offset`, filters and `ordering`, and
answer `{"items": [...], "count": N}` (`count` matches the filters).

**Retries**: send `Idempotency-Key: <unique string>` with any POST; the first response is
stored (24 h) and replayed for the same key and body, even when several arrive at once.

**Live events**: `GET /campaigns/{id}/events` is a Server-Sent Events stream, resumable
with `Last-Event-ID`.

**Money** is a decimal string (`"0.000123"`) in and out.
"""


class CopygenAPI(NinjaAPI):
    """Operation ids are the handlers' names (``product_list``, ``campaign_launch``…), for generated clients."""

    def get_openapi_operation_id(self, operation: Operation) -> str:
        return operation.view_func.__name__.removesuffix("_view")


api = CopygenAPI(
    title="copygen API",
    version="1.1.0",
    urls_namespace="api-v1",
    description=DESCRIPTION,
)
install_campaigns(api)
