"""Bearer-token authentication and WebSocket origin checks, as one ASGI wrapper.

Probes (``/healthz``, ``/readyz``) stay open so a supervisor needs no secret. WebSockets may carry the
token in the upgrade's ``Authorization`` header or, for browsers that cannot set headers, in the
``connect`` frame: the WS handler finishes that check. A foreign ``Origin`` is refused at the upgrade
(accepted, then closed with 4003, as a wrong header token is with 4001), so a web page the user happens
to visit cannot drive their assistant.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from nexus.common.secret import Secret

OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def token_matches(expected: Secret, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(expected.reveal().encode(), presented.encode())


def bearer_from_headers(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return None


def origin_of(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            return value.decode("latin-1")
    return None


def no_open_paths() -> frozenset[str]:
    return frozenset()


class TokenAuthMiddleware:
    """``extra_open`` returns more paths served without the token: channel webhooks, which the
    platform calls without our secret and which the channel authenticates itself."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: Secret,
        allowed_origins: frozenset[str],
        extra_open: Callable[[], frozenset[str]] = no_open_paths,
        open_paths: frozenset[str] = OPEN_PATHS,
    ) -> None:
        self.app = app
        self.open_paths = open_paths
        """The probes, plus ``/metrics`` when ``[gateway] metrics_public`` is set."""
        self.token = token
        self.allowed_origins = allowed_origins
        self.extra_open = extra_open

    def is_open(self, path: str) -> bool:
        return path in self.open_paths or (path.startswith("/channels/") and path in self.extra_open())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.is_open(scope["path"]):
            if not token_matches(self.token, bearer_from_headers(scope)):
                await _deny(
                    send,
                    401,
                    "unauthorized",
                    "missing or wrong gateway token: send "
                    "'Authorization: Bearer <token>' (the token is printed by `nexus token`)",
                )
                return
        elif scope["type"] == "websocket":
            origin = origin_of(scope)
            if origin is not None and origin not in self.allowed_origins:
                await refuse_websocket(receive, send, 4003, "origin not allowed")
                return
            presented = bearer_from_headers(scope)
            if presented is not None and not token_matches(self.token, presented):
                await refuse_websocket(receive, send, 4001, "wrong gateway token (see `nexus token`)")
                return
            scope = {**scope, "state": {**scope.get("state", {}), "authenticated": presented is not None}}
        await self.app(scope, receive, send)


async def refuse_websocket(receive: Receive, send: Send, code: int, reason: str) -> None:
    """Accept, then close with ``code``: a close before accept would reach the client as a bare HTTP
    403, and the documented close codes (4003 origin, 4001 token) could never be seen."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def _deny(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
        }
    )
    await send({"type": "http.response.body", "body": body})
