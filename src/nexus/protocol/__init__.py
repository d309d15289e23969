"""Wire types shared by the gateway and its clients: WebSocket frames (:mod:`frames`) and the one
event vocabulary (:mod:`events`) every producer and consumer of events speaks.

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
