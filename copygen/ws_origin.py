"""The Origin check of websocket handshakes: scheme, host and port, like the browser's own rule.

A browser sends the session cookie with a websocket handshake whatever page opened it, and
says which page did in ``Origin``; a page of another origin must not act as the signed-in
user (cross-site websocket hijacking). Accepted:

- the handshake's own origin: the scheme of the connection (``wss`` is https; so is a request
  that ``SECURE_PROXY_SSL_HEADER`` marks as secure), the host of the ``Host`` header (which
  must be in ``ALLOWED_HOSTS``) and its port (the scheme's default when none is given);
- an origin listed in ``COPYGEN_ALLOWED_ORIGINS`` (``scheme://host[:port]``, matched exactly,
  default ports filled in: ``https://app.example.com`` is ``https://app.example.com:443``).

A handshake without ``Origin`` comes from a client that is not a browser: it is accepted
only with ``Authorization: Bearer`` (which a browser cannot set on a websocket, and which is
no ambient credential); without a token, it is refused. ``Origin: null`` is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

__all__ = ["SameOriginValidator", "allowed_origins", "origin_parse"]

Origin = tuple[str, str, int]
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_parse(value: str) -> Origin | None:
    """``(scheme, host, port)`` of an origin such as ``https://app.example.com:8443``; None if it is not one."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if (
        scheme not in DEFAULT_PORTS
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def allowed_origins() -> set[Origin]:
    """The origins of ``COPYGEN_ALLOWED_ORIGINS``; a malformed entry is a configuration error."""
    origins = set()
    for entry in settings.COPYGEN_ALLOWED_ORIGINS:
        origin = origin_parse(entry)
        if origin is None:
            raise ImproperlyConfigured(
                f"COPYGEN_ALLOWED_ORIGINS: {entry!r} is not an origin such as https://app.example.com:8443"
            )
        origins.add(origin)
    return origins


def _headers(scope: dict[str, Any]) -> dict[bytes, list[str]]:
    headers: dict[bytes, list[str]] = {}
    for name, value in scope.get("headers") or []:
        headers.setdefault(name.lower(), []).append(value.decode("latin-1"))
    return headers


def _secure(scope: dict[str, Any], headers: dict[bytes, list[str]]) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, secure_value = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        sent = headers.get(header, [])
        return len(sent) == 1 and sent[0].split(",", 1)[0].strip() == secure_value
    return False


def own_origin(scope: dict[str, Any], headers: dict[bytes, list[str]]) -> Origin | None:
    """The origin of the handshake itself, from its scheme and ``Host`` header (None: no allowed host)."""
    hosts = headers.get(b"host", [])
    if len(hosts) != 1:
        return None
    domain, port = split_domain_port(hosts[0])
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if _secure(scope, headers) else "http"
    return scheme, domain.strip("[]"), int(port) if port else DEFAULT_PORTS[scheme]


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = _headers(scope)
    origins = headers.get(b"origin", [])
    if not origins:
        auth = headers.get(b"authorization", [])
        return len(auth) == 1 and auth[0].lower().startswith("bearer ")
    if len(origins) != 1:
        return False
    origin = origin_parse(origins[0])
    if origin is None:
        return False
    return origin == own_origin(scope, headers) or origin in allowed_origins()


class SameOriginValidator:
    """Refuses a websocket handshake whose ``Origin`` is neither its own nor listed (see the module)."""

    def __init__(self, application: Any) -> None:
        self.application = application
        allowed_origins()  # a malformed setting stops the server at start, not at a handshake

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator guards websocket connections only")
        if not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
