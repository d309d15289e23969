"""What can go wrong talking to the gateway, as a small tree; foreign errors are translated once,
in :mod:`nexus.client.connection` and :mod:`nexus.client.http`, and chained with ``from``.

    ClientError
    ├── GatewayNotRunning   nothing listens on the port: start it with `nexus up`
    ├── ConnectionLost      an open connection dropped (the gateway restarts or crashed): reconnect
    ├── Unauthorized        missing or wrong gateway token: `nexus token`
    ├── ProtocolMismatch    the gateway speaks another protocol version: upgrade the client
    └── RequestFailed       the gateway refused one request (``code``: bad_request, not_found, ...)

Every message names the problem and the fix, and never contains the token.
"""

from __future__ import annotations

from nexus.errors import NexusError


class ClientError(NexusError):
    """Base of every error the gateway client raises."""


class GatewayNotRunning(ClientError):
    """Connection refused: no gateway listens at the address."""

    def __init__(self, address: str) -> None:
        super().__init__(f"the gateway is not running at {address}: start it with `nexus up`")
        self.address = address


class ConnectionLost(ClientError):
    """The connection closed or timed out after it was open; a reconnect may succeed."""


class Unauthorized(ClientError):
    """The gateway refused the token (or there is none)."""


class ProtocolMismatch(ClientError):
    """Client and gateway speak different protocol versions; retrying cannot help."""


class RequestFailed(ClientError):
    """The gateway answered a request with an error frame or an error body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
