"""The websocket Origin check: scheme, host and port of the page, or an origin listed in the settings."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ImproperlyConfigured

from copygen.asgi import application
from copygen.ws_origin import allowed_origins, origin_parse
from tests.test_consumers import session_cookie, small_campaign

HOST = b"127.0.0.1:8000"


async def handshake(campaign_id: int, headers: list[tuple[bytes, bytes]], *, scheme: str = "ws") -> bool:
    """Whether the handshake is accepted (then the campaign's snapshot arrives)."""
    ws = WebsocketCommunicator(application, f"/ws/campaigns/{campaign_id}/", headers=headers)
    ws.scope["scheme"] = scheme  # the connection's own scheme, as the server reports it
    connected, _ = await ws.connect(timeout=5)
    if connected:
        assert (await ws.receive_json_from(timeout=5))["type"] == "campaign.snapshot"
        await ws.disconnect()
    return connected


@pytest.fixture
def campaign_and_cookie(catalog: Any, user: Any, transactional_db: Any) -> tuple[int, tuple[bytes, bytes]]:
    return small_campaign(catalog, user).id, session_cookie(user)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("host", "origin", "scheme", "accepted"),
    [
        (HOST, b"http://127.0.0.1:8000", "ws", True),  # the page's own origin
        (b"localhost:8000", b"http://LOCALHOST:8000", "ws", True),  # hosts compare in any case
        (b"localhost", b"http://localhost:80", "ws", True),  # default ports filled in
        (b"127.0.0.1:8000", b"http://127.0.0.1:1", "ws", False),  # another port
        (b"localhost:8000", b"http://localhost:1", "ws", False),
        (b"localhost:8000", b"http://localhost", "ws", False),  # port 80 is another port
        (HOST, b"https://127.0.0.1:8000", "ws", False),  # another scheme
        (HOST, b"http://127.0.0.1:8000", "wss", False),  # a page over http, a socket over TLS
        (HOST, b"https://127.0.0.1:8000", "wss", True),
        (HOST, b"http://localhost:8000", "ws", False),  # another host, even an allowed one
        (b"evil.example.com", b"http://evil.example.com", "ws", False),  # a host not in ALLOWED_HOSTS
        (HOST, b"null", "ws", False),
        (HOST, b"http://user@127.0.0.1:8000", "ws", False),
        (HOST, b"ftp://127.0.0.1:8000", "ws", False),
    ],
)
async def test_the_pages_own_origin_only(campaign_and_cookie, host, origin, scheme, accepted) -> None:
    campaign_id, cookie = campaign_and_cookie
    assert await handshake(campaign_id, [(b"host", host), (b"origin", origin), cookie], scheme=scheme) is accepted


@pytest.mark.django_db(transaction=True)
async def test_a_listed_origin_is_accepted_with_its_exact_scheme_and_port(campaign_and_cookie, settings) -> None:
    settings.COPYGEN_ALLOWED_ORIGINS = ["https://studio.example.com", "http://127.0.0.1:3000/"]
    campaign_id, cookie = campaign_and_cookie
    for origin, accepted in [
        (b"https://studio.example.com", True),
        (b"https://studio.example.com:443", True),
        (b"http://127.0.0.1:3000", True),
        (b"https://studio.example.com:8443", False),
        (b"http://studio.example.com", False),
        (b"https://sub.studio.example.com", False),
        (b"http://127.0.0.1:3001", False),
    ]:
        headers = [(b"host", HOST), (b"origin", origin), cookie]
        assert await handshake(campaign_id, headers) is accepted, origin


@pytest.mark.django_db(transaction=True)
async def test_behind_a_tls_proxy_the_forwarded_scheme_counts(campaign_and_cookie, settings) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    campaign_id, cookie = campaign_and_cookie
    forwarded = (b"x-forwarded-proto", b"https")
    assert await handshake(campaign_id, [(b"host", HOST), (b"origin", b"https://127.0.0.1:8000"), forwarded, cookie])
    assert not await handshake(campaign_id, [(b"host", HOST), (b"origin", b"https://127.0.0.1:8000"), cookie])


@pytest.mark.django_db(transaction=True)
async def test_without_origin_only_a_bearer_token_connects(campaign_and_cookie, user, make_token) -> None:
    """No Origin: not a browser. A cookie alone is refused; a token (never sent by a browser on its own) is accepted."""
    campaign_id, cookie = campaign_and_cookie
    raw = await sync_to_async(make_token)(user, "read")
    assert not await handshake(campaign_id, [(b"host", HOST), cookie])
    assert await handshake(campaign_id, [(b"host", HOST), (b"authorization", f"Bearer {raw}".encode())])
    # With an Origin, a token does not excuse a foreign page.
    foreign = [(b"host", HOST), (b"origin", b"http://127.0.0.1:1"), (b"authorization", f"Bearer {raw}".encode())]
    assert not await handshake(campaign_id, foreign)


def test_origins_parse_to_scheme_host_and_port(settings) -> None:
    assert origin_parse("https://App.Example.com") == ("https", "app.example.com", 443)
    assert origin_parse("http://[::1]:8000") == ("http", "::1", 8000)
    for bad in ["null", "", "ftp://x", "https://x/path", "https://x?q=1", "https://u:p@x", "http://x:99999", "x:80"]:
        assert origin_parse(bad) is None, bad
    settings.COPYGEN_ALLOWED_ORIGINS = ["https://ok.example.com", "ok.example.com"]
    with pytest.raises(ImproperlyConfigured, match="COPYGEN_ALLOWED_ORIGINS: 'ok.example.com'"):
        allowed_origins()
