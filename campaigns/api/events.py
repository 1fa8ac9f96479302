"""``GET /campaigns/{id}/events``: the campaign's live events as Server-Sent Events."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Header

from campaigns.api.auth import READ
from campaigns.api.common import ApiRouter, aget_or_404, responses, user_of
from campaigns.schemas import ObjectId
from campaigns.services.events import KEEPALIVE_SECONDS, campaign_event_stream
from campaigns.services.selectors import campaigns_visible_to

__all__ = ["router"]

router = ApiRouter(auth=READ)

EVENTS_HELP = """\
A `text/event-stream` of the campaign's events, the same as the websocket's:
`campaign.progress`, `generation.started`, `generation.delta` (`{id, offset, text}`),
`generation.rewrite` (`{id, rewrite, check_failures}`: the cell failed its checks and is written
again, its text starts afresh), `generation.finished` (the whole result, with `checks_passed` and
`check_failures`), `provider.status` and `campaign.finished`,
after which the stream ends. Each message is `event: <type>` and `data: <the event as JSON>`.

It opens with the state in the database: `campaign.progress`, then `generation.finished`
for every finished generation, then `generation.started` for the running ones.
`generation.finished` messages carry an `id:`; reconnect with `Last-Event-ID: <the last id
you saw>` (EventSource does this by itself) to get only what finished after it.
A `: keepalive` comment is sent when nothing happened for 15 seconds.
"""
STREAM_RESPONSE = {
    200: {
        "description": "An endless (until campaign.finished) Server-Sent Events stream.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/campaigns/{campaign_id}/events",
    response=responses(200, None, 404),
    tags=["campaigns", "events"],
    description=EVENTS_HELP,
    openapi_extra={"responses": STREAM_RESPONSE},
)
async def campaign_events(
    request: HttpRequest,
    campaign_id: ObjectId,
    last_event_id: str | None = Header(None, alias="Last-Event-ID", max_length=100),
) -> StreamingHttpResponse:
    campaign = await aget_or_404(campaigns_visible_to(user_of(request)), campaign_id, "campaign")
    keepalive = float(getattr(settings, "COPYGEN_SSE_KEEPALIVE_SECONDS", KEEPALIVE_SECONDS))
    stream = campaign_event_stream(campaign_id=campaign.id, last_event_id=last_event_id, keepalive=keepalive)
    response = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
