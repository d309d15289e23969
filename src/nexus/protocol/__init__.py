"""Wire types shared by the gateway and its clients (HTTP bodies and WebSocket frames).

See docs/protocol.md for the protocol itself.
"""

from nexus.protocol.frames import (
    PROTOCOL_VERSION,
    ErrorBody,
    EventFrame,
    RequestFrame,
    ResponseFrame,
    parse_frame,
)

__all__ = [
    "PROTOCOL_VERSION",
    "ErrorBody",
    "EventFrame",
    "RequestFrame",
    "ResponseFrame",
    "parse_frame",
]
