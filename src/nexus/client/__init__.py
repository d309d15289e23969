"""The typed gateway client: what the terminal UI, the CLI and scripts use to talk to the gateway.

    Endpoint        where the gateway is, and its token
    Connection      one WebSocket: handshake, requests by id, events with seq-gap detection
    GatewayHTTP     the HTTP routes
    ChatEngine      a chat session that reconnects, resyncs, never sends twice, never waits forever
    ChatState       what the engine knows (pure transitions in ``nexus.client.state``)
    Backoff, Deadlines   the pure policies behind reconnects and waits

Errors: see :mod:`nexus.client.errors`.
"""

from nexus.client.backoff import Backoff
from nexus.client.chat import ChatEngine
from nexus.client.connection import Connection, GatewayEvent, SeqGap
from nexus.client.deadlines import Action, Deadlines
from nexus.client.endpoint import Endpoint
from nexus.client.errors import (
    ClientError,
    ConnectionLost,
    GatewayNotRunning,
    ProtocolMismatch,
    RequestFailed,
    Unauthorized,
)
from nexus.client.http import GatewayHTTP
from nexus.client.state import ChatState, Cooling, Link, Phase, RunView

__all__ = [
    "Action",
    "Backoff",
    "ChatEngine",
    "ChatState",
    "ClientError",
    "Connection",
    "ConnectionLost",
    "Cooling",
    "Deadlines",
    "Endpoint",
    "GatewayEvent",
    "GatewayHTTP",
    "GatewayNotRunning",
    "Link",
    "Phase",
    "ProtocolMismatch",
    "RequestFailed",
    "RunView",
    "SeqGap",
    "Unauthorized",
]
